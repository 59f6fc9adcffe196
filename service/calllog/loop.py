"""The call-log loop inside `callsift run`, on every replica, with no leader.

Every `calllog_sync_interval_s` each credential's call log is read from where its sync stands
(`subscriptions.calllog.CallLogSyncer`); a credential is synced at once when it is new (the
backfill), when a pass of it failed and its retry time came, and when its webhook subscription
had to be re-created (what the gap missed). Credentials are leased (`FOR UPDATE SKIP LOCKED`
inside the lease statement on PostgreSQL), so replicas share them and never read one twice at
the same time. Stored records wake the processor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from service.background import BackgroundTask
from service.calllog import queries
from service.calllog.expectation import NO_CALL_LOG, CallLogExpectation
from service.calllog.leases import LEASE, HeldLeases
from service.calllog.pacing import SyncPacing, never_busy
from service.calllog.store import DatabaseCallLogStore
from service.ringcentral.runtime import RingCentralRuntime, call_log_policy
from service.settings import Settings
from subscriptions.calllog import (
    CallLogPolicy,
    CallLogState,
    CallLogSyncer,
    CallLogSyncReport,
    PageProgress,
    SaveCounts,
)
from subscriptions.lifecycle import Mode

log = structlog.get_logger(__name__)

PASS_LIMIT = 100
CONCURRENT_SYNCS = 4  # credentials read at once (each is paced on its own Heavy budget)
# A record still In Progress pulls the next read back to its start, but never further than this:
# a record RingCentral never finalises must not make every pass re-read the whole history.
OPEN_RECORD_HORIZON = timedelta(hours=24)


# a credential whose sync no replica attempted for this long is not being synced
SYNCING_RECENTLY = timedelta(hours=1)
# the processor re-reads the expectation at most this often (and after a sync window here)
EXPECTATION_TTL = timedelta(seconds=30)


async def call_log_expectation(engine: AsyncEngine, *, now: datetime) -> CallLogExpectation:
    """Whether outcomes should wait for call-log records: some replica syncs some credential's
    call log (it attempted a sync within the last hour), and how far the least advanced of those
    has read. The same answer on every replica, whatever its own settings."""
    async with engine.connect() as connection:
        credentials, synced_through = await queries.synced_watermark(
            connection, attempted_since=now - SYNCING_RECENTLY
        )
    if not credentials:
        return NO_CALL_LOG
    return CallLogExpectation(expected=True, synced_through=synced_through)


class ExpectationCache:
    """`call_log_expectation` as the processor reads it for every claim: from the database at
    most every EXPECTATION_TTL (by the monotonic clock, or sooner when the service's clock, which
    may be simulated, moved that far), and at the next use after `invalidate`."""

    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._expectation = NO_CALL_LOG
        self._read_at: datetime | None = None
        self._read_monotonic = float("-inf")
        self._invalidations = 0

    def invalidate(self) -> None:
        """Re-read at the next use (a sync window was just done)."""
        self._read_at = None
        self._invalidations += 1

    async def current(self) -> CallLogExpectation:
        now = self._clock()
        if not self._fresh(now):
            invalidations = self._invalidations
            self._expectation = await call_log_expectation(self._engine, now=now)
            if invalidations == self._invalidations:  # else it may predate a window: read again
                self._read_at, self._read_monotonic = now, time.monotonic()
        return self._expectation

    def _fresh(self, now: datetime) -> bool:
        return (
            self._read_at is not None
            and timedelta(0) <= now - self._read_at < EXPECTATION_TTL
            and time.monotonic() - self._read_monotonic < EXPECTATION_TTL.total_seconds()
        )


class CallLogLoop:
    def __init__(
        self,
        engine: AsyncEngine,
        runtime: RingCentralRuntime,
        *,
        policy: CallLogPolicy,
        interval_s: float,
        clock: Callable[[], datetime],
        on_records: Callable[[SaveCounts], None] = lambda _counts: None,
        on_window_done: Callable[[], None] = lambda: None,
        on_pass: Callable[[list[queries.SyncOverview], datetime], None] | None = None,
        pacing: SyncPacing | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._interval = timedelta(seconds=interval_s)
        self._on_pass = on_pass
        self.store = DatabaseCallLogStore(
            engine,
            clock=clock,
            next_due=lambda now: now + self._interval,
            on_saved=on_records,
            on_window_done=on_window_done,
        )
        self._syncer = CallLogSyncer(
            runtime.client, runtime.tokens, self.store, policy=policy, clock=clock, pace=pacing
        )
        self._background = BackgroundTask("callsift-calllog")

    @classmethod
    def of_settings(
        cls,
        settings: Settings,
        engine: AsyncEngine,
        runtime: RingCentralRuntime,
        *,
        clock: Callable[[], datetime],
        on_records: Callable[[SaveCounts], None] = lambda _counts: None,
        on_window_done: Callable[[], None] = lambda: None,
        on_pass: Callable[[list[queries.SyncOverview], datetime], None] | None = None,
        webhook_busy: Callable[[], bool] = never_busy,
    ) -> CallLogLoop:
        """The loop as the settings configure it (backfill, overlap, interval, pace while the
        webhook is busy)."""
        return cls(
            engine,
            runtime,
            policy=call_log_policy(settings),
            interval_s=settings.calllog_sync_interval_s,
            clock=clock,
            on_records=on_records,
            on_window_done=on_window_done,
            on_pass=on_pass,
            pacing=SyncPacing(settings.calllog_busy_records_per_s, webhook_busy=webhook_busy),
        )

    def wake(self) -> None:
        self._background.wake()

    async def request_sync(self, extension_ids: Collection[str]) -> None:
        """Sync these credentials at once (their subscription was re-created: webhooks were
        lost meanwhile)."""
        async with self._engine.begin() as connection:
            await queries.request_sync(connection, extension_ids, self._clock())
        self.wake()

    async def start(self) -> None:
        self._background.start(self._run)

    async def stop(self) -> None:
        await self._background.stop()

    async def run_pass(
        self,
        *,
        extension_ids: Collection[str] | None = None,
        since: datetime | None = None,
        on_page: Callable[[PageProgress], None] | None = None,
    ) -> list[CallLogSyncReport]:
        """One pass: the credentials due now (or the ones given, due or not, from `since`)."""
        now = self._clock()
        async with self._engine.begin() as connection:
            await queries.ensure_sync_rows(connection, now)
            rows = await queries.claim_due(
                connection,
                now=now,
                lease_until=now + LEASE,
                limit=PASS_LIMIT,
                extension_ids=extension_ids,
            )
        limit = asyncio.Semaphore(CONCURRENT_SYNCS)
        leases = HeldLeases(
            self._engine,
            (row.extension_id for row in rows),
            leased_until=now + LEASE,
            clock=self._clock,
        )

        async def sync(row: queries.SyncRow) -> CallLogSyncReport:
            try:
                async with limit:
                    return await self._sync_one(row, since=since, on_page=on_page)
            finally:
                leases.release(row.extension_id)

        renewing = asyncio.create_task(leases.keep())
        try:
            reports = list(await asyncio.gather(*(sync(row) for row in rows)))
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
        if self._on_pass is not None:
            async with self._engine.connect() as connection:
                overview = await queries.sync_overview(connection)
            self._on_pass(list(overview.values()), self._clock())
        return reports

    async def _sync_one(
        self,
        row: queries.SyncRow,
        *,
        since: datetime | None,
        on_page: Callable[[PageProgress], None] | None,
    ) -> CallLogSyncReport:
        now = self._clock()
        async with self._engine.connect() as connection:
            open_since = await queries.open_since(connection, row.extension_id)
        if open_since is not None:
            open_since = max(open_since, now - OPEN_RECORD_HORIZON)
        state = CallLogState(
            extension_id=row.extension_id,
            mode=Mode(row.mode),
            synced_through=row.synced_through,
            open_since=open_since,
            failures=row.failures,
        )
        try:
            report = await self._syncer.sync(state, since=since, on_page=on_page)
        except Exception as exc:  # a database error mid-pass: retry at the next interval
            log.warning("calllog.pass_failed", extension_id=row.extension_id, error=repr(exc))
            await self.store.sync_failed(row.extension_id, repr(exc), now + self._interval)
            return CallLogSyncReport(row.extension_id, error=repr(exc))
        if report.error is None or report.credential_invalid:
            await self.store.finished(row.extension_id)
        return report

    async def _run(self) -> None:
        await self._background.repeat(
            self.run_pass,
            interval_s=self._next_wait_s,
            on_failure=lambda exc, _retry_in_s: log.warning("calllog.pass_failed", error=repr(exc)),
        )

    def _next_wait_s(self) -> float:
        # due credentials are found by each pass; waking at least every minute keeps retries
        # (Retry-After, backoff) near their due time without reading anything early
        return min(self._interval.total_seconds(), 60.0)
