"""Ingest first: the processor in a process of its own stands back while its work slows the
webhook down.

A notification the webhook does not acknowledge may be lost (RingCentral does not deliver it
again); an outcome computed later loses nothing. So when the machine is too small for both, the
processor gives way. Its own figures cannot tell it whether it slows the webhook (at 70% of the
webhook's capacity the cores are as busy as at saturation), so it finds out by trying: once it
has fallen behind (two claims in a row came back full: below the webhook's capacity a commit
that waited on the disk leaves a burst that one claim clears) it stands back for a window and
compares how fast
its service's webhook received notifications meanwhile with how fast it receives them in the
window after, while the processor works. Received more than MARGIN faster without it: it
yields, standing back for a while, then working for one window and comparing again; each
confirmation doubles the time it stands back (to LONGEST_S). As soon as its work no longer slows
the webhook (the load fell, or the webhook was never short of CPU) or it has caught up (a claim
came back not full), it works at full speed.

It counts what the webhook received, not what was stored: a sender that does not wait for the
answers (RingCentral below the webhook's capacity; the paced bench) sends as many whatever the
processor does, even when a commit waits a few hundred milliseconds (which would move stored
counts from one window to the next); a sender held up by slow answers sends more once the
webhook answers faster. The service sends its count with each wake-up
(service.processing.channel).

`StandBackPolicy` decides (pure: times and counts are passed in); `StandBack` measures and
waits for the processor's claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

import structlog

from service.background import Precedence

log = structlog.get_logger(__name__)

# A rate is measured over WINDOW_S at the end of a stand-back, and over the last WORKING_S -
# SETTLE_S of the working time that follows it: each change leaves the webhook a queue to drain
# (or to build) first, which a sender that does not wait for answers would otherwise show as a
# rate its own.
WINDOW_S = 0.25
SETTLE_S = 0.25
WORKING_S = 0.5
MARGIN = 1.15  # received this much faster while standing back: the processor slows the webhook
# full claims in a row before a try: at 70% of the webhook's capacity a commit held up a few
# hundred milliseconds by the disk leaves a burst of at most a claim, and a try there would only
# add its half second to the lag; at saturation the claims in flight all come back full at once
FULL_IN_ROW = 2
FIRST_S = 2.0  # the first stand-back once yielding; doubled with each confirmation
LONGEST_S = 8.0
# after a try that found no slowing, the next waits this long, doubled with each such try in
# a row up to QUIETEST_S (a misjudged try costs little, and trying costs a window each time)
QUIET_S = 1.0
QUIETEST_S = 16.0
CLAIMS_END_WITHIN_S = 60.0  # a stand-back waits this long at most for the claims in flight
LEAST_RECEIVED = 20  # fewer received in a window say nothing about the webhook's capacity


@dataclass(slots=True)
class StandBackPolicy:
    """Whether the processor stands back before its next claim, and for how long."""

    window_s: float = WINDOW_S
    settle_s: float = SETTLE_S
    working_s: float = WORKING_S
    margin: float = MARGIN
    full_in_row: int = FULL_IN_ROW
    first_s: float = FIRST_S
    longest_s: float = LONGEST_S
    quiet_s: float = QUIET_S
    quietest_s: float = QUIETEST_S
    yielding: bool = False
    stand_back_s: float = 0.0  # before the next claim (0: none); the last window is measured
    _next_try_at: float = 0.0
    _full: int = 0  # full claims in a row
    _yield_s: float = 0.0
    _quiet_s: float = 0.0  # the quiet time after the last try that found no slowing

    def claimed(self, now: float, *, full: bool) -> None:
        """After each claim: FULL_IN_ROW full claims in a row (the processor is behind) may
        start a try; a claim that is not full means the processor has caught up, and yields no
        longer."""
        if not full:
            self._full = 0
            self._work(now, quiet=False)
            return
        self._full += 1
        if (
            self._full >= self.full_in_row
            and not self.yielding
            and self.stand_back_s == 0.0
            and now >= self._next_try_at
        ):
            self.stand_back_s = self.settle_s + self.window_s

    def judge(self, now: float, *, received_standing_back: float, received_working: float) -> None:
        """Notifications received per second in the window standing back and in the window
        working that followed it: yield (longer each time) if the work slowed the webhook, else
        work."""
        slowed = (
            received_standing_back * self.window_s >= LEAST_RECEIVED
            and received_standing_back > self.margin * received_working
        )
        if not slowed:
            self._work(now, quiet=True)
            return
        self._quiet_s = 0.0
        self._yield_s = min(self._yield_s * 2, self.longest_s) if self.yielding else self.first_s
        self.yielding = True
        self.stand_back_s = self._yield_s

    def nothing_received(self) -> None:
        """The try due is not made: the webhook received next to nothing since the last full
        claim (a backlog drained after an outage, say): there is no webhook to give way to."""
        if not self.yielding:
            self.stand_back_s = 0.0

    def _work(self, now: float, *, quiet: bool) -> None:
        self.yielding = False
        self.stand_back_s = 0.0
        self._yield_s = 0.0
        if quiet:
            self._quiet_s = (
                min(self._quiet_s * 2, self.quietest_s) if self._quiet_s else self.quiet_s
            )
            self._next_try_at = now + self._quiet_s
        else:
            self._quiet_s = 0.0


class Received(NamedTuple):
    """The webhook's count of notifications received so far, and when (monotonic seconds)."""

    at: float
    total: int

    def rate_since(self, earlier: Received) -> float:
        if self.total <= earlier.total or self.at <= earlier.at:
            return 0.0
        return (self.total - earlier.total) / (self.at - earlier.at)


