"""SQL of the RingCentral area: extensions, OAuth tokens, subscriptions, webhook token hashes and
the extension directory."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.sql import claiming, insert_ignoring, is_postgres, keys_in
from service.db.tables import (
    call_log_sync,
    directory_entries,
    extensions,
    oauth_tokens,
    raw_events,
    webhook_subscriptions,
    webhook_tokens,
)


@dataclass(frozen=True, slots=True)
class ExtensionRow:
    extension_id: str
    account_id: str | None
    name: str | None
    mode: str
    credential: bytes
    status: str
    status_reason: str | None


@dataclass(frozen=True, slots=True)
class TokenRow:
    access_token: bytes | None
    access_expires_at: datetime | None
    refresh_token: bytes | None
    refresh_expires_at: datetime | None
    generation: int


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    extension_id: str
    mode: str
    subscription_id: str | None
    status: str | None
    expires_at: datetime | None
    webhook_url: str | None
    last_checked_at: datetime | None
    renew_requested: bool
    failures: int


# Extensions -------------------------------------------------------------------------------


async def insert_extension(connection: AsyncConnection, row: dict[str, Any]) -> None:
    await connection.execute(insert(extensions), row)


async def update_extension(connection: AsyncConnection, extension_id: str, **values: Any) -> None:
    await connection.execute(
        update(extensions).where(extensions.c.extension_id == extension_id).values(**values)
    )


async def get_extension(connection: AsyncConnection, extension_id: str) -> ExtensionRow | None:
    row = (
        await connection.execute(
            select(
                extensions.c.extension_id,
                extensions.c.account_id,
                extensions.c.name,
                extensions.c.mode,
                extensions.c.credential,
                extensions.c.status,
                extensions.c.status_reason,
            ).where(extensions.c.extension_id == extension_id)
        )
    ).first()
    return ExtensionRow(*row) if row else None


@dataclass(frozen=True, slots=True)
class ExtensionHealth:
    extension_id: str
    account_id: str | None
    name: str | None
    mode: str
    status: str
    status_reason: str | None
    last_event_at: datetime | None
    access_expires_at: datetime | None
    refresh_expires_at: datetime | None
    refreshed_at: datetime | None
    subscription_id: str | None
    subscription_status: str | None
    expires_at: datetime | None
    last_renewed_at: datetime | None
    last_checked_at: datetime | None
    last_error: str | None
    next_due_at: datetime | None


async def extension_overview(connection: AsyncConnection) -> list[ExtensionHealth]:
    """Every extension with its token and subscription health (no secrets)."""
    statement = (
        select(
            extensions.c.extension_id,
            extensions.c.account_id,
            extensions.c.name,
            extensions.c.mode,
            extensions.c.status,
            extensions.c.status_reason,
            extensions.c.last_event_at,
            oauth_tokens.c.access_expires_at,
            oauth_tokens.c.refresh_expires_at,
            oauth_tokens.c.refreshed_at,
            webhook_subscriptions.c.subscription_id,
            webhook_subscriptions.c.status.label("subscription_status"),
            webhook_subscriptions.c.expires_at,
            webhook_subscriptions.c.last_renewed_at,
            webhook_subscriptions.c.last_checked_at,
            webhook_subscriptions.c.last_error,
            webhook_subscriptions.c.next_due_at,
        )
        .select_from(
            extensions.outerjoin(
                oauth_tokens, oauth_tokens.c.extension_id == extensions.c.extension_id
            ).outerjoin(
                webhook_subscriptions,
                webhook_subscriptions.c.extension_id == extensions.c.extension_id,
            )
        )
        .order_by(extensions.c.extension_id)
    )
    return [ExtensionHealth(**row._mapping) for row in await connection.execute(statement)]


async def delete_extension(connection: AsyncConnection, extension_id: str) -> None:
    """Forget the extension (the call-log records its sync stored stay: they are call data)."""
    for table in (call_log_sync, webhook_tokens, webhook_subscriptions, oauth_tokens, extensions):
        await connection.execute(delete(table).where(table.c.extension_id == extension_id))


async def all_credentials(connection: AsyncConnection) -> list[tuple[str, bytes]]:
    result = await connection.execute(select(extensions.c.extension_id, extensions.c.credential))
    return [(row[0], row[1]) for row in result]


_TOUCH_LAST_EVENT = (
    update(extensions)
    .where(
        extensions.c.extension_id == bindparam("extension"),
        or_(extensions.c.last_event_at.is_(None), extensions.c.last_event_at < bindparam("at")),
    )
    .values(last_event_at=bindparam("at"))
)


async def touch_last_event(connection: AsyncConnection, seen: dict[str, datetime]) -> None:
    """Move each extension's last_event_at forward to the given times: one statement for all,
    in extension order (so concurrent processors lock the rows in the same order)."""
    if seen:
        await connection.execute(
            _TOUCH_LAST_EVENT,
            [{"extension": key, "at": seen[key]} for key in sorted(seen)],
        )


# Tokens -----------------------------------------------------------------------------------


async def lock_token_row(connection: AsyncConnection, extension_id: str) -> TokenRow | None:
    """Read the token row locked until commit: `FOR UPDATE` on PostgreSQL; on SQLite a no-op
    write takes the database's write lock, which other processes then wait for."""
    if not is_postgres(connection):
        await connection.execute(
            update(oauth_tokens)
            .where(oauth_tokens.c.extension_id == extension_id)
            .values(generation=oauth_tokens.c.generation)
        )
    statement = select(
        oauth_tokens.c.access_token,
        oauth_tokens.c.access_expires_at,
        oauth_tokens.c.refresh_token,
        oauth_tokens.c.refresh_expires_at,
        oauth_tokens.c.generation,
    ).where(oauth_tokens.c.extension_id == extension_id)
    if is_postgres(connection):
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).first()
    return TokenRow(*row) if row else None


