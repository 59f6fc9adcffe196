"""SQL of the call-log area: stored records and their versions, records for the processor, and
each credential's sync state and lease."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, and_, bindparam, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.sql import insert_ignoring, insert_on_conflict, is_postgres, keys_in
from service.db.tables import (
    call_log_pending,
    call_log_record_versions,
    call_log_records,
    call_log_sync,
    call_outcomes,
    extensions,
)


@dataclass(frozen=True, slots=True)
class StoredDigest:
    digest: str
    last_modified_time: datetime | None


@dataclass(frozen=True, slots=True)
class ClaimedRecord:
    record_id: str
    telephony_session_id: str | None
    session_id: str | None
    session_key: str
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class RecordRow:
    record_id: str
    telephony_session_id: str | None
    session_id: str | None
    session_key: str
    payload: str


@dataclass(frozen=True, slots=True)
class SyncRow:
    extension_id: str
    mode: str
    synced_through: datetime | None
    failures: int


@dataclass(frozen=True, slots=True)
class SyncOverview:
    extension_id: str
    synced_through: datetime | None
    last_synced_at: datetime | None
    last_attempt_at: datetime | None
    next_due_at: datetime | None
    failures: int
    last_error: str | None
    records_stored: int


# --- records -----------------------------------------------------------------------------------


async def stored_digests(
    connection: AsyncConnection, record_ids: Collection[str]
) -> dict[str, StoredDigest]:
    if not record_ids:
        return {}
    result = await connection.execute(
        select(
            call_log_records.c.record_id,
            call_log_records.c.digest,
            call_log_records.c.last_modified_time,
        ).where(keys_in(connection, call_log_records.c.record_id, record_ids))
    )
    return {row[0]: StoredDigest(row[1], row[2]) for row in result}


def _records_upsert(connection: AsyncConnection) -> Insert:
    """Insert a record, or replace the stored one when the content changed and the incoming
    version is not older (by `lastModifiedTime`)."""
    statement = insert_on_conflict(connection, call_log_records)
    stored, incoming = call_log_records.c, statement.excluded
    kept = ("record_id", "first_seen_at", "versions")
    values: dict[str, Any] = {c.name: incoming[c.name] for c in stored if c.name not in kept}
    values["versions"] = stored.versions + 1
    newer = or_(
        stored.last_modified_time.is_(None),
        incoming.last_modified_time.is_(None),
        incoming.last_modified_time >= stored.last_modified_time,
    )
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=["record_id"],
        set_=values,
        where=and_(stored.digest != incoming.digest, newer),
    )
    return upsert


# Rows per statement when storing records: asyncpg encodes a statement's rows in one go, and a
# page of 1,000 records with their versions is megabytes; in slices the webhook runs between.
SAVE_CHUNK = 100


async def save_records(
    connection: AsyncConnection,
    records: Sequence[dict[str, Any]],
    versions: Sequence[dict[str, Any]],
    *,
    now: datetime,
) -> None:
    """Store records (rows of `call_log_records`) and every new version of them, and queue
    them for the processor."""
    new_versions = insert_ignoring(connection, call_log_record_versions, ["record_id", "digest"])
    queue = insert_on_conflict(connection, call_log_pending)
    queued = queue.on_conflict_do_update(
        index_elements=["record_id"], set_={"queued_at": queue.excluded.queued_at}
    )
    upsert = _records_upsert(connection)
    for start in range(0, len(versions), SAVE_CHUNK):
        await connection.execute(new_versions, list(versions[start : start + SAVE_CHUNK]))
    for start in range(0, len(records), SAVE_CHUNK):
        chunk = records[start : start + SAVE_CHUNK]
        await connection.execute(upsert, list(chunk))
        await connection.execute(
            queued, [{"record_id": record["record_id"], "queued_at": now} for record in chunk]
        )


async def claim_unprocessed(connection: AsyncConnection, limit: int) -> list[ClaimedRecord]:
    """Queued records, oldest first (skipping ones another processor holds, on PostgreSQL)."""
    pending, records = call_log_pending.c, call_log_records.c
    statement = (
        select(
            pending.record_id,
            records.telephony_session_id,
            records.session_id,
            records.session_key,
            pending.queued_at,
        )
        .join_from(call_log_pending, call_log_records, pending.record_id == records.record_id)
        .order_by(pending.queued_at)
        .limit(limit)
    )
    if is_postgres(connection):
        statement = statement.with_for_update(skip_locked=True, of=call_log_pending)
    return [ClaimedRecord(*row) for row in await connection.execute(statement)]


async def mark_processed(connection: AsyncConnection, claimed: Sequence[ClaimedRecord]) -> None:
    """Dequeue what was taken in; a record queued again since its claim stays queued."""
    if not claimed:
        return
    pending = call_log_pending.c
    await connection.execute(
        delete(call_log_pending).where(
            pending.record_id == bindparam("claimed_id"),
            pending.queued_at == bindparam("claimed_at"),
        ),
        [{"claimed_id": r.record_id, "claimed_at": r.queued_at} for r in claimed],
    )


async def sessions_by_legacy_id(
    connection: AsyncConnection, session_ids: Collection[str]
) -> dict[str, str]:
    """Older sessionId -> the telephonySessionId of the outcome built from its events."""
    if not session_ids:
        return {}
    result = await connection.execute(
        select(call_outcomes.c.session_id, call_outcomes.c.telephony_session_id).where(
            keys_in(connection, call_outcomes.c.session_id, session_ids)
        )
    )
    return {row[0]: row[1] for row in result}


async def records_for(
    connection: AsyncConnection, *, session_keys: Collection[str], legacy_ids: Collection[str]
) -> list[RecordRow]:
    """Records whose own session is one of `session_keys`, and records that carry only one of
    the older `legacy_ids`."""
    conditions = []
    if session_keys:
        conditions.append(keys_in(connection, call_log_records.c.session_key, session_keys))
    if legacy_ids:
        conditions.append(
            and_(
                call_log_records.c.telephony_session_id.is_(None),
                keys_in(connection, call_log_records.c.session_id, legacy_ids),
            )
        )
    if not conditions:
        return []
    result = await connection.execute(
        select(
            call_log_records.c.record_id,
            call_log_records.c.telephony_session_id,
            call_log_records.c.session_id,
            call_log_records.c.session_key,
            call_log_records.c.payload,
        ).where(or_(*conditions))
    )
    return [RecordRow(*row) for row in result]


# --- sync state --------------------------------------------------------------------------------


async def ensure_sync_rows(connection: AsyncConnection, now: datetime) -> None:
    """A sync row (due now) for every monitored extension that has none yet."""
    missing = select(
        extensions.c.extension_id,
        literal(now, call_log_sync.c.next_due_at.type).label("next_due_at"),
        literal(0).label("failures"),
        literal(0).label("records_stored"),
        literal(now, call_log_sync.c.updated_at.type).label("updated_at"),
    ).where(~extensions.c.extension_id.in_(select(call_log_sync.c.extension_id)))
    columns = ["extension_id", "next_due_at", "failures", "records_stored", "updated_at"]
    # replicas may add the same rows at once: the first wins, the others change nothing
    await connection.execute(
        insert_ignoring(connection, call_log_sync, ["extension_id"]).from_select(columns, missing)
    )


def _sync_columns() -> tuple[Any, ...]:
    return (
        call_log_sync.c.extension_id,
        extensions.c.mode,
        call_log_sync.c.synced_through,
        call_log_sync.c.failures,
    )


async def claim_due(
    connection: AsyncConnection,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    extension_ids: Collection[str] | None = None,
) -> list[SyncRow]:
    """Lease the credentials whose sync is due (or the given ones, due or not); replicas skip
    what another holds."""
    statement = (
        select(*_sync_columns())
        .join(extensions, extensions.c.extension_id == call_log_sync.c.extension_id)
        .where(
            extensions.c.status == "active",
            or_(call_log_sync.c.lease_until.is_(None), call_log_sync.c.lease_until < now),
        )
        .order_by(call_log_sync.c.next_due_at)
        .limit(limit)
    )
    if extension_ids is None:
        statement = statement.where(call_log_sync.c.next_due_at <= now)
    else:
        statement = statement.where(call_log_sync.c.extension_id.in_(list(extension_ids)))
    if is_postgres(connection):
        statement = statement.with_for_update(skip_locked=True, of=call_log_sync)
    rows = [SyncRow(*row) for row in await connection.execute(statement)]
    if rows:
        await connection.execute(
            update(call_log_sync)
            .where(call_log_sync.c.extension_id.in_([row.extension_id for row in rows]))
            .values(lease_until=lease_until, last_attempt_at=now, updated_at=now)
        )
    return rows


async def renew_leases(
    connection: AsyncConnection, held: Mapping[str, datetime], *, until: datetime
) -> set[str]:
    """Extend each lease still as its holder last wrote it (compare-and-set on `lease_until`:
    a lease that expired and another replica took is left to it); the credentials renewed."""
    renewed: set[str] = set()
    for extension_id, lease_until in held.items():
        result = await connection.execute(
            update(call_log_sync)
            .where(
                call_log_sync.c.extension_id == extension_id,
                call_log_sync.c.lease_until == lease_until,
            )
            .values(lease_until=until)
        )
        if result.rowcount:
            renewed.add(extension_id)
    return renewed


async def open_since(connection: AsyncConnection, extension_id: str) -> datetime | None:
    """The earliest start of a record this credential stored that is still In Progress."""
    result = await connection.execute(
        select(func.min(call_log_records.c.start_time)).where(
            call_log_records.c.fetched_by == extension_id, ~call_log_records.c.final
        )
    )
    value: datetime | None = result.scalar_one()
    return value


async def add_records_stored(connection: AsyncConnection, extension_id: str, count: int) -> None:
    if count:
        await connection.execute(
            update(call_log_sync)
            .where(call_log_sync.c.extension_id == extension_id)
            .values(records_stored=call_log_sync.c.records_stored + count)
        )


async def window_done(
    connection: AsyncConnection, extension_id: str, *, synced_through: datetime, at: datetime
) -> None:
    """Move the cursor forward (never back) and clear the failures."""
    await connection.execute(
        update(call_log_sync)
        .where(
            call_log_sync.c.extension_id == extension_id,
            or_(
                call_log_sync.c.synced_through.is_(None),
                call_log_sync.c.synced_through < synced_through,
            ),
        )
        .values(synced_through=synced_through)
    )
    await connection.execute(
        update(call_log_sync)
        .where(call_log_sync.c.extension_id == extension_id)
        .values(failures=0, last_error=None, last_synced_at=at, updated_at=at)
    )


async def finish(
    connection: AsyncConnection, extension_id: str, *, next_due_at: datetime, now: datetime
) -> None:
    """A pass is over (done or failed): release the lease; the next pass is due then."""
    await connection.execute(
        update(call_log_sync)
        .where(call_log_sync.c.extension_id == extension_id)
        .values(lease_until=None, next_due_at=next_due_at, updated_at=now)
    )


async def sync_failed(
    connection: AsyncConnection,
    extension_id: str,
    *,
    error: str,
    retry_at: datetime,
    now: datetime,
) -> None:
    await connection.execute(
        update(call_log_sync)
        .where(call_log_sync.c.extension_id == extension_id)
        .values(
            failures=call_log_sync.c.failures + 1,
            last_error=error[:2000],
            next_due_at=retry_at,
            lease_until=None,
            updated_at=now,
        )
    )


async def request_sync(
    connection: AsyncConnection, extension_ids: Collection[str], now: datetime
) -> None:
    """Make these credentials' syncs due now (a subscription had to be re-created)."""
    if extension_ids:
        await connection.execute(
            update(call_log_sync)
            .where(call_log_sync.c.extension_id.in_(list(extension_ids)))
            .values(next_due_at=now, updated_at=now)
        )


