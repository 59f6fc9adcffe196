"""The simulated clock: real time plus an offset that only moves forward.

The demo runs at real pace; tests move time with `advance` to reach token and subscription expiry
without waiting. `sleep_until` wakes early when the clock is advanced, so scenario playback and the
clock stay consistent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """RingCentral's timestamp format: UTC, milliseconds, `Z` suffix."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """Parse an ISO 8601 timestamp (with `Z` or an offset); naive values are taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class SimClock:
    """`now()` is real time plus an offset; `advance` moves the offset forward."""

    def __init__(self, real_now: Callable[[], datetime] = utc_now) -> None:
        self._real_now = real_now
        self._offset = timedelta(0)
        self._moved = asyncio.Event()

    @property
    def offset_s(self) -> float:
        return self._offset.total_seconds()

    def now(self) -> datetime:
        return self._real_now() + self._offset

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            msg = "the clock only moves forward"
            raise ValueError(msg)
        self._offset += timedelta(seconds=seconds)
        self._wake()
        return self.now()

    def advance_to(self, moment: datetime) -> datetime:
        gap = (moment - self.now()).total_seconds()
        return self.advance(gap) if gap > 0 else self.now()

    def reset(self) -> None:
        self._offset = timedelta(0)
        self._wake()

    async def sleep_until(self, moment: datetime, *, speed: float = 1.0) -> None:
        """Wait until `now() >= moment`; with `speed` > 1 simulated time runs faster than real time
        (the clock is advanced by the difference), and an `advance` wakes the wait at once."""
        while (remaining := (moment - self.now()).total_seconds()) > 0:
            moved = self._moved
            try:
                await asyncio.wait_for(moved.wait(), timeout=remaining / speed)
            except TimeoutError:
                if speed != 1.0:
                    self.advance_to(moment)

    def _wake(self) -> None:
        self._moved.set()
        self._moved = asyncio.Event()