async def read_token_row(connection: AsyncConnection, extension_id: str) -> TokenRow | None:
    row = (
        await connection.execute(
            select(
                oauth_tokens.c.access_token,
                oauth_tokens.c.access_expires_at,
                oauth_tokens.c.refresh_token,
                oauth_tokens.c.refresh_expires_at,
                oauth_tokens.c.generation,
            ).where(oauth_tokens.c.extension_id == extension_id)
        )
    ).first()
    return TokenRow(*row) if row else None


async def ensure_token_row(connection: AsyncConnection, extension_id: str) -> None:
    await connection.execute(
        insert_ignoring(connection, oauth_tokens, ["extension_id"]).values(
            extension_id=extension_id, generation=0
        )
    )


async def replace_credential(
    connection: AsyncConnection, extension_id: str, credential: bytes
) -> None:
    await connection.execute(
        update(extensions)
        .where(extensions.c.extension_id == extension_id)
        .values(credential=credential)
    )


async def replace_token_secrets(
    connection: AsyncConnection, extension_id: str, access: bytes | None, refresh: bytes | None
) -> None:
    await connection.execute(
        update(oauth_tokens)
        .where(oauth_tokens.c.extension_id == extension_id)
        .values(access_token=access, refresh_token=refresh)
    )


async def save_tokens(connection: AsyncConnection, extension_id: str, **values: Any) -> None:
    await connection.execute(
        update(oauth_tokens)
        .where(oauth_tokens.c.extension_id == extension_id)
        .values(generation=oauth_tokens.c.generation + 1, **values)
    )


async def all_token_secrets(
    connection: AsyncConnection,
) -> list[tuple[str, bytes | None, bytes | None]]:
    result = await connection.execute(
        select(
            oauth_tokens.c.extension_id, oauth_tokens.c.access_token, oauth_tokens.c.refresh_token
        )
    )
    return [(row[0], row[1], row[2]) for row in result]


# Subscriptions ----------------------------------------------------------------------------


async def insert_subscription_row(connection: AsyncConnection, row: dict[str, Any]) -> None:
    await connection.execute(insert(webhook_subscriptions), row)


async def update_subscription(
    connection: AsyncConnection, extension_id: str, **values: Any
) -> None:
    await connection.execute(
        update(webhook_subscriptions)
        .where(webhook_subscriptions.c.extension_id == extension_id)
        .values(**values)
    )


def _subscription_columns() -> Sequence[Any]:
    return (
        webhook_subscriptions.c.extension_id,
        extensions.c.mode,
        webhook_subscriptions.c.subscription_id,
        webhook_subscriptions.c.status,
        webhook_subscriptions.c.expires_at,
        webhook_subscriptions.c.webhook_url,
        webhook_subscriptions.c.last_checked_at,
        webhook_subscriptions.c.renew_requested,
        webhook_subscriptions.c.failures,
    )


async def subscription_of(connection: AsyncConnection, extension_id: str) -> SubscriptionRow | None:
    row = (
        await connection.execute(
            select(*_subscription_columns())
            .join(extensions, extensions.c.extension_id == webhook_subscriptions.c.extension_id)
            .where(webhook_subscriptions.c.extension_id == extension_id)
        )
    ).first()
    return SubscriptionRow(*row) if row else None


async def claim_due(
    connection: AsyncConnection, *, now: datetime, lease_until: datetime, limit: int
) -> list[SubscriptionRow]:
    """Lease extensions whose subscription work is due (others skip what is leased)."""
    statement = (
        select(*_subscription_columns())
        .join(extensions, extensions.c.extension_id == webhook_subscriptions.c.extension_id)
        .where(
            extensions.c.status == "active",
            webhook_subscriptions.c.next_due_at <= now,
            or_(
                webhook_subscriptions.c.lease_until.is_(None),
                webhook_subscriptions.c.lease_until < now,
            ),
        )
        .order_by(webhook_subscriptions.c.next_due_at)
        .limit(limit)
    )
    claimed = claiming(connection, statement, of=webhook_subscriptions)
    rows = [SubscriptionRow(*row) for row in await connection.execute(claimed)]
    if rows:
        await connection.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.extension_id.in_([row.extension_id for row in rows]))
            .values(lease_until=lease_until)
        )
    return rows


