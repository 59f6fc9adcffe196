"""Long CPU work inside a request, cut into turns so the event loop it shares with the webhook
is never held for long: `LoopTurns.turn()` yields to the loop once `slice_s` of work has gone by
since the last turn (a clock read otherwise), so callers may call it once per row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

SLICE_S = 0.005
CHUNK = 1000  # items handed out between two looks at the clock (`LoopTurns.chunks`)

T = TypeVar("T")


class LoopTurns:
    def __init__(self, slice_s: float | None = None) -> None:
        self._slice_s = SLICE_S if slice_s is None else slice_s
        self._since = time.perf_counter()
        self.turns = 0

    async def turn(self) -> None:
        if time.perf_counter() - self._since >= self._slice_s:
            await asyncio.sleep(0)
            self.turns += 1
            self._since = time.perf_counter()

    async def chunks(self, items: Sequence[T], size: int = CHUNK) -> AsyncIterator[Sequence[T]]:
        """`items` in slices of `size`, with a turn after each."""
        for first in range(0, len(items), size):
            yield items[first : first + size]
            await self.turn()
