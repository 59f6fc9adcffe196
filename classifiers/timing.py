"""Interval arithmetic for the outcome's durations (ring, talk, hold, voicemail), and moments
moved by a duration without overflowing.

Intervals are (start, end) pairs of POSIX seconds. Durations are reported in seconds rounded to
milliseconds, the precision of RingCentral's `eventTime`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

Interval = tuple[float, float]


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of the intervals (empty ones dropped)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def clip(intervals: Iterable[Interval], low: float, high: float) -> list[Interval]:
    """The parts of the intervals inside [low, high]."""
    clipped = ((max(start, low), min(end, high)) for start, end in intervals)
    return [interval for interval in clipped if interval[1] > interval[0]]


def total(intervals: Iterable[Interval]) -> float:
    return sum(end - start for start, end in intervals)


def overlap(first: list[Interval], second: list[Interval]) -> float:
    """Total time covered by both lists; each list must already be merged (disjoint)."""
    shared = 0.0
    for start_a, end_a in first:
        for start_b, end_b in second:
            shared += max(0.0, min(end_a, end_b) - max(start_a, start_b))
    return shared


def seconds(value: float) -> float:
    """A duration as reported: never negative, rounded to milliseconds."""
    return round(max(value, 0.0), 3)


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, held at the ends of the calendar instead of overflowing (events stored
    before the webhook refused such dates may carry them)."""
    try:
        return moment + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(
            tzinfo=moment.tzinfo
        )
