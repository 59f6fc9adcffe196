"""Database implementations of the `subscriptions` store protocols, and of the webhook
verifier's token-hash source.

Each method is one short transaction: the subscriptions side calls RingCentral between them and
needs every result durable at once (see `subscriptions.lifecycle`). Token refreshes hold the
extension's token row lock (PostgreSQL `FOR UPDATE`) for the duration of the refresh call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.ringcentral import queries
from service.secrets import SecretBox
from service.webhooks.verification import TokenEntry, token_hash
from subscriptions.lifecycle import Action, Policy
from subscriptions.schemas import SubscriptionInfo
from subscriptions.tokens import StoredTokens

log = structlog.get_logger(__name__)

RETIRED_TOKEN_GRACE = timedelta(minutes=10)
TOKEN_RELOAD_MIN_INTERVAL_S = 0.2


class DatabaseTokenStore:
    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def read_tokens(self, extension_id: str) -> StoredTokens | None:
        async with self._engine.connect() as connection:
            row = await queries.read_token_row(connection, extension_id)
        return self._decrypt(row)

    @asynccontextmanager
    async def lock_tokens(self, extension_id: str) -> AsyncIterator[_TokenSlot]:
        async with self._engine.begin() as connection:
            # write first: on SQLite a transaction that read before writing can lose the race
            await queries.ensure_token_row(connection, extension_id)
            row = await queries.lock_token_row(connection, extension_id)
            extension = await queries.get_extension(connection, extension_id)
            if extension is None:
                msg = f"extension {extension_id} is not registered"
                raise LookupError(msg)
            slot = _TokenSlot(
                connection,
                self._box,
                extension_id,
                tokens=self._decrypt(row),
                credential=self._box.decrypt(extension.credential),
            )
            yield slot

    def _decrypt(self, row: queries.TokenRow | None) -> StoredTokens | None:
        if row is None or row.access_token is None or row.access_expires_at is None:
            return None
        return StoredTokens(
            access_token=self._box.decrypt(row.access_token),
            access_expires_at=row.access_expires_at,
            refresh_token=self._box.decrypt(row.refresh_token) if row.refresh_token else None,
            refresh_expires_at=row.refresh_expires_at,
        )


class _TokenSlot:
    def __init__(
        self,
        connection: AsyncConnection,
        box: SecretBox,
        extension_id: str,
        *,
        tokens: StoredTokens | None,
        credential: str,
    ) -> None:
        self._connection = connection
        self._box = box
        self._extension_id = extension_id
        self._tokens = tokens
        self._credential = credential

    @property
    def tokens(self) -> StoredTokens | None:
        return self._tokens

    @property
    def credential(self) -> str:
        return self._credential

    async def save(self, tokens: StoredTokens) -> None:
        """Replace the pair in this transaction: the spent refresh token is gone with it."""
        await queries.save_tokens(
            self._connection,
            self._extension_id,
            access_token=self._box.encrypt(tokens.access_token),
            access_expires_at=tokens.access_expires_at,
            refresh_token=self._box.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
            refresh_expires_at=tokens.refresh_expires_at,
            refreshed_at=tokens.issued_at,
        )
        self._tokens = tokens

    async def mark_credential_invalid(self, reason: str) -> None:
        await queries.update_extension(
            self._connection,
            self._extension_id,
            status="credential_invalid",
            status_reason=reason[:1000],
        )


class DatabaseSubscriptionStore:
    def __init__(
        self, engine: AsyncEngine, *, policy: Policy, clock: Callable[[], datetime]
    ) -> None:
        self._engine = engine
        self._policy = policy
        self._clock = clock

    async def new_verification_token(self, extension_id: str, token: str) -> None:
        async with self._engine.begin() as connection:
            await queries.insert_webhook_token(
                connection,
                {
                    "token_hash": token_hash(token),
                    "extension_id": extension_id,
                    "subscription_id": None,
                    "created_at": self._clock(),
                    "retired_at": None,
                },
            )

    async def subscription_active(
        self, extension_id: str, info: SubscriptionInfo, *, webhook_url: str, action: Action
    ) -> None:
        now = self._clock()
        values: dict[str, object] = {
            "subscription_id": info.id,
            "status": info.status,
            "expires_at": info.expiration_time,
            "webhook_url": webhook_url,
            "event_filters": orjson.dumps(info.event_filters).decode(),
            "last_checked_at": now,
            "last_error": None,
            "failures": 0,
            "renew_requested": False,
            "next_due_at": self._next_due(info.expiration_time, now),
            "lease_until": None,
            "updated_at": now,
        }
        if action in (Action.CREATED, Action.RECREATED, Action.RENEWED):
            values["last_renewed_at"] = now
        async with self._engine.begin() as connection:
            if action in (Action.CREATED, Action.RECREATED):
                await queries.bind_pending_token(connection, extension_id, info.id)
            await queries.update_subscription(connection, extension_id, **values)

    async def subscription_gone(self, extension_id: str, reason: str) -> None:
        now = self._clock()
        async with self._engine.begin() as connection:
            current = await queries.subscription_of(connection, extension_id)
            if current is not None and current.subscription_id is not None:
                await queries.retire_tokens(connection, extension_id, current.subscription_id, now)
            await queries.update_subscription(
                connection,
                extension_id,
                subscription_id=None,
                status=None,
                expires_at=None,
                last_error=reason[:1000],
                next_due_at=now,
                updated_at=now,
            )

    async def record_failure(self, extension_id: str, error: str, retry_at: datetime) -> None:
        async with self._engine.begin() as connection:
            current = await queries.subscription_of(connection, extension_id)
            await queries.update_subscription(
                connection,
                extension_id,
                last_error=error[:1000],
                failures=(current.failures if current else 0) + 1,
                next_due_at=retry_at,
                lease_until=None,
                updated_at=self._clock(),
            )

    def _next_due(self, expires_at: datetime | None, now: datetime) -> datetime:
        check = now + self._policy.check_every
        if expires_at is None:
            return check
        return min(check, expires_at - self._policy.renew_before)


@dataclass(frozen=True, slots=True)
class _TokenTable:
    entries: dict[bytes, TokenEntry]
    loaded_at: float


class DatabaseTokenHashes:
    """The webhook verifier's view of our subscriptions' tokens, cached in memory.

    An unknown token triggers a reload (one at a time; a reload asked for less than 200 ms after
    the last one waits out the rest), so a subscription created a moment ago - by this process or
    another replica - verifies on its first event, even if a forged token asked just before.
    Retired tokens stay valid for a grace period for notifications already on their way.
    """

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._table = _TokenTable({}, float("-inf"))
        self._reload_lock = asyncio.Lock()

    async def lookup(self, digest: bytes) -> TokenEntry | None:
        entry = self._table.entries.get(digest)
        if entry is None:
            await self._reload()
            entry = self._table.entries.get(digest)
        return entry

    async def _reload(self) -> None:
        seen = self._table
        async with self._reload_lock:
            if self._table is not seen:
                return  # another request reloaded while this one waited
            since = time.monotonic() - self._table.loaded_at
            if since < TOKEN_RELOAD_MIN_INTERVAL_S:
                await asyncio.sleep(TOKEN_RELOAD_MIN_INTERVAL_S - since)  # the reload rate limit
            try:
                async with self._engine.connect() as connection:
                    rows = await queries.live_webhook_tokens(
                        connection, self._clock() - RETIRED_TOKEN_GRACE
                    )
            except Exception as exc:  # an unreadable store means "unknown token", not a crash
                log.warning("webhook.token_reload_failed", error=type(exc).__name__)
                self._table = _TokenTable(self._table.entries, time.monotonic())
                return
            entries = {digest: TokenEntry(subscription_id) for digest, subscription_id in rows}
            self._table = _TokenTable(entries, time.monotonic())