class LatestReceived:
    """The latest count the service sent (before the first: nothing received)."""

    def __init__(self) -> None:
        self._latest = Received(0.0, 0)

    def note(self, received: Received) -> None:
        self._latest = received

    def __call__(self) -> Received:
        return self._latest


class StandBack:
    """Runs the policy around the processor's claims: `turn()` before a claim returns when it
    may go ahead, the claim runs within `claiming()`, and `claimed(full)` follows it.
    `received()` is the webhook's latest count; `pause(s)` waits, and ends early when the
    processor stops."""

    def __init__(
        self,
        received: Callable[[], Received],
        pause: Callable[[float], Awaitable[None]],
        *,
        policy: StandBackPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_stood_back: Callable[[float], None] | None = None,
    ) -> None:
        self._received = received
        self._pause = pause
        self.policy = policy or StandBackPolicy()
        self._clock = clock
        self._on_stood_back = on_stood_back
        self._lock = asyncio.Lock()
        self._working: _Working | None = None
        self._busy_rate = 0.0  # the webhook's rate in the last window stood back
        self._seen: Received | None = None  # the count when a try was last due
        self._claims = Precedence()  # a stand-back gives way to the claims in flight

    def claiming(self) -> contextlib.AbstractContextManager[None]:
        """Around each claim, so that a stand-back waits for the claims in flight to end before
        it measures."""
        return self._claims.within()

    def claimed(self, *, full: bool) -> None:
        was_yielding = self.policy.yielding
        self.policy.claimed(self._clock(), full=full)
        if not full:
            self._working = None
        if was_yielding and not self.policy.yielding:
            log.info("processor.stand_back_ended", reason="caught_up")

    async def turn(self) -> None:
        async with self._lock:  # the claims in flight stand back together
            if self._working is not None and not self._judged():
                return
            if not self.policy.yielding and self.policy.stand_back_s and self._quiet():
                self.policy.nothing_received()
            stand_back_s = self.policy.stand_back_s
            if not stand_back_s:
                return
            await self._claims.give_way(most_s=CLAIMS_END_WITHIN_S)
            started = self._clock()
            window_s = min(self.policy.window_s, stand_back_s)
            if stand_back_s > window_s and self.policy.yielding:
                await self._stand_back_while_busy(stand_back_s - window_s)
            elif stand_back_s > window_s:
                await self._pause(stand_back_s - window_s)
            before = self._received()
            await self._pause(window_s)
            rate = self._received().rate_since(before)
            self._working = _Working(self._clock(), rate)
            self._busy_rate = rate
            if self._on_stood_back is not None:
                self._on_stood_back(self._clock() - started)

    async def _stand_back_while_busy(self, seconds: float) -> None:
        """Stand back `seconds`, or less if the webhook's load fell meanwhile (it receives far
        fewer than in the last window stood back): then the processor works again at once."""
        end = self._clock() + seconds
        while (left := end - self._clock()) > 0:
            before = self._received()
            await self._pause(min(self.policy.window_s * 2, left))
            if self._received().rate_since(before) * self.policy.margin < self._busy_rate:
                return

    def _quiet(self) -> bool:
        """Whether the webhook received too little since a try was last due to measure
        anything (so, the first time, always)."""
        now, latest = self._clock(), self._received()
        seen, self._seen = self._seen, latest
        if seen is None:
            return True
        return (latest.total - seen.total) * self.policy.window_s < LEAST_RECEIVED * max(
            latest.at - seen.at, self.policy.window_s, now - latest.at
        )

    def _judged(self) -> bool:
        """Whether the working time is over (and judged); until then claims go ahead."""
        working = self._working
        assert working is not None
        elapsed = self._clock() - working.since
        if working.measured_from is None:
            if elapsed >= self.policy.settle_s:
                working.measured_from = self._received()
            return False
        if elapsed < self.policy.working_s:
            return False
        rate_working = self._received().rate_since(working.measured_from)
        self._working = None
        was_yielding = self.policy.yielding
        self.policy.judge(
            self._clock(),
            received_standing_back=working.rate_standing_back,
            received_working=rate_working,
        )
        if self.policy.yielding != was_yielding:
            log.info(
                "processor.stand_back_started"
                if self.policy.yielding
                else "processor.stand_back_ended",
                received_standing_back=round(working.rate_standing_back),
                received_working=round(rate_working),
            )
        return True


@dataclass(slots=True)
class _Working:
    """The working time after a stand-back: since when, the webhook's rate while it stood back
    and the count where the measured part began (after SETTLE_S)."""

    since: float
    rate_standing_back: float
    measured_from: Received | None = None
