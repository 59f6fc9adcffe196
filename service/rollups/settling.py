"""Which marked quarters the rollup refresher recomputes on a pass: those whose calls stopped
changing.

A quarter that calls are still being written to is marked again by the next claim, a few
milliseconds after any recomputation, so reports read it from the calls whatever the refresher
does; recomputing it on every pass only costs the processor's process time, in proportion to
the quarter's calls (at 450 calls a second, a current quarter of 15,000 calls recomputed every
two seconds held claims back by up to half a second). So a quarter is recomputed on the first
pass that finds no mark newer than the previous pass found (no write for one interval), or once
it has waited `most_deferred_s`: a quarter written to without a pause still gets its rollup, and
its marks (one per claim that wrote to it, which reports look up by quarter) stop piling up.
Pure: the caller gives the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from service.rollups.queries import PendingQuarter

MOST_DEFERRED_S = 60.0


@dataclass(frozen=True, slots=True)
class _Seen:
    newest_mark: int
    since: float  # when a pass first found the quarter marked


class Settling:
    def __init__(self, most_deferred_s: float = MOST_DEFERRED_S) -> None:
        self._most_deferred_s = most_deferred_s
        self._seen: dict[int, _Seen] = {}

    def ready(self, pending: Iterable[PendingQuarter], now: float) -> list[int]:
        """The quarters to recompute now, in the order given; the others are remembered for the
        next pass (and only those: a quarter no longer pending is forgotten)."""
        ready: list[int] = []
        waiting: dict[int, _Seen] = {}
        for marked in pending:
            seen = self._seen.get(marked.quarter)
            if seen is not None and (
                seen.newest_mark == marked.newest_mark or now - seen.since >= self._most_deferred_s
            ):
                ready.append(marked.quarter)
            else:
                since = now if seen is None else seen.since
                waiting[marked.quarter] = _Seen(marked.newest_mark, since)
        self._seen = waiting
        return ready
