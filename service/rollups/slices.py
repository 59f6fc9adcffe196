"""UTC time slices of the rollups and how a range is covered by them (pure functions).

A slice is `(size, start)`: `size` 900 (a quarter hour), 3600 (an hour) or 86400 (a UTC day),
`start` its first second since the epoch, a multiple of `size`. Every zone's UTC offset is a
whole number of quarter hours, so every local hour, day and quarter hour is a run of whole
quarter slices; hours and days stand for 4 and 96 quarters so a month reads few rows.

Dirty marks are kept per quarter: a slice is clean when none of its quarters is marked.
`cover` splits `[start, end)` into the largest clean slices that fit and the raw ranges left:
the edges that are not whole quarters, and every dirty quarter.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

QUARTER_S = 900
HOUR_S = 3600
DAY_S = 86400
SIZES = (DAY_S, HOUR_S, QUARTER_S)  # largest first
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Slice = tuple[int, int]  # (size, start)
Range = tuple[datetime, datetime]


def epoch_of(moment: datetime) -> int:
    """Whole seconds since the epoch, rounded down (exact: no float)."""
    return (moment - EPOCH) // timedelta(seconds=1)


def instant(epoch: int) -> datetime:
    return EPOCH + timedelta(seconds=epoch)


def quarter_of(moment: datetime) -> int:
    """The start of the quarter slice that holds `moment`."""
    return epoch_of(moment) // QUARTER_S * QUARTER_S


def parent_of(piece: Slice) -> Slice | None:
    """The next larger slice that holds `piece` (None for a day)."""
    size, start = piece
    if size == DAY_S:
        return None
    larger = HOUR_S if size == QUARTER_S else DAY_S
    return larger, start // larger * larger


def children_of(piece: Slice) -> list[Slice]:
    size, start = piece
    smaller = HOUR_S if size == DAY_S else QUARTER_S
    return [(smaller, start + offset) for offset in range(0, size, smaller)]


@dataclass(slots=True)
class Cover:
    """How one range is read: rollup slices, and raw ranges (time order, adjacent ones merged)."""

    slices: list[Slice] = field(default_factory=list)
    raw: list[Range] = field(default_factory=list)

    def add_raw(self, start: datetime, end: datetime) -> None:
        if start >= end:
            return
        if self.raw and self.raw[-1][1] == start:
            self.raw[-1] = (self.raw[-1][0], end)
        else:
            self.raw.append((start, end))

    @property
    def raw_seconds(self) -> float:
        return sum((end - start).total_seconds() for start, end in self.raw)


class DirtyQuarters:
    """The marked quarters of a range, sorted, with a test for any of them inside a slice."""

    def __init__(self, quarters: Iterable[int]) -> None:
        self._sorted = sorted(set(quarters))

    def __len__(self) -> int:
        return len(self._sorted)

    def any_in(self, start: int, end: int) -> bool:
        index = bisect.bisect_left(self._sorted, start)
        return index < len(self._sorted) and self._sorted[index] < end


def cover(start: datetime, end: datetime, dirty: DirtyQuarters) -> Cover:
    """`[start, end)` as the largest clean slices that fit, and raw ranges for the rest."""
    result = Cover()
    first = -(-epoch_of(start) // QUARTER_S) * QUARTER_S
    if instant(first) < start:  # `start` has a fraction of a second
        first += QUARTER_S
    last = epoch_of(end) // QUARTER_S * QUARTER_S
    if first >= last:
        result.add_raw(start, end)
        return result
    result.add_raw(start, instant(first))
    moment = first
    while moment < last:
        size = _largest_clean(moment, last, dirty)
        if size is None:
            result.add_raw(instant(moment), instant(moment + QUARTER_S))
            moment += QUARTER_S
            continue
        result.slices.append((size, moment))
        moment += size
    result.add_raw(instant(last), end)
    return result


def _largest_clean(moment: int, last: int, dirty: DirtyQuarters) -> int | None:
    for size in SIZES:
        if moment % size == 0 and moment + size <= last and not dirty.any_in(moment, moment + size):
            return size
    return None


def in_ranges(ranges: Sequence[Range], starts: Sequence[datetime], moment: datetime) -> bool:
    """Whether `moment` is in one of `ranges` (sorted, disjoint; `starts` their starts)."""
    index = bisect.bisect_right(starts, moment) - 1
    return index >= 0 and moment < ranges[index][1]
