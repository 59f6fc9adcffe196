"""The processor's own process (CALLSIFT_PROCESSOR_MODE=process): `python -m
service.processing.child`, started and supervised by `callsift run`
(service.processing.supervisor) with one end of a socket pair as its stdin.

It reads the service's settings from the socket, runs the same `ProcessorWorker` the service
runs inline (woken by the service after each group commit, polling otherwise) and sends each
step's figures back for the service's /metrics (service.processing.channel). It stops after its
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

import structlog
import uvloop

from service.calllog.loop import ExpectationCache
from service.db.engine import create_engine
from service.logging import configure_logging
from service.looplag import LoopLagProbe
from service.metrics import LOOP_STALL_S, PROCESSOR_LOOP, ProcessorReport
from service.processing.channel import (
    CALL_LOG_READ,
    DIRECTORY_SYNCED,
    is_wake,
    received_of,
    report_line,
    settings_of,
)
from service.processing.standback import LatestReceived
from service.processing.worker import ProcessorWorker, processor_of, utc_now
from service.ringcentral.directory import DirectoryCache

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
    """The processor's metrics, sent to the service (which owns /metrics). The loop-lag probe's
    wake-ups go in batches of LAGS_PER_REPORT (about a second's), a stall at once."""

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
    terminated = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminated.set)
    await worker.start()
    writer.write(report_line(ProcessorReport()))  # running: the service's /readyz says so
    await loop_lag.start()
    log.info("processor.process_ready", pid=os.getpid())
    following = asyncio.create_task(_follow(reader, worker, webhook, directory, expectation))
    waiting = asyncio.create_task(terminated.wait())
    try:
        await asyncio.wait({following, waiting}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        following.cancel()
        waiting.cancel()
        await worker.stop()
        await loop_lag.stop()
        writer.close()
        await engine.dispose()
    log.info("processor.process_stopped", pid=os.getpid())


async def _follow(
    reader: asyncio.StreamReader,
    worker: ProcessorWorker,
    webhook: LatestReceived,
    directory: DirectoryCache,
    expectation: ExpectationCache,
) -> None:
    """Act on the service's messages until it closes its end."""
    while line := await reader.readline():
        if is_wake(line):
            latest = received_of(line)
            if latest is not None:
                webhook.note(latest)
            worker.wake()
        elif line == CALL_LOG_READ:
            expectation.invalidate()
            worker.wake()
        elif line == DIRECTORY_SYNCED:
            directory.invalidate()


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
