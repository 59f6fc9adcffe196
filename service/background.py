"""The start, stop, wake and retry of every background loop (processor, call-log loop,
subscription loop, group-commit writer): what each loop does is its own, how it runs is here."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Backoff:
    """After a failed step wait `first_s`, doubling with each failure in a row up to `most_s`."""

    first_s: float
    most_s: float

    def after(self, previous_s: float) -> float:
        return min(max(previous_s * 2, self.first_s), self.most_s)


class Precedence:
    """Background work that gives way to more urgent work of the same event loop: the urgent
    side runs its stretches `within()`; the other awaits `give_way(most_s)` between its steps,
    which returns when no urgent stretch runs, or after `most_s` (so it is slowed, never
    starved)."""

    def __init__(self) -> None:
        self._running = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def within(self) -> Iterator[None]:
        self._running += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._running -= 1
            if not self._running:
                self._quiet.set()

    async def give_way(self, most_s: float) -> None:
        if not self._quiet.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), timeout=most_s)


class BackgroundTask:
    """One named task with a wake-up event and a stop flag. `stop` sets the flag, wakes the task
    and waits for it to end, so a loop that checks `stopping` after each wait stops at once."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()
        self.stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self.stopping

    def wake(self) -> None:
        self._wakeup.set()

    def start(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        self._task = asyncio.create_task(body(), name=self._name)

    async def stop(self) -> None:
        self.stopping = True
        self._stopped.set()
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def woken(self, timeout_s: float | None = None) -> None:
        """Wait until woken (or, with `timeout_s`, until that long passed)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=timeout_s)

    async def pause(self, seconds: float) -> None:
        """Wait `seconds`, or until stopped (wake-ups do not end it)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopped.wait(), timeout=seconds)

    def clear(self) -> None:
        """Forget the wake-ups so far (the work about to start takes in what they announced)."""
        self._wakeup.clear()

    async def repeat(
        self,
        step: Callable[[], Awaitable[object]],
        *,
        interval_s: Callable[[], float],
        on_failure: Callable[[Exception, float], None],
        backoff: Backoff | None = None,
    ) -> None:
        """Run `step` until stopped, then wait `interval_s()` or until woken. A step that raises
        is handed to `on_failure` with the wait before the next try: `interval_s()`, or with
        `backoff` the next backoff."""
        delay_s = 0.0
        while not self.stopping:
            self.clear()
            try:
                await step()
            except Exception as exc:  # a loop must survive database and network trouble
                delay_s = backoff.after(delay_s) if backoff else interval_s()
                on_failure(exc, delay_s)
                await self.woken(delay_s)
                continue
            delay_s = 0.0
            await self.woken(interval_s())
