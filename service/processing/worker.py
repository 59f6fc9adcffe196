"""The processor loop of every `callsift run` replica: in the webhook's event loop
(CALLSIFT_PROCESSOR_MODE=inline) or in a process of its own (`process`, service.processing.child).
The stats rollup refresher (service.rollups.refresher) starts and stops with it, so it runs
wherever the processor runs.

It wakes when its service stores events (lag stays low) and polls otherwise (events stored by
other replicas). Each iteration is one transaction: claim events and records, recompute, commit.
Failures are logged and retried with backoff; the loop never dies on a database error.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from classifiers import DirectoryEntry, Thresholds
from classifiers.recovery import DEFAULT_RECOVERY_WINDOW
from service.background import BackgroundTask, Backoff, Precedence
from service.calllog.expectation import NO_CALL_LOG, CallLogExpectation
from service.metrics import ProcessorMetrics, ProcessorReport
from service.processing.processor import (
    ClaimStats,
    ProcessingContext,
    close_stale_sessions,
    is_poison,
    process_new_events,
    record_failure,
    set_aside_oldest,
    settle_awaiting_sessions,
)
from service.processing.standback import Received, StandBack, StandBackPolicy
from service.rollups.refresher import RollupRefresher
from service.settings import Settings

log = structlog.get_logger(__name__)

BACKOFF = Backoff(first_s=0.5, most_s=10.0)
STALE_SWEEP_EVERY_S = 60.0
# A drain starts at least this long after the previous one started. The service wakes the
# processor after every group commit, hundreds of times a second under load, and each claim has
# a fixed cost (about twenty statements): claims of a few calls each took the processor 0.58-0.60
# of a core at 4,500 notifications/s, claims gathered over 50 ms 0.46-0.49 (lag p50 +10-25 ms).
DRAIN_GAP_S = 0.05


def drain_wait_s(last_started: float | None, now: float, gap_s: float) -> float:
    """How long to wait before the next drain (monotonic seconds)."""
    return 0.0 if last_started is None else max(0.0, last_started + gap_s - now)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Drained:
    """What `ProcessorWorker.drain` (or one `isolate`) took in."""

    claims: int = 0
    events: int = 0
    sessions: int = 0  # recomputed (a session in two claims counts twice)
    changed: int = 0
    corrections: int = 0
    failures: int = 0  # sessions the classifier failed on (stored as classification_failed)
    set_aside: int = 0  # events or records that failed even alone
    left_held: int = 0  # left queued by a claim: another claim held their session

    def add(self, stats: ClaimStats) -> None:
        self.claims += 1
        self.events += stats.events
        self.sessions += stats.sessions
        self.left_held += stats.left_held
        self.changed += stats.changed
        self.corrections += stats.corrections
        self.failures += stats.failures

    def merge(self, other: Drained) -> None:
        self.claims += other.claims
        self.events += other.events
        self.sessions += other.sessions
        self.left_held += other.left_held
        self.changed += other.changed
        self.corrections += other.corrections
        self.failures += other.failures
        self.set_aside += other.set_aside


class ProcessorWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        thresholds: Thresholds,
        metrics: ProcessorMetrics,
        claim_size: int,
        poll_interval_s: float = 0.5,
        directory: Callable[[], Awaitable[Mapping[str, DirectoryEntry]]] | None = None,
        call_log: Callable[[], Awaitable[CallLogExpectation]] | None = None,
        clock: Callable[[], datetime] = utc_now,
        recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW,
        rollups: RollupRefresher | None = None,
        drain_gap_s: float = DRAIN_GAP_S,
        claims_in_flight: int = 1,
        records_per_claim: int | None = None,
        precedence: Precedence | None = None,
        stand_back: StandBackPolicy | None = None,
        received: Callable[[], Received] | None = None,
    ) -> None:
        self._engine = engine
        self._records_per_claim = records_per_claim
        self._precedence = precedence or Precedence()
        self._claims_in_flight = claims_in_flight
        self._drain_gap_s = drain_gap_s
        self._drain_started: float | None = None
        self._rollups = rollups
        self._thresholds = thresholds
        self._recovery_window = recovery_window
        self._metrics = metrics
        self._claim_size = claim_size
        self._poll_interval_s = poll_interval_s
        self._directory = directory
        self._call_log = call_log
        self._clock = clock
        self._background = BackgroundTask("callsift-processor")
        self._next_stale_sweep = 0.0
        self._stand_back = (
            StandBack(
                received, self._background.pause, policy=stand_back, on_stood_back=self._stood_back
            )
            if stand_back is not None and received is not None
            else None
        )

    @property
    def running(self) -> bool:
        return self._background.running

    def wake(self) -> None:
        self._background.wake()

    async def start(self) -> None:
        self._background.start(self._run)
        if self._rollups is not None:
            await self._rollups.start()

    async def stop(self) -> None:
        await self._background.stop()
        if self._rollups is not None:
            await self._rollups.stop()

    async def context(self) -> ProcessingContext:
        directory = await self._directory() if self._directory else {}
        call_log = await self._call_log() if self._call_log else NO_CALL_LOG
        return ProcessingContext(
            now=self._clock(),
            thresholds=self._thresholds,
            directory=directory,
            call_log=call_log,
            recovery_window=self._recovery_window,
        )

    async def run_once(self) -> ClaimStats:
        """One claim in one transaction."""
        context = await self.context()
        async with self._engine.begin() as connection:
            stats = await process_new_events(
                connection,
                context=context,
                claim_size=self._claim_size,
                records_limit=self._records_per_claim,
                leave_held=self._claims_in_flight > 1,
            )
        self._report_claim(stats, context.now)
        return stats

    async def drain(self) -> Drained:
        """Claims until one comes back not full (or the worker stops); a claim that failed for
        what it held is isolated and the drain goes on. When the first claim came back full,
        `claims_in_flight` claims run at once, each on its own connection: one classifies while
        another waits for PostgreSQL (each leaves to the others the sessions they hold). Raises
        when the database is unavailable."""
        drained = Drained()
        if self._background.stopping or not await self._claim(drained):
            return drained
        try:
            async with asyncio.TaskGroup() as claims:
                for _ in range(self._claims_in_flight):
                    claims.create_task(self._claims(drained))
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        if drained.left_held:  # the claims that held them have committed: take them in now
            await self._claims(drained)
        return drained

    async def _claims(self, drained: Drained) -> None:
        while not self._background.stopping and await self._claim(drained):
            pass

    async def _claim(self, drained: Drained) -> bool:
        """One claim (isolated when it failed for what it held); whether more may be waiting."""
        if self._stand_back is not None:
            await self._stand_back.turn()
            if self._background.stopping:
                return False
        try:
            with self._stand_back.claiming() if self._stand_back else contextlib.nullcontext():
                stats = await self.run_once()
        except Exception as exc:
            if not is_poison(exc):
                raise
            drained.merge(await self.isolate())
            self._metrics.record_processor(ProcessorReport(failed_batches=1))
            return True
        drained.add(stats)
        if self._stand_back is not None:
            self._stand_back.claimed(full=stats.full)
        return stats.full

    def _stood_back(self, seconds: float) -> None:
        self._metrics.record_processor(ProcessorReport(stood_back_s=seconds))

    async def isolate(self) -> Drained:
        """A claim failed for what it held: process the oldest event alone, then the oldest
        call-log record alone; the first that fails alone too is set aside (marked done, its
        session stored as `classification_failed`) so that one poisoned row never stops the
        rest. Raises when the database is unavailable."""
        context = await self.context()
        drained = Drained()
        for take_event, limits in ((True, (1, 0)), (False, (0, 1))):
            try:
                async with self._engine.begin() as connection:
                    stats = await process_new_events(
                        connection, context=context, claim_size=limits[0], records_limit=limits[1]
                    )
                self._report_claim(stats, context.now)
                drained.add(stats)
            except Exception as exc:
                if not is_poison(exc):
                    raise
                await self._set_aside(context, exc, take_event=take_event)
                drained.set_aside += 1
                break
        return drained

    async def _set_aside(
        self, context: ProcessingContext, error: BaseException, *, take_event: bool
    ) -> None:
        async with self._engine.begin() as connection:
            aside = await set_aside_oldest(
                connection, context=context, error=error, take_event=take_event
            )
        self._metrics.record_processor(ProcessorReport(set_aside=1))
        if aside.session_id is None:
            return
        try:
            async with self._engine.begin() as connection:
                await record_failure(connection, aside, context=context, error=error)
        except Exception as exc:  # the error is logged with the set-aside row already
            log.warning("processor.failure_not_recorded", error=repr(exc))

    def _report_claim(self, stats: ClaimStats, now: datetime) -> None:
        if stats.events or stats.records:
            self._metrics.record_processor(ProcessorReport.of_claim(stats, now))

    async def sweep_stale(self) -> int:
        """Close stale sessions, and stop waiting for call-log records the sync read past;
        returns how many outcomes changed."""
        context = await self.context()
        async with self._engine.begin() as connection:
            closed = await close_stale_sessions(connection, context=context, limit=self._claim_size)
        async with self._engine.begin() as connection:
            settled = await settle_awaiting_sessions(
                connection, context=context, limit=self._claim_size
            )
        if settled.failures:
            self._metrics.record_processor(
                ProcessorReport(classification_failures=settled.failures)
            )
        return closed + settled.changed

    async def _step(self) -> None:
        wait_s = drain_wait_s(self._drain_started, time.monotonic(), self._drain_gap_s)
        if wait_s:
            await asyncio.sleep(wait_s)  # a stop meanwhile: the drain below returns at once
        self._drain_started = time.monotonic()
        with self._precedence.within():  # the rollup refresher waits meanwhile
            await self.drain()
        if time.monotonic() >= self._next_stale_sweep:
            await self.sweep_stale()
            self._next_stale_sweep = time.monotonic() + STALE_SWEEP_EVERY_S

    def _failed(self, exc: Exception, retry_in_s: float) -> None:
        # the claim rolled back; the loop goes on
        self._metrics.record_processor(ProcessorReport(failed_batches=1))
        log.warning("processor.batch_failed", error=repr(exc), retry_in_s=retry_in_s)

    async def _run(self) -> None:
        await self._background.repeat(
            self._step,
            interval_s=lambda: self._poll_interval_s,
            on_failure=self._failed,
            backoff=BACKOFF,
        )


def processor_of(
    settings: Settings,
    engine: AsyncEngine,
    metrics: ProcessorMetrics,
    *,
    directory: Callable[[], Awaitable[Mapping[str, DirectoryEntry]]],
    call_log: Callable[[], Awaitable[CallLogExpectation]],
    clock: Callable[[], datetime] = utc_now,
    received: Callable[[], Received] | None = None,
) -> ProcessorWorker:
    """The processor the settings describe (the same inline and in its own process); in its
    own process, `received` counts what its service's webhook received (it stands back for it,
    service.processing.standback)."""
    precedence = Precedence()
    return ProcessorWorker(
        engine,
        thresholds=settings.thresholds(),
        metrics=metrics,
        claim_size=settings.resolved_processor_batch_size(),
        claims_in_flight=settings.processor_claims_in_flight(),
        records_per_claim=settings.processor_records_per_claim(),
        poll_interval_s=settings.processor_poll_interval_s,
        directory=directory,
        call_log=call_log,
        clock=clock,
        recovery_window=timedelta(seconds=settings.recovery_window_s),
        rollups=RollupRefresher(
            engine,
            interval_s=settings.stats_rollup_interval_s,
            metrics=metrics,
            precedence=precedence,
        ),
        precedence=precedence,
        stand_back=StandBackPolicy() if settings.processor_stands_back() else None,
        received=received,
    )
