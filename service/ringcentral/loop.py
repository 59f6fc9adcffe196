"""The subscription loop inside `callsift run`, on every replica, with no leader.

Each pass leases the extensions whose subscription work is due (`FOR UPDATE SKIP LOCKED` on
PostgreSQL, so replicas split the work; SQLite has one process), carries out what each needs
(create, renew, check, recreate), and refreshes the extension directory when it is old; on a
first start, before the subscription work, so that the first events meet a known directory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from service.background import BackgroundTask
from service.ringcentral import queries
from service.ringcentral.directory import sync_directory
from service.ringcentral.runtime import RingCentralRuntime
from subscriptions.errors import RingCentralError
from subscriptions.lifecycle import (
    Action,
    Mode,
    Policy,
    SubscriptionKeeper,
    SubscriptionState,
    SyncResult,
)

log = structlog.get_logger(__name__)

LEASE = timedelta(minutes=5)
PASS_LIMIT = 100


def state_of(row: queries.SubscriptionRow) -> SubscriptionState:
    return SubscriptionState(
        extension_id=row.extension_id,
        mode=Mode(row.mode),
        subscription_id=row.subscription_id,
        status=row.status,
        expires_at=row.expires_at,
        webhook_url=row.webhook_url,
        last_checked_at=row.last_checked_at,
        renew_requested=row.renew_requested,
        failures=row.failures,
    )


class SubscriptionLoop:
    def __init__(
        self,
        engine: AsyncEngine,
        runtime: RingCentralRuntime,
        *,
        policy: Policy,
        interval_s: float,
        directory_refresh: timedelta,
        clock: Callable[[], datetime],
        on_directory_synced: Callable[[], None] = lambda: None,
        on_health: Callable[[list[queries.ExtensionHealth], datetime], None] = lambda _r, _n: None,
        on_recreated: Callable[[Collection[str]], Awaitable[None]] | None = None,
    ) -> None:
        self._on_health = on_health
        self._on_recreated = on_recreated
        self._engine = engine
        self._on_directory_synced = on_directory_synced
        self._runtime = runtime
        self._policy = policy
        self._keeper: SubscriptionKeeper = runtime.keeper(engine, policy)
        self._interval_s = interval_s
        self._directory_refresh = directory_refresh
        self._clock = clock
        self._background = BackgroundTask("callsift-subscriptions")

    @property
    def keeper(self) -> SubscriptionKeeper:
        return self._keeper

    def wake(self) -> None:
        self._background.wake()

    async def start(self) -> None:
        async with self._engine.begin() as connection:
            await queries.mark_all_due(
                connection, self._clock(), unless_url=self._policy.webhook_url
            )
        self._background.start(self._run)

    async def stop(self) -> None:
        await self._background.stop()

    async def run_pass(self) -> list[SyncResult]:
        """One pass over what is due now; returns what was done for each extension."""
        # never synced (a first start): now, so that events of the subscriptions created below
        # meet a known directory; otherwise after the subscription work, as it ages
        await self._refresh_directory(only_if_never_synced=True)
        now = self._clock()
        async with self._engine.begin() as connection:
            rows = await queries.claim_due(
                connection, now=now, lease_until=now + LEASE, limit=PASS_LIMIT
            )
        results = [await self._keeper.sync(state_of(row)) for row in rows]
        await self._report_gaps(results)
        await self._refresh_directory(only_if_never_synced=False)
        async with self._engine.connect() as connection:
            self._on_health(await queries.extension_overview(connection), self._clock())
        return results

    async def _report_gaps(self, results: list[SyncResult]) -> None:
        """A re-created subscription delivered nothing for a while (it had expired, was
        blacklisted or deleted): its call log holds what the webhooks missed."""
        recreated = [r.extension_id for r in results if r.action is Action.RECREATED]
        if recreated and self._on_recreated is not None:
            log.info("subscriptions.gap_to_repair", extension_ids=recreated)
            await self._on_recreated(recreated)

    async def _refresh_directory(self, *, only_if_never_synced: bool) -> None:
        """Sync the directory if it never was (or, unless `only_if_never_synced`, is old)."""
        async with self._engine.connect() as connection:
            synced_at = await queries.directory_synced_at(connection)
        if synced_at is not None and (
            only_if_never_synced or self._clock() - synced_at < self._directory_refresh
        ):
            return
        try:
            await sync_directory(self._engine, self._runtime)
        except RingCentralError as exc:
            log.warning("directory.sync_failed", error=str(exc))
            return
        self._on_directory_synced()

    async def _run(self) -> None:
        await self._background.repeat(
            self.run_pass,
            interval_s=lambda: self._interval_s,
            on_failure=lambda exc, _retry_in_s: log.warning(
                "subscriptions.pass_failed", error=repr(exc)
            ),
        )
