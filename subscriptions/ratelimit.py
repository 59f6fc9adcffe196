"""Client-side pacing for RingCentral's per-user rate-limit groups (docs/operations.md).

RingCentral allows each (user, app) a number of requests per 60 s window per group, and every
request made during a penalty window restarts the penalty. Pacing ourselves below the limit is
cheaper than being told 429, so each request first takes a slot here; after a 429 the whole
(user, group) waits out the penalty, so concurrent callers do not restart it.

RingCentral counts a request when it arrives, which is after we took its slot. A slot therefore
counts from the moment its answer came back (`answered`), not from when it was taken: otherwise a
slow request and a fast one could fall into one server-side window while our window saw them
60 s apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum


class RateGroup(StrEnum):
    LIGHT = "Light"
    MEDIUM = "Medium"
    HEAVY = "Heavy"
    AUTH = "Auth"


DEFAULT_LIMITS: dict[RateGroup, int] = {
    RateGroup.LIGHT: 50,
    RateGroup.MEDIUM: 40,
    RateGroup.HEAVY: 10,
    RateGroup.AUTH: 5,
}
WINDOW_S = 60.0


@dataclass(slots=True)
class RateSlot:
    """One request's place in its window: `at` is when it was sent, then when it was answered."""

    at: float


class RateLimiter:
    """A sliding window per (user key, group); `acquire` waits for a free slot and for the end of
    any penalty RingCentral imposed on the key and group."""

    def __init__(
        self,
        limits: dict[RateGroup, int] | None = None,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._limits = limits or DEFAULT_LIMITS
        self._window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[tuple[str, RateGroup], list[RateSlot]] = {}
        self._penalty_until: dict[tuple[str, RateGroup], float] = {}

    async def acquire(
        self, key: str, group: RateGroup, *, penalty_served: float | None = None
    ) -> RateSlot:
        """Wait until a request of `key` in `group` may be sent, and count it.

        `penalty_served` is a penalty deadline (from `penalize`) the caller has already waited
        out itself; only a later deadline makes it wait again.
        """
        slot_key = (key, group)
        sent = self._sent.setdefault(slot_key, [])
        limit = self._limits[group]
        waited_until = penalty_served
        while True:
            now = self._clock()
            until = self._penalty_until.get(slot_key)
            in_penalty = until is not None and now < until
            if in_penalty and until is not None and (waited_until is None or until > waited_until):
                await self._sleep(until - now)
                # one sleep per deadline: a sleep that wakes a hair early must not spin
                waited_until = until
                continue
            sent[:] = [slot for slot in sent if now - slot.at < self._window_s]
            if len(sent) < limit:
                slot = RateSlot(now)
                sent.append(slot)
                return slot
            oldest = min(slot.at for slot in sent)
            await self._sleep(self._window_s - (now - oldest))

    def answered(self, slot: RateSlot) -> None:
        """The request of `slot` got its answer (or failed): its window counts from now."""
        slot.at = max(slot.at, self._clock())

    def penalize(self, key: str, group: RateGroup, seconds: float) -> float:
        """RingCentral answered 429: no request of `key` in `group` until `seconds` have passed.
        Returns the deadline, for the caller that waits it out itself."""
        slot_key = (key, group)
        until = max(self._penalty_until.get(slot_key, float("-inf")), self._clock() + seconds)
        self._penalty_until[slot_key] = until
        return until
