"""The processor's own process (CALLSIFT_PROCESSOR_MODE=process): `python -m
service.processing.child`, started and supervised by `callsift run`
(service.processing.supervisor) with one end of a socket pair as its stdin.

It reads the service's settings from the socket, runs the same `ProcessorWorker` the service
runs inline (woken by the service after each group commit, polling otherwise) and, when it is
on, the call-log sync (`CallLogLoop`: its pages are read, validated and stored here, beside the
processor that takes them in, not in the webhook's process), and sends the figures of both back
for the service's /metrics (service.processing.channel). It stops after its
current claim on SIGTERM, or when the socket closes because the service ended however it ended:
no orphan. It ignores SIGINT: Ctrl-C reaches the whole process group, and stopping the processor
is the service's part of its own shutdown.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
import uvloop
from sqlalchemy.ext.asyncio import AsyncEngine

from service.calllog.loop import CallLogLoop, ExpectationCache
from service.calllog.pacing import busy_since
from service.db.engine import create_engine
from service.logging import configure_logging
from service.looplag import LoopLagProbe
from service.metrics import (
    LOOP_STALL_S,
    PROCESSOR_LOOP,
    CallLogSyncState,
    ProcessorReport,
    SyncFigures,
)
from service.processing.channel import (
    CALL_LOG_DUE,
    DIRECTORY_SYNCED,
    is_wake,
    received_of,
    report_line,
    settings_of,
)
from service.processing.standback import LatestReceived
from service.processing.worker import ProcessorWorker, processor_of, utc_now
from service.ringcentral.directory import DirectoryCache
from service.ringcentral.runtime import RingCentralRuntime, build_runtime
from service.settings import Settings
from subscriptions.calllog import SaveCounts

log = structlog.get_logger(__name__)

# The webhook first: where the cores are short, the kernel gives them to the service's process
# (a notification not acknowledged may be lost) and the processor catches up when load falls.
NICENESS = 10
LAGS_PER_REPORT = 100
# Container allocations between two collections of the youngest generation (Python's default is
# 700). A claim allocates millions of short-lived objects, nearly all freed by reference counting;
# at the default the collector ran 1,650 times in a 200,000-event drain and took 1.3 s of its
# 7.5 s of CPU, 0.18 s with this and the modules frozen (bench/notes.md).
YOUNG_COLLECTION_THRESHOLD = 50_000


class ChannelMetrics:
    """The processor's and the call-log sync's metrics, sent to the service (which owns
    /metrics). The loop-lag probe's wake-ups go in batches of LAGS_PER_REPORT (about a
    second's), a stall at once."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self._lags: list[float] = []

    def record_processor(self, report: ProcessorReport) -> None:
        if not self._writer.is_closing():
            self._writer.write(report_line(report))

    def record_loop_lag(self, lag_s: float) -> None:
        self._lags.append(lag_s)
        if len(self._lags) >= LAGS_PER_REPORT or lag_s > LOOP_STALL_S:
            self.record_processor(ProcessorReport(loop_lags_s=self._lags))
            self._lags = []

    def record_call_log_saved(self, counts: SaveCounts) -> None:
        saved = (counts.new, counts.changed, counts.unchanged)
        self.record_processor(ProcessorReport(call_log_saved=saved))

    def record_call_log_syncs(self, rows: Sequence[CallLogSyncState], now: datetime) -> None:
        syncs = [SyncFigures.row(row) for row in rows]
        self.record_processor(
            ProcessorReport(call_log_syncs=syncs, call_log_synced_at=now.timestamp())
        )


async def run_processor(channel: socket.socket) -> None:
    """Process until SIGTERM or the end of `channel` (the service's end of it closed)."""
    reader, writer = await asyncio.open_connection(sock=channel)
    settings = settings_of(await reader.readline())
    configure_logging(level=settings.log_level, json=settings.log_json)
    engine = create_engine(settings, application_name="callsift-processor")
    directory = DirectoryCache(engine)
    expectation = ExpectationCache(engine, clock=utc_now)
    metrics = ChannelMetrics(writer)
    loop_lag = LoopLagProbe(metrics.record_loop_lag, process=PROCESSOR_LOOP)
    webhook = LatestReceived()
    worker = processor_of(
        settings,
        engine,
        metrics,
        directory=directory.current,
        call_log=expectation.current,
        received=webhook,
    )
    call_log = _call_log_sync(settings, engine, metrics, worker, expectation, webhook)
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    await worker.start()
    writer.write(report_line(ProcessorReport()))  # running: the service's /readyz says so
    await loop_lag.start()
    if call_log is not None:
        await call_log.loop.start()
    log.info("processor.process_ready", pid=os.getpid(), call_log_sync=call_log is not None)
    following = asyncio.create_task(_follow(reader, worker, webhook, directory, call_log))
    waiting = asyncio.create_task(terminated.wait())
    try:
        await asyncio.wait({following, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        following.cancel()
        waiting.cancel()
        if call_log is not None:
            await call_log.loop.stop()
            await call_log.runtime.aclose()
        await worker.stop()
        await loop_lag.stop()
        writer.close()
        await engine.dispose()
    log.info("processor.process_stopped", pid=os.getpid())


@dataclass(frozen=True, slots=True)
class _CallLogSync:
    loop: CallLogLoop
    runtime: RingCentralRuntime


def _call_log_sync(
    settings: Settings,
    engine: AsyncEngine,
    metrics: ChannelMetrics,
    worker: ProcessorWorker,
    expectation: ExpectationCache,
    webhook: LatestReceived,
) -> _CallLogSync | None:
    """The call-log sync, when it is on and a RingCentral app is configured: what it stores
    wakes the processor beside it, each window it reads makes it re-read what the call log
    covers, and it gives way while the service's webhook stores notifications."""
    if not settings.calllog_sync_enabled or not settings.ringcentral_app_configured():
        return None
    runtime = build_runtime(settings, engine, clock=utc_now)

    def records_saved(counts: SaveCounts) -> None:
        metrics.record_call_log_saved(counts)
        if counts.new or counts.changed:
            worker.wake()

    def window_done() -> None:
        expectation.invalidate()
        worker.wake()

    loop = CallLogLoop.of_settings(
        settings,
        engine,
        runtime,
        clock=utc_now,
        on_records=records_saved,
        on_window_done=window_done,
        on_pass=metrics.record_call_log_syncs,
        webhook_busy=busy_since(lambda: webhook().at),
    )
    return _CallLogSync(loop, runtime)


async def _follow(
    reader: asyncio.StreamReader,
    worker: ProcessorWorker,
    webhook: LatestReceived,
    directory: DirectoryCache,
    call_log: _CallLogSync | None,
) -> None:
    """Act on the service's messages until it closes its end."""
    while line := await reader.readline():
        if is_wake(line):
            latest = received_of(line)
            if latest is not None:
                webhook.note(latest)
            worker.wake()
        elif line == DIRECTORY_SYNCED:
            directory.invalidate()
        elif line == CALL_LOG_DUE and call_log is not None:
            call_log.loop.wake()


def prepare_collector() -> None:
    """Leave what was imported out of the collector's passes (it lives as long as the process)
    and collect the youngest generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)


def main() -> None:
    prepare_collector()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(NICENESS)
    channel = socket.socket(fileno=os.dup(0))
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # the socket is the channel's alone
    uvloop.run(run_processor(channel))


if __name__ == "__main__":
    main()
