"""The processor in a process of its own (CALLSIFT_PROCESSOR_MODE=process), seen from `callsift
run`: it starts `python -m service.processing.child` with one end of a socket pair as its stdin,
wakes it after each group commit, takes its figures into this process's /metrics, starts it
again with backoff when it ends unasked, and stops it with the service (its end of the socket
closed and SIGTERM; SIGKILL after STOP_TIMEOUT_S).

Nothing is lost when the child dies: its events stay unprocessed in raw_events, and the next
child (or another replica's processor) claims them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from typing import Any

import structlog

from service.background import BackgroundTask, Backoff
from service.metrics import Metrics
from service.processing.channel import (
    CALL_LOG_DUE,
    DIRECTORY_SYNCED,
    WAKE,
    report_of,
    settings_line,
    wake_line,
)
from service.processing.standback import Received
from service.settings import Settings

log = structlog.get_logger(__name__)

CHILD_COMMAND = (sys.executable, "-m", "service.processing.child")
RESTART = Backoff(first_s=0.5, most_s=30.0)
STEADY_S = 60.0  # a child that ran this long is restarted after the first backoff again
STOP_TIMEOUT_S = 10.0


class ProcessorProcess:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._background = BackgroundTask("callsift-processor-supervisor")
        self._process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ready = False  # the running child reported that its processor runs
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs."""
        process = self._process
        return process.pid if process is not None and process.returncode is None else None

    def status(self) -> dict[str, Any]:
        """For /readyz."""
        pid = self.pid
        return {
            "mode": "process",
            "alive": pid is not None and self._ready,
            "pid": pid,
            "restarts": self.restarts,
        }

    def wake(self, received: Received | None = None) -> None:
        """Events or records were stored; `received` is the webhook's count so far."""
        self._send(WAKE if received is None else wake_line(received))

    def directory_synced(self) -> None:
        self._send(DIRECTORY_SYNCED)

    def call_log_due(self) -> None:
        """Credentials were made due for a call-log sync at once: the child's sync looks now."""
        self._send(CALL_LOG_DUE)

    def _send(self, message: bytes) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(message)

    async def start(self) -> None:
        self._background.start(self._supervise)

    async def stop(self) -> None:
        await self._background.stop()

    async def _supervise(self) -> None:
        delay_s = 0.0
        while not self._stopping():
            started = time.monotonic()
            try:
                returncode: int | None = await self._run_child()
            except Exception as exc:  # could not even start it: try again as after a crash
                log.warning("processor.process_not_started", error=repr(exc))
                returncode = None
            if self._stopping():
                return
            steady = time.monotonic() - started >= STEADY_S
            delay_s = RESTART.first_s if steady else RESTART.after(delay_s)
            if returncode == 0:
                # It stopped as on SIGTERM, not sent by us: most often the signal that stops the
                # service too (systemd, a process-group kill), whose shutdown then ends this.
                await self._background.woken(delay_s)
                if self._stopping():
                    return
                delay_s = 0.0
            self.restarts += 1
            self._metrics.processor_restarts.inc()
            log.warning("processor.process_exited", returncode=returncode, restart_in_s=delay_s)
            await self._background.woken(delay_s)

    def _stopping(self) -> bool:
        return self._background.stopping

    async def _run_child(self) -> int:
        """Run one child until it ends or the service stops; its return code."""
        ours, theirs = socket.socketpair()
        try:
            process = await asyncio.create_subprocess_exec(*CHILD_COMMAND, stdin=theirs.fileno())
        finally:
            theirs.close()  # the child holds its end: when it ends, our reads end
        reader, writer = await asyncio.open_connection(sock=ours)
        writer.write(settings_line(self._settings))
        self._process, self._writer, self._ready = process, writer, False
        log.info("processor.process_started", pid=process.pid)
        reports = asyncio.create_task(self._take_reports(reader))
        ended = asyncio.create_task(process.wait())
        stopping = asyncio.create_task(self._background.woken())
        try:
            await asyncio.wait({ended, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not ended.done():
                await _stop_child(process, writer)
        finally:
            stopping.cancel()
            writer.close()
            self._writer = None
            with contextlib.suppress(asyncio.CancelledError):
                await reports  # the child's end is closed: the rest of its reports, then EOF
        return await ended

    async def _take_reports(self, reader: asyncio.StreamReader) -> None:
        while line := await reader.readline():
            try:
                report = report_of(line)
            except (ValueError, TypeError) as exc:
                log.warning("processor.report_unreadable", error=repr(exc))
                continue
            self._ready = True
            self._metrics.record_processor(report)


async def _stop_child(process: asyncio.subprocess.Process, writer: asyncio.StreamWriter) -> None:
    """Ask the child to stop after its current claim; kill it if it does not in time."""
    writer.close()
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning("processor.process_killed", pid=process.pid, after_s=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
