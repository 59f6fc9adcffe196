"""A day in 15-minute buckets against a normal day: the logic of `GET /v1/stats/trend`.

The day is the local calendar day in the report's zone, `[midnight, next midnight)`, cut into the
quarter-hour buckets of `stats_queries` (96; 92 when the clocks go forward an hour, 100 when
they go back, and so on for other steps). Each bucket has that day's counts (offered, answered,
abandoned L + S, long L, short S) and rates (net and gross, as the stats module defines them).

The normal day is the same weekday of each of the `weeks` weeks before, counting only the days
with at least one offered call (a day before callsift ran, or the office closed, says nothing of
a normal day). A bucket's normal figures are the counts of the bucket at the same local time
(hour, minute and, in the repeated hour of a fall-back, which of the two) averaged over the
counted days that have it; the repeated hour of the day itself, absent from ordinary days, is
compared with the first occurrence of that local time. Normal rates are computed from the summed
counts (a ratio of averages, never an average of ratios). The totals compare the whole day with
the counted days' whole-day averages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from service.api import buckets
from service.api.documents import iso
from service.api.report import rates
from service.api.rollup_stats import aggregate
from service.api.stats_queries import QUARTER_S, GroupAggregate, StatsQuery

Slot = tuple[int, int, int]  # local hour, minute, fold (1: the second of a repeated hour)
COUNTS = ("offered", "answered", "abandoned", "long_abandons", "short_abandons")


@dataclass(frozen=True, slots=True)
class DayBuckets:
    day: date
    start: datetime
    end: datetime
    keys: list[int]  # bucket starts (epoch seconds), in time order
    by_slot: dict[Slot, GroupAggregate]  # every bucket of the day, empty ones included
    total: GroupAggregate


def slot_of(key: int, zone: ZoneInfo) -> Slot:
    local = datetime.fromtimestamp(key, zone)
    return local.hour, local.minute, local.fold


async def day_buckets(
    connection: AsyncConnection, day: date, zone: ZoneInfo, sla_s: float
) -> DayBuckets:
    """One local day's quarter-hour aggregates: one index range scan of that day's calls."""
    start, end = buckets.local_day_bounds(day, zone)
    spans = buckets.offset_spans(zone, start, end)
    query = StatsQuery(
        start=start, end=end, group_by="quarter", sla_s=sla_s, spans=spans, percentiles=False
    )
    aggregated = await aggregate(connection, query)
    total = aggregated.total
    found = {group.key: group for group in aggregated.groups}
    # a day skipped whole (Apia, 30 December 2011) has no bucket
    keys = buckets.bucket_keys("quarter", zone, start, end, spans) if start < end else []
    by_slot = {slot_of(key, zone): found.get(key) or GroupAggregate(key=key) for key in keys}
    return DayBuckets(day, start, end, keys, by_slot, total)


def figures(group: GroupAggregate) -> dict[str, Any]:
    """A bucket's or a day's counts and rates (schema `AbandonFigures`)."""
    described = rates(group)
    del described["time_to_abandon_histogram"]
    return described


def _summed(groups: Iterable[GroupAggregate]) -> GroupAggregate:
    total = GroupAggregate(key=None)
    for group in groups:
        total.offered += group.offered
        total.answered += group.answered
        total.long_abandons += group.long_abandons
        total.short_abandons += group.short_abandons
    return total


def normal_figures(groups: Sequence[GroupAggregate]) -> dict[str, Any]:
    """The average of some days' figures (schema `NormalFigures`); null without a day."""
    days = len(groups)
    summed = figures(_summed(groups))
    averaged = {name: summed[name] / days if days else None for name in COUNTS}
    return summed | averaged | {"days": days}


def _compared_bucket(day: DayBuckets, slot: Slot) -> GroupAggregate | None:
    found = day.by_slot.get(slot)
    if found is None and slot[2] == 1:  # the repeated hour: its first occurrence
        found = day.by_slot.get((slot[0], slot[1], 0))
    return found


def trend(
    today: DayBuckets, previous: Sequence[DayBuckets], zone: ZoneInfo, as_of: datetime
) -> dict[str, Any]:
    """The whole /v1/stats/trend answer (schema `TrendReport`)."""
    counted = [day for day in previous if day.total.offered > 0]
    described = []
    for key in today.keys:
        start, end = buckets.bucket_bounds("quarter", zone, key)
        slot = slot_of(key, zone)
        compared = [found for day in counted if (found := _compared_bucket(day, slot))]
        described.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "local_time": f"{slot[0]:02d}:{slot[1]:02d}",
                "day": figures(today.by_slot[slot]),
                "normal": normal_figures(compared),
            }
        )
    return {
        "date": today.day.isoformat(),
        "tz": zone.key,
        "start": today.start.astimezone(zone).isoformat(),
        "end": today.end.astimezone(zone).isoformat(),
        "as_of": iso(as_of),
        "bucket_s": QUARTER_S,
        "weeks": len(previous),
        "compared_days": [
            {
                "date": day.day.isoformat(),
                "offered": day.total.offered,
                "counted": day.total.offered > 0,
            }
            for day in previous
        ],
        "buckets": described,
        "totals": {
            "day": figures(today.total),
            "normal": normal_figures([day.total for day in counted]),
        },
    }


async def build_trend(
    connection: AsyncConnection,
    *,
    day: date,
    weeks: int,
    zone: ZoneInfo,
    sla_s: float,
    as_of: datetime,
) -> dict[str, Any]:
    """The day and the same weekday of each of the `weeks` weeks before, one query each."""
    today = await day_buckets(connection, day, zone, sla_s)
    previous = [
        await day_buckets(connection, day - timedelta(weeks=week), zone, sla_s)
        for week in range(1, weeks + 1)
    ]
    return trend(today, previous, zone, as_of)
