"""Quarter-hour, hour and day buckets in an IANA time zone, matching the SQL in `stats_queries`.

Pure functions: the zone's UTC-offset changes inside a range (for the SQL CASE), the bucket key of
an instant, every bucket of a range (so empty buckets are reported too), and a bucket's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from service.api.stats_queries import DAY_S, INSTANT_BUCKETS, OffsetSpan

# Since 1970 no zone's offset changed twice within 6.9 days (tzdata 2025, every zone): a daily
# sample sees every change, and bisection finds its second. Days, not hours: a stats range may
# span 27 years of day buckets, and this runs on the event loop.
SCAN_STEP_S = DAY_S
EPOCH_DAY = date(1970, 1, 1)


def offset_at(zone: ZoneInfo, epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def offset_spans(zone: ZoneInfo, start: datetime, end: datetime) -> tuple[OffsetSpan, ...]:
    """The zone's UTC offsets over `[start, end)`, each with the instant it starts."""
    first, last = math.floor(start.timestamp()), math.ceil(end.timestamp())
    current = offset_at(zone, first)
    spans = [OffsetSpan(start=start, offset_s=current)]
    moment = first
    while moment < last:
        following = min(moment + SCAN_STEP_S, last)
        offset = offset_at(zone, following)
        if offset != current:
            change = _first_change(zone, moment, following, current)
            current = offset_at(zone, change)
            spans.append(OffsetSpan(datetime.fromtimestamp(change, UTC), current))
            following = change
        moment = following
    return tuple(spans)


def _first_change(zone: ZoneInfo, low: int, high: int, before: int) -> int:
    """The first second in `(low, high]` whose offset differs from `before`, `low`'s."""
    while high - low > 1:
        middle = (low + high) // 2
        if offset_at(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high


def bucket_key(group_by: str, zone: ZoneInfo, epoch: int) -> int:
    """The key the SQL gives a call that started at `epoch` (see stats_queries)."""
    offset = offset_at(zone, epoch)
    size = INSTANT_BUCKETS.get(group_by)
    if size is not None:
        return (epoch + offset) // size * size - offset
    return (epoch + offset) // DAY_S


def bucket_keys(
    group_by: str,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    spans: Sequence[OffsetSpan] | None = None,
) -> list[int]:
    """Every bucket that overlaps `[start, end)`, in time order: within each offset span the
    keys follow one another, so the work is one step per bucket (`spans`: `offset_spans`)."""
    first, last = math.floor(start.timestamp()), math.ceil(end.timestamp())
    spans = spans if spans is not None else offset_spans(zone, start, end)
    keys: set[int] = set()
    for index, span in enumerate(spans):
        low = max(first, math.floor(span.start.timestamp()))
        high = math.floor(spans[index + 1].start.timestamp()) if index + 1 < len(spans) else last
        if low < high:
            keys.update(_keys_between(group_by, span.offset_s, low, high - 1))
    return sorted(keys) or [bucket_key(group_by, zone, first)]


def _keys_between(group_by: str, offset: int, low: int, high: int) -> range:
    """The keys of the instants `low..high` (inclusive), all at one UTC offset."""
    size = INSTANT_BUCKETS.get(group_by)
    if size is not None:
        first = (low + offset) // size * size - offset
        return range(first, (high + offset) // size * size - offset + 1, size)
    return range((low + offset) // DAY_S, (high + offset) // DAY_S + 1)


def bucket_count_estimate(group_by: str, start: datetime, end: datetime) -> int:
    size = INSTANT_BUCKETS.get(group_by, DAY_S)
    return math.ceil((end - start).total_seconds() / size) + 1


def bucket_bounds(group_by: str, zone: ZoneInfo, key: int) -> tuple[datetime, datetime]:
    """A bucket's start and end, in the zone (ISO output carries the zone's offset)."""
    size = INSTANT_BUCKETS.get(group_by)
    if size is not None:
        return (
            datetime.fromtimestamp(key, UTC).astimezone(zone),
            datetime.fromtimestamp(key + size, UTC).astimezone(zone),
        )
    day = EPOCH_DAY + timedelta(days=key)
    return _local_midnight(day, zone), _local_midnight(day + timedelta(days=1), zone)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day (normalised through UTC, in case midnight is skipped)."""
    return datetime.combine(day, time(0), zone).astimezone(UTC).astimezone(zone)


def local_day_start(moment: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of `moment`'s local day, as an aware UTC instant."""
    return _local_midnight(moment.astimezone(zone).date(), zone).astimezone(UTC)


def local_day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of a local day and of the next, as aware UTC instants."""
    start = _local_midnight(day, zone).astimezone(UTC)
    return start, _local_midnight(day + timedelta(days=1), zone).astimezone(UTC)