async def synced_watermark(
    connection: AsyncConnection, *, attempted_since: datetime
) -> tuple[int, datetime | None]:
    """How many active credentials' call logs are being synced (a sync was attempted since
    `attempted_since`, by any replica), and how far the least advanced has read (None if one has
    never finished a window)."""
    statement = (
        select(
            func.count(),
            func.min(call_log_sync.c.synced_through),
            func.count(call_log_sync.c.synced_through),
        )
        .select_from(call_log_sync)
        .join(extensions, extensions.c.extension_id == call_log_sync.c.extension_id)
        .where(
            extensions.c.status == "active",
            call_log_sync.c.last_attempt_at >= attempted_since,
        )
    )
    total, earliest, synced = (await connection.execute(statement)).one()
    if not total:
        return 0, None
    return int(total), earliest if synced == total else None


async def sync_overview(connection: AsyncConnection) -> dict[str, SyncOverview]:
    result = await connection.execute(
        select(
            call_log_sync.c.extension_id,
            call_log_sync.c.synced_through,
            call_log_sync.c.last_synced_at,
            call_log_sync.c.last_attempt_at,
            call_log_sync.c.next_due_at,
            call_log_sync.c.failures,
            call_log_sync.c.last_error,
            call_log_sync.c.records_stored,
        )
    )
    return {row[0]: SyncOverview(*row) for row in result}
