"""How late this process's event loop runs what is due: the loop-lag probe.

A background task asks to be woken every `INTERVAL_S` and reports how late it woke (the lag) to
the metrics: whatever held the loop (a request's CPU, a slow callback, a collection) delays it.
A lag over `LOOP_STALL_S` (the most any request may hold the loop) is a stall, logged as
`looplag.stalled` at most once a second, with what the loop was running if the watchdog saw
it: a thread that looks every `LOOP_STALL_S` and, when the probe's wake-up is overdue by more,
reads the loop thread's frames (`sys._current_frames`) and the loop's current task, once per
stall (so it names every stall longer than twice the threshold, a shorter one when it looks in
time). Nothing of it runs in the loop. asyncio's debug mode (`slow_callback_duration`) would
name the callback too, but it extracts a stack for every task created: 11 µs a task became
260 µs under uvloop (bench/notes.md), more than a webhook request costs.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import structlog

from service.background import BackgroundTask
from service.metrics import LOOP_STALL_S

log = structlog.get_logger(__name__)

INTERVAL_S = 0.01
LOG_EVERY_S = 1.0
FRAMES = 6  # innermost frames named in a stall's log line


@dataclass(frozen=True, slots=True)
class Running:
    """What the loop thread was running during a stall, seen by the watchdog."""

    due: float  # the probe wake-up that was overdue
    task: str | None
    frames: tuple[str, ...]  # innermost first, `module:line function`


class Watchdog:
    """A daemon thread that looks at the loop thread while the probe's wake-up is overdue."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, stall_s: float) -> None:
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._stall_s = stall_s
        self._due = float("inf")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="callsift-loop-watchdog")
        self._thread.daemon = True
        self.seen: Running | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def expect(self, due: float) -> None:
        """The probe should run again by `due` (`time.monotonic`)."""
        self._due = due

    def seen_for(self, due: float) -> Running | None:
        seen = self.seen
        return seen if seen is not None and seen.due == due else None

    def _watch(self) -> None:
        while not self._stopped.wait(self._stall_s):
            due = self._due
            if time.monotonic() - due > self._stall_s and self.seen_for(due) is None:
                self.seen = self._look(due)

    def _look(self, due: float) -> Running:
        frame = sys._current_frames().get(self._loop_thread)
        task = asyncio.current_task(self._loop)
        return Running(due, task.get_name() if task else None, _names(frame))


def _names(frame: FrameType | None) -> tuple[str, ...]:
    names: list[str] = []
    while frame is not None and len(names) < FRAMES:
        module = frame.f_globals.get("__name__", "?")
        names.append(f"{module}:{frame.f_lineno} {frame.f_code.co_name}")
        frame = frame.f_back
    return tuple(names)


class LoopLagProbe:
    """Reports each wake-up's lag to `on_lag` and logs the stalls of the loop it runs in."""

    def __init__(
        self,
        on_lag: Callable[[float], None],
        *,
        process: str,
        interval_s: float = INTERVAL_S,
        stall_s: float = LOOP_STALL_S,
    ) -> None:
        self._on_lag = on_lag
        self._process = process
        self._interval_s = interval_s
        self._stall_s = stall_s
        self._background = BackgroundTask("callsift-loop-lag")
        self._watchdog: Watchdog | None = None
        self._logged_at = -LOG_EVERY_S
        self._unlogged = 0

    async def start(self) -> None:
        self._watchdog = Watchdog(asyncio.get_running_loop(), stall_s=self._stall_s)
        self._watchdog.start()
        self._background.start(self._probe)

    async def stop(self) -> None:
        await self._background.stop()
        if self._watchdog is not None:
            self._watchdog.stop()

    async def _probe(self) -> None:
        assert self._watchdog is not None
        while not self._background.stopping:
            due = time.monotonic() + self._interval_s
            self._watchdog.expect(due)
            await asyncio.sleep(self._interval_s)
            woke = time.monotonic()
            lag_s = max(0.0, woke - due)
            self._on_lag(lag_s)
            if lag_s > self._stall_s:
                self._stalled(lag_s, self._watchdog.seen_for(due), woke)

    def _stalled(self, lag_s: float, running: Running | None, now: float) -> None:
        if now - self._logged_at < LOG_EVERY_S:
            self._unlogged += 1
            return
        log.warning(
            "looplag.stalled",
            process=self._process,
            lag_ms=round(lag_s * 1000, 1),
            task=running.task if running else None,
            running=list(running.frames) if running else None,
            stalls_not_logged=self._unlogged,
        )
        self._logged_at = now
        self._unlogged = 0