async def mark_all_due(connection: AsyncConnection, now: datetime, *, unless_url: str) -> None:
    """Make every subscription whose webhook address differs from `unless_url` due now."""
    await connection.execute(
        update(webhook_subscriptions)
        .where(
            or_(
                webhook_subscriptions.c.webhook_url.is_(None),
                webhook_subscriptions.c.webhook_url != unless_url,
            )
        )
        .values(next_due_at=now)
    )


async def request_renewal(
    connection: AsyncConnection, subscription_ids: Sequence[str], now: datetime
) -> None:
    """Renewal reminders arrived for these subscriptions: renew them at the next pass."""
    if subscription_ids:
        await connection.execute(
            update(webhook_subscriptions)
            .where(webhook_subscriptions.c.subscription_id.in_(list(subscription_ids)))
            .values(renew_requested=True, next_due_at=now)
        )


# Webhook tokens ---------------------------------------------------------------------------


async def insert_webhook_token(connection: AsyncConnection, row: dict[str, Any]) -> None:
    await connection.execute(insert(webhook_tokens), row)


async def bind_pending_token(
    connection: AsyncConnection, extension_id: str, subscription_id: str
) -> None:
    await connection.execute(
        update(webhook_tokens)
        .where(
            webhook_tokens.c.extension_id == extension_id,
            webhook_tokens.c.subscription_id.is_(None),
            webhook_tokens.c.retired_at.is_(None),
        )
        .values(subscription_id=subscription_id)
    )


async def retire_tokens(
    connection: AsyncConnection, extension_id: str, subscription_id: str | None, now: datetime
) -> None:
    statement = update(webhook_tokens).where(
        webhook_tokens.c.extension_id == extension_id, webhook_tokens.c.retired_at.is_(None)
    )
    if subscription_id is not None:
        statement = statement.where(webhook_tokens.c.subscription_id == subscription_id)
    await connection.execute(statement.values(retired_at=now))


async def live_webhook_tokens(
    connection: AsyncConnection, retired_after: datetime
) -> list[tuple[bytes, str | None]]:
    """Token hashes still accepted: live ones, and retired ones within a grace period (for
    notifications already in flight when a subscription was replaced)."""
    result = await connection.execute(
        select(webhook_tokens.c.token_hash, webhook_tokens.c.subscription_id).where(
            or_(webhook_tokens.c.retired_at.is_(None), webhook_tokens.c.retired_at > retired_after)
        )
    )
    return [(bytes(row[0]), row[1]) for row in result]


# Directory --------------------------------------------------------------------------------


async def replace_directory(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    await connection.execute(delete(directory_entries))
    if rows:
        await connection.execute(insert(directory_entries), list(rows))


@dataclass(frozen=True, slots=True)
class DirectoryRow:
    extension_id: str
    kind: str | None
    name: str | None
    extension_number: str | None
    synced_at: datetime


async def directory(connection: AsyncConnection) -> list[DirectoryRow]:
    """The whole extension directory (users, queues, IVR menus, ...), by extension number."""
    entry = directory_entries.c
    result = await connection.execute(
        select(
            entry.extension_id, entry.kind, entry.name, entry.extension_number, entry.synced_at
        ).order_by(entry.extension_number, entry.extension_id)
    )
    return [DirectoryRow(*row) for row in result]


async def directory_synced_at(connection: AsyncConnection) -> datetime | None:
    result = await connection.execute(select(func.max(directory_entries.c.synced_at)))
    value: datetime | None = result.scalar_one()
    return value


async def recent_reminder_subscriptions(
    connection: AsyncConnection, ids: Sequence[int]
) -> list[str]:
    if not ids:
        return []
    result = await connection.execute(
        select(raw_events.c.subscription_id).where(
            raw_events.c.id.in_(list(ids)), raw_events.c.subscription_id.is_not(None)
        )
    )
    return [row[0] for row in result]


async def directory_kinds(
    connection: AsyncConnection, extension_ids: Collection[str]
) -> dict[str, str]:
    """The directory's kind (`User`, `IvrMenu`, ...) of each of these extensions it knows."""
    if not extension_ids:
        return {}
    entry = directory_entries.c
    result = await connection.execute(
        select(entry.extension_id, entry.kind).where(
            keys_in(connection, entry.extension_id, extension_ids), entry.kind.is_not(None)
        )
    )
    return {row.extension_id: row.kind for row in result}
