"""The abandoned poll's summary block, cached so an unchanged poll never scans outcomes.

The windows (last hour, last 24 h, today in `report_tz`) end at `as_of`: the current time rounded
down to a multiple of `summary_max_age_s` (one minute by default). A cached summary is reused
while the change counter (`outcome_changes.last_seq`) stays where it was and `as_of` has not moved
on, so the rolling windows are recomputed at most once a minute, or at once when an outcome
changes. Rounding `as_of` makes replicas behind a load balancer compute the same summary (and so
the same ETag) for the same state.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api.buckets import local_day_start
from service.api.live import live_now
from service.api.report import rates
from service.api.rollup_stats import window_totals
from service.api.stats_queries import StatsQuery

HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class CachedSummary:
    last_seq: int
    as_of: datetime
    body: dict[str, Any]
    digest: str


def summary_as_of(now: datetime, max_age_s: float) -> datetime:
    rounded = math.floor(now.timestamp() / max_age_s) * max_age_s
    return datetime.fromtimestamp(rounded, UTC)


def _window_queries(
    windows: list[tuple[datetime, datetime]], sla_s: float, *, rollups: bool
) -> list[StatsQuery]:
    return [
        StatsQuery(
            start=start, end=end, group_by="all", sla_s=sla_s, percentiles=False, rollups=rollups
        )
        for start, end in windows
    ]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def compute_summary(
    connection: AsyncConnection,
    *,
    as_of: datetime,
    zone: ZoneInfo,
    sla_s: float,
    rollups: bool = True,
) -> dict[str, Any]:
    """The summary block (schema `Summary`) for windows ending at `as_of`. The windows come from
    the stats rollups and the calls they leave (`rollups=False`: from the calls alone), so
    `connection` must read one snapshot (`snapshot_connection`)."""
    windows = {
        "last_hour": (as_of - HOUR, as_of),
        "last_24h": (as_of - DAY, as_of),
        "today": (local_day_start(as_of, zone), as_of),
    }
    totals = await window_totals(
        connection, _window_queries(list(windows.values()), sla_s, rollups=rollups)
    )
    body: dict[str, Any] = {"as_of": _iso(as_of), "time_zone": zone.key}
    for (name, (start, end)), total in zip(windows.items(), totals, strict=True):
        body[name] = {"start": _iso(start), "end": _iso(end), **rates(total)}
    body["live"] = await live_now(connection)
    return body


class SummaryCache:
    """One summary per process; concurrent polls that find it stale compute it once."""

    def __init__(self, *, zone: ZoneInfo, max_age_s: float, sla_s: float) -> None:
        self._zone = zone
        self._max_age_s = max_age_s
        self._sla_s = sla_s
        self._current: CachedSummary | None = None
        self._lock = asyncio.Lock()

    def _fresh(self, last_seq: int, as_of: datetime) -> CachedSummary | None:
        current = self._current
        if current is not None and current.last_seq == last_seq and current.as_of == as_of:
            return current
        return None

    def peek(self, *, last_seq: int, now: datetime) -> CachedSummary | None:
        """The summary `get` would return, if it is cached; never computes one."""
        return self._fresh(last_seq, summary_as_of(now, self._max_age_s))

    async def get(
        self, connection: AsyncConnection, *, last_seq: int, now: datetime
    ) -> CachedSummary:
        as_of = summary_as_of(now, self._max_age_s)
        cached = self._fresh(last_seq, as_of)
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._fresh(last_seq, as_of)
            if cached is not None:
                return cached
            body = await compute_summary(
                connection, as_of=as_of, zone=self._zone, sla_s=self._sla_s
            )
            digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()
            self._current = CachedSummary(last_seq, as_of, body, digest[:16])
            return self._current
