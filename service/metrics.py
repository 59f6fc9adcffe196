"""Prometheus metrics of one service instance, in a registry of its own (no global state)."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from subscriptions.calllog import SaveCounts

BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 1, 5)
LOOP_STALL_S = 0.05  # the most any request may hold the event loop: a longer lag is a stall
SERVICE_LOOP = "service"  # the `process` label of the loop that serves requests
PROCESSOR_LOOP = "processor"  # and of the processor's own process (CALLSIFT_PROCESSOR_MODE)

log = structlog.get_logger(__name__)

# What the areas report, by the attributes read here (their own types satisfy these), so that
# metrics imports no area: every area imports it.
Recount = Callable[[AsyncConnection, int], Awaitable[tuple[int, list[tuple[str, str, int]]] | None]]


class IngestBatch(Protocol):
    @property
    def failed(self) -> bool: ...
    @property
    def size(self) -> int: ...
    @property
    def refused(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def quarantined(self) -> int: ...


class ProcessedClaim(Protocol):
    @property
    def events(self) -> int: ...
    @property
    def records(self) -> int: ...
    @property
    def changed(self) -> int: ...
    @property
    def corrections(self) -> int: ...
    @property
    def failures(self) -> int: ...
    @property
    def oldest_received_at(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class ProcessorReport:
    """What the processor did in one step, in plain figures: applied to the metrics in the same
    process, or sent as one JSON line from the processor's own process to the service's."""

    events: int = 0
    records: int = 0
    changed: int = 0
    corrections: int = 0
    classification_failures: int = 0
    failed_batches: int = 0
    set_aside: int = 0
    lag_s: float | None = None  # the claim's oldest event: stored -> processed
    # the rollup refresher's pass (service.rollups.refresher): the quarters it recomputed and
    # those it left marked (None: no pass in this report)
    rollup_quarters_recomputed: int = 0
    rollup_quarters_marked: int | None = None
    # the processor's own process only: its event loop's lags since its last report
    loop_lags_s: Sequence[float] = ()
    # seconds the processor stood back for the webhook (service.processing.standback)
    stood_back_s: float = 0.0
    # the call-log sync, where it runs in the processor's own process: records stored (new,
    # changed, unchanged) and, after a pass, each credential's (extension id, failures, synced
    # through as epoch seconds) at `call_log_synced_at` (epoch seconds)
    call_log_saved: Sequence[int] = ()
    call_log_syncs: Sequence[Sequence[str | int | float | None]] = ()
    call_log_synced_at: float | None = None

    @classmethod
    def of_claim(cls, stats: ProcessedClaim, now: datetime) -> ProcessorReport:
        oldest = stats.oldest_received_at
        return cls(
            events=stats.events,
            records=stats.records,
            changed=stats.changed,
            corrections=stats.corrections,
            classification_failures=stats.failures,
            lag_s=None if oldest is None else max(0.0, (now - oldest).total_seconds()),
        )


class ProcessorMetrics(Protocol):
    """Where the processor reports (`Metrics`, or the pipe of service.processing.child)."""

    def record_processor(self, report: ProcessorReport) -> None: ...


class ExtensionState(Protocol):
    @property
    def extension_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def subscription_status(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime | None: ...
    @property
    def access_expires_at(self) -> datetime | None: ...


class CallLogSyncState(Protocol):
    @property
    def extension_id(self) -> str: ...
    @property
    def failures(self) -> int: ...
    @property
    def synced_through(self) -> datetime | None: ...


class SyncFigures(NamedTuple):
    """A credential's call-log sync state as it crosses the processor's channel."""

    extension_id: str
    failures: int
    synced_through: datetime | None

    @classmethod
    def of(cls, row: Sequence[str | int | float | None]) -> SyncFigures:
        extension_id, failures, through = row
        return cls(
            str(extension_id),
            int(failures or 0),
            None if through is None else datetime.fromtimestamp(float(through), UTC),
        )

    @staticmethod
    def row(state: CallLogSyncState) -> tuple[str, int, float | None]:
        through = state.synced_through
        return state.extension_id, state.failures, None if through is None else through.timestamp()


class OutcomeCounts(Collector):
    """`callsift_outcomes{direction,category}`: stored outcomes, counted in the database.

    Prometheus collects synchronously, so a scrape serves the last count and, when that is older
    than `max_age_s`, starts a recount in the background (the next scrape sees it). A recount
    first reads the change counter (one row) and runs the GROUP BY only if an outcome changed.
    """

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._recount: Recount | None = None
        self._max_age_s = math.inf
        self._counts: dict[tuple[str, str], int] = {}
        self._counted_seq = -1
        self._checked_at = -math.inf
        self.refreshing: asyncio.Task[None] | None = None

    def watch(self, engine: AsyncEngine, recount: Recount, *, max_age_s: float) -> None:
        """Count with `recount` (the API's query), at most every `max_age_s` seconds."""
        self._engine = engine
        self._recount = recount
        self._max_age_s = max_age_s

    def describe(self) -> Iterator[Metric]:
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        self._start_refresh()
        family = self._family()
        for (direction, category), count in sorted(self._counts.items()):
            family.add_metric([direction, category], count)
        yield family

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "callsift_outcomes",
            "Stored call outcomes by direction and category (recounted in the background).",
            labels=["direction", "category"],
        )

    def _start_refresh(self) -> None:
        if self._engine is None or (self.refreshing and not self.refreshing.done()):
            return
        if time.monotonic() - self._checked_at < self._max_age_s:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # collected outside the service's event loop
            return
        self.refreshing = loop.create_task(self.refresh(), name="callsift-outcome-counts")

    async def refresh(self) -> None:
        """Recount now (if an outcome changed since the last count)."""
        if self._engine is None or self._recount is None:
            return
        self._checked_at = time.monotonic()
        try:
            async with self._engine.connect() as connection:
                counted = await self._recount(connection, self._counted_seq)
        except Exception as exc:  # a failed recount keeps the previous figures
            log.warning("metrics.outcome_count_failed", error=repr(exc))
            return
        if counted is None:
            return
        seq, rows = counted
        self._counts = {(direction, category): count for direction, category, count in rows}
        self._counted_seq = seq


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_received = Counter(
            "callsift_events_received",
            "Webhook notifications stored for the first time, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.events_duplicate = Counter(
            "callsift_events_duplicate",
            "Webhook notifications whose uuid was already stored.",
            registry=self.registry,
        )
        self.events_quarantined = Counter(
            "callsift_events_quarantined",
            "Authenticated webhook bodies that could not be read, kept in quarantine.",
            registry=self.registry,
        )
        self.webhook_rejected = Counter(
            "callsift_webhook_rejected",
            "Webhook requests refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.ingest_batches = Histogram(
            "callsift_ingest_batch_size",
            "Rows per group commit.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.ingest_rows_refused = Counter(
            "callsift_ingest_rows_refused",
            "Webhook rows the database refused when their failed batch was written row by row "
            "(each answered 503).",
            registry=self.registry,
        )
        self.ingest_failed_batches = Counter(
            "callsift_ingest_failed_batches",
            "Group commits that failed (every request in them got 503).",
            registry=self.registry,
        )

        self.events_processed = Counter(
            "callsift_events_processed",
            "Stored events the processor has turned into outcomes.",
            registry=self.registry,
        )
        self.outcomes_changed = Counter(
            "callsift_outcomes_changed",
            "Outcome rows written because their content changed.",
            registry=self.registry,
        )
        self.processor_lag = Histogram(
            "callsift_processor_lag_seconds",
            "Time from the oldest event of a batch being stored to its batch being processed.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.rollup_quarters_recomputed = Counter(
            "callsift_stats_rollup_quarters_recomputed",
            "Quarter hours whose stats rollups the refresher recomputed.",
            registry=self.registry,
        )
        self.rollup_quarters_marked = Gauge(
            "callsift_stats_rollup_quarters_marked",
            "Quarter hours whose calls changed since their stats rollups were computed, left "
            "marked by the refresher's last pass (still being written to, or beyond the 4,096 "
            "a pass reads); reports read those from the calls.",
            registry=self.registry,
        )
        self.call_log_records_processed = Counter(
            "callsift_call_log_records_processed",
            "Stored call-log records (new or changed) the processor has taken into outcomes.",
            registry=self.registry,
        )
        self.call_log_corrections = Counter(
            "callsift_call_log_corrections",
            "Outcomes the call log corrected (the events alone said something else).",
            registry=self.registry,
        )
        self.call_log_records_stored = Counter(
            "callsift_call_log_records_stored",
            "Call-log records fetched from RingCentral, by what storing them did (new, changed, "
            "unchanged).",
            ["change"],
            registry=self.registry,
        )
        self.call_log_sync_lag = Gauge(
            "callsift_call_log_sync_lag_seconds",
            "Per credential: seconds since the last moment its call log has been read up to.",
            ["extension_id"],
            registry=self.registry,
        )
        self.call_log_sync_failures = Gauge(
            "callsift_call_log_sync_failures",
            "Per credential: consecutive failed call-log syncs (0 when the last one worked).",
            ["extension_id"],
            registry=self.registry,
        )
        self.processor_stood_back = Counter(
            "callsift_processor_stood_back_seconds",
            "Seconds the processor held its claims back because its work slowed the webhook "
            "(ingest first, CALLSIFT_PROCESSOR_STAND_BACK).",
            registry=self.registry,
        )
        self.processor_set_aside = Counter(
            "callsift_processor_set_aside",
            "Events or call-log records that failed processing even alone and were set aside "
            "(their session stored as classification_failed; see the log).",
            registry=self.registry,
        )
        self.classification_failures = Counter(
            "callsift_classification_failures",
            "Sessions the classifier failed on, stored as unknown / classification_failed.",
            registry=self.registry,
        )
        self.processor_failures = Counter(
            "callsift_processor_failures",
            "Processor batches that failed and were rolled back (retried later).",
            registry=self.registry,
        )

        self.processor_restarts = Counter(
            "callsift_processor_restarts",
            "Times the processor's own process (CALLSIFT_PROCESSOR_MODE=process) ended "
            "unasked and was started again.",
            registry=self.registry,
        )

        self.loop_lag = Histogram(
            "callsift_event_loop_lag_seconds",
            "How late the event loop woke the loop-lag probe (due every 10 ms), by process: "
            "`service` (the loop serving requests) or `processor` (the processor's own process).",
            ["process"],
            buckets=LOOP_LAG_BUCKETS,
            registry=self.registry,
        )
        self.loop_lag_max = Gauge(
            "callsift_event_loop_lag_max_seconds",
            "The largest event-loop lag since the process started, by process.",
            ["process"],
            registry=self.registry,
        )
        self.loop_stalls = Counter(
            "callsift_event_loop_stalls",
            "Event-loop lags over 50 ms (stalls, each logged as looplag.stalled at most once "
            "a second), by process.",
            ["process"],
            registry=self.registry,
        )
        self._loop_lag_max: dict[str, float] = {}
        for series in (self.loop_lag, self.loop_lag_max, self.loop_stalls):
            series.labels(SERVICE_LOOP)  # on /metrics from the start

        self.outcome_counts = OutcomeCounts()
        self.registry.register(self.outcome_counts)
        self.abandoned_polls = Counter(
            "callsift_abandoned_polls",
            "Answers to GET /v1/abandoned, by result (changed, empty, not_modified, callbacks).",
            ["result"],
            registry=self.registry,
        )
        self.api_auth_failures = Counter(
            "callsift_api_auth_failures",
            "Requests to /v1 refused for a missing or invalid API key.",
            ["reason"],
            registry=self.registry,
        )
        self.extensions = Gauge(
            "callsift_extensions",
            "Monitored extensions by credential status (active, credential_invalid).",
            ["status"],
            registry=self.registry,
        )
        self.subscriptions = Gauge(
            "callsift_subscriptions",
            "Webhook subscriptions by last known status (`none` while there is none).",
            ["status"],
            registry=self.registry,
        )
        self.subscription_expires_in = Gauge(
            "callsift_subscription_expires_in_seconds",
            "Seconds until each extension's subscription expires unless renewed.",
            ["extension_id"],
            registry=self.registry,
        )
        self.access_token_expires_in = Gauge(
            "callsift_access_token_expires_in_seconds",
            "Seconds until each extension's access token expires (refreshed automatically).",
            ["extension_id"],
            registry=self.registry,
        )

    def record_processor(self, report: ProcessorReport) -> None:
        self.events_processed.inc(report.events)
        self.outcomes_changed.inc(report.changed)
        self.call_log_records_processed.inc(report.records)
        self.call_log_corrections.inc(report.corrections)
        self.classification_failures.inc(report.classification_failures)
        self.processor_failures.inc(report.failed_batches)
        self.processor_set_aside.inc(report.set_aside)
        self.processor_stood_back.inc(report.stood_back_s)
        if report.lag_s is not None:
            self.processor_lag.observe(report.lag_s)
        self.rollup_quarters_recomputed.inc(report.rollup_quarters_recomputed)
        if report.rollup_quarters_marked is not None:
            self.rollup_quarters_marked.set(report.rollup_quarters_marked)
        for lag_s in report.loop_lags_s:
            self.record_loop_lag(lag_s, PROCESSOR_LOOP)
        if report.call_log_saved:
            self.record_call_log_saved(SaveCounts(*report.call_log_saved))
        if report.call_log_synced_at is not None:
            self.record_call_log_syncs(
                [SyncFigures.of(row) for row in report.call_log_syncs],
                datetime.fromtimestamp(report.call_log_synced_at, UTC),
            )

    def record_loop_lag(self, lag_s: float, process: str = SERVICE_LOOP) -> None:
        """One wake-up of a loop-lag probe (service.looplag) `lag_s` late."""
        self.loop_lag.labels(process).observe(lag_s)
        if lag_s > LOOP_STALL_S:
            self.loop_stalls.labels(process).inc()
        if lag_s >= self._loop_lag_max.get(process, 0.0):
            self._loop_lag_max[process] = lag_s
            self.loop_lag_max.labels(process).set(lag_s)

    def record_extension_health(self, rows: Sequence[ExtensionState], now: datetime) -> None:
        """Set the extension and subscription gauges from the subscription loop's last pass."""
        statuses = Tally(row.status for row in rows)
        subscription_statuses = Tally(row.subscription_status or "none" for row in rows)
        self.extensions.clear()
        self.subscriptions.clear()
        self.subscription_expires_in.clear()
        self.access_token_expires_in.clear()
        for status, count in statuses.items():
            self.extensions.labels(status).set(count)
        for status, count in subscription_statuses.items():
            self.subscriptions.labels(status).set(count)
        for row in rows:
            if row.expires_at is not None:
                left = (row.expires_at - now).total_seconds()
                self.subscription_expires_in.labels(row.extension_id).set(left)
            if row.access_expires_at is not None:
                left = (row.access_expires_at - now).total_seconds()
                self.access_token_expires_in.labels(row.extension_id).set(left)

    def record_call_log_saved(self, counts: SaveCounts) -> None:
        for change, count in (
            ("new", counts.new),
            ("changed", counts.changed),
            ("unchanged", counts.unchanged),
        ):
            if count:
                self.call_log_records_stored.labels(change).inc(count)

    def record_call_log_syncs(self, rows: Sequence[CallLogSyncState], now: datetime) -> None:
        """Set the per-credential sync gauges from the call-log loop's last pass."""
        self.call_log_sync_lag.clear()
        self.call_log_sync_failures.clear()
        for row in rows:
            self.call_log_sync_failures.labels(row.extension_id).set(row.failures)
            if row.synced_through is not None:
                lag = max(0.0, (now - row.synced_through).total_seconds())
                self.call_log_sync_lag.labels(row.extension_id).set(lag)

    def record_batch(self, report: IngestBatch) -> None:
        if report.failed:
            self.ingest_failed_batches.inc()
            return
        self.ingest_batches.observe(report.size)
        if report.refused:
            self.ingest_rows_refused.inc(report.refused)
        if report.duplicates:
            self.events_duplicate.inc(report.duplicates)
        if report.quarantined:
            self.events_quarantined.inc(report.quarantined)
