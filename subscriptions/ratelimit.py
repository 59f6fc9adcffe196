"""Client-side pacing for RingCentral's per-user rate-limit groups (DESIGN.md section 2).

RingCentral allows each (user, app) a number of requests per 60 s window per group, and every
request made during a penalty window restarts the penalty. Pacing ourselves below the limit is
cheaper than being told 429, so each request first takes a slot here.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
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


class RateLimiter:
    """A sliding window per (user key, group); `acquire` waits for a free slot."""

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
        self._sent: dict[tuple[str, RateGroup], deque[float]] = {}

    async def acquire(self, key: str, group: RateGroup) -> None:
        sent = self._sent.setdefault((key, group), deque())
        limit = self._limits[group]
        while True:
            now = self._clock()
            while sent and now - sent[0] >= self._window_s:
                sent.popleft()
            if len(sent) < limit:
                sent.append(now)
                return
            await self._sleep(self._window_s - (now - sent[0]))
