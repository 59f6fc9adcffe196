"""`GET /v1/stats/outcomes`: abandon rates, service level and answer/abandon times per group.

Definitions (docs/api.md has them with examples); the population is every final inbound or
internal call whose `started_at` is in `[from, to)`:
- offered: the calls of the population (of the group);
- answered: category `answered`; S: category `short_abandon`;
- L (long abandons): `is_abandoned` and not `short_abandon`;
- abandon_rate = L / (offered - S); abandon_rate_gross = (L + S) / offered;
- service_level = (answered with wait_s <= sla_s) / (answered + L);
- average speed of answer: mean wait_s of answered calls;
- time to abandon p50 / p90 / max and the histogram: over all abandons (L + S).

By extension or agent a group is the calls that reached that extension (a leg); an agent group
also counts the agent's own legs per leg outcome, with her miss rate (`service.api.groups`).
Extension, agent and queue groups carry the directory's name and extension number.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from service.api import buckets
from service.api.callbacks import recovery_block
from service.api.deps import ERROR_RESPONSES, snapshot_connection
from service.api.documents import iso
from service.api.groups import Directory, agent_legs, all_agents_legs
from service.api.params import TimeFrom, TimeTo, api_time, check_order, parse_zone
from service.api.report import describe
from service.api.rollup_stats import aggregate
from service.api.running_service import services_of
from service.api.schemas import StatsReport
from service.api.stats_queries import GroupAggregate, StatsQuery
from service.errors import ApiError
from service.responses import OrjsonResponse
from service.ringcentral.queries import directory

router = APIRouter(tags=["stats"])

DEFAULT_RANGE = timedelta(hours=24)
MAX_BUCKETS = 10_000


class GroupBy(StrEnum):
    HOUR = "hour"
    DAY = "day"
    EXTENSION = "extension"
    AGENT = "agent"
    QUEUE = "queue"


@dataclass(frozen=True, slots=True)
class GroupLabels:
    """What the report adds to extension, agent and queue groups."""

    directory: Directory
    legs: dict[str, dict[str, int]] | None = None  # agent reports: legs per agent and outcome

    def describe(self, group: GroupAggregate, group_by: str) -> dict[str, Any]:
        described = describe(group, group.key, None)
        described |= self.directory.who(group_by, group.key).fields()
        if self.legs is not None:
            described["legs"] = agent_legs(self.legs.get(group.key))
        return described


def _describe_groups(
    groups: list[GroupAggregate], query: StatsQuery, zone: ZoneInfo, labels: GroupLabels | None
) -> list[dict[str, Any]]:
    if labels is not None:
        ordered = sorted(groups, key=lambda group: (group.key is None, group.key or ""))
        return [labels.describe(group, query.group_by) for group in ordered]
    found = {group.key: group for group in groups}
    group_by = query.group_by
    described = []
    for key in buckets.bucket_keys(group_by, zone, query.start, query.end, query.spans):
        bounds = buckets.bucket_bounds(group_by, zone, key)
        group = found.get(key) or GroupAggregate(key=key, tta_percentiles={})
        described.append(describe(group, bounds[0].isoformat(), bounds))
    return described


async def _labels(
    connection: AsyncConnection, group_by: GroupBy, legs: dict[str, dict[str, int]]
) -> GroupLabels | None:
    if group_by in (GroupBy.HOUR, GroupBy.DAY):
        return None
    names = Directory.of(await directory(connection))
    return GroupLabels(names, legs if group_by is GroupBy.AGENT else None)


async def build_report(
    connection: AsyncConnection,
    *,
    start: datetime,
    end: datetime,
    group_by: GroupBy,
    zone: ZoneInfo,
    sla_s: float,
    rollups: bool = True,
) -> dict[str, Any]:
    """The whole /v1/stats/outcomes answer (schema `StatsReport`); `rollups=False` computes it
    from the calls alone (the reference the rollups are tested against)."""
    by_time = group_by in (GroupBy.HOUR, GroupBy.DAY)
    # only time buckets need the zone's offsets; the range of the others is not capped
    spans = buckets.offset_spans(zone, start, end) if by_time else ()
    query = StatsQuery(
        start=start,
        end=end,
        group_by=group_by.value,
        sla_s=sla_s,
        spans=spans,
        rollups=rollups,
    )
    found = await aggregate(connection, query, recovery=True)
    labels = await _labels(connection, group_by, found.legs)
    # up to 10,000 buckets take ~0.3 s to describe: in a thread, so the event loop goes on
    described = await asyncio.to_thread(_describe_groups, found.groups, query, zone, labels)
    totals = describe(found.total, None, None)
    assert found.recovery is not None  # asked for
    if labels is not None and labels.legs is not None:
        totals["legs"] = all_agents_legs(labels.legs.values())
    return {
        "start": iso(start),
        "end": iso(end),
        "group_by": group_by.value,
        "tz": zone.key,
        "sla_s": sla_s,
        "groups": described,
        "totals": totals,
        "recovery": recovery_block(found.recovery),
    }


def _window(
    started_from: datetime | None, started_to: datetime | None, group_by: GroupBy, now: datetime
) -> tuple[datetime, datetime]:
    given_start = api_time(started_from, "from") if started_from else None
    end = api_time(started_to, "to") if started_to else now
    start = given_start or end - DEFAULT_RANGE
    check_order(start, end)
    is_time = group_by in (GroupBy.HOUR, GroupBy.DAY)
    if is_time and buckets.bucket_count_estimate(group_by.value, start, end) > MAX_BUCKETS:
        message = f"group_by: more than {MAX_BUCKETS} {group_by.value} buckets; narrow the range"
        raise ApiError(422, "invalid_parameter", message, parameter="group_by")
    return start, end


@router.get(
    "/stats/outcomes",
    response_model=StatsReport,
    responses=ERROR_RESPONSES,
    summary="Outcome metrics per hour, day, extension, agent or queue",
)
async def outcome_stats(
    request: Request,
    connection: Annotated[AsyncConnection, Depends(snapshot_connection)],
    started_from: TimeFrom = None,
    started_to: TimeTo = None,
    group_by: Annotated[
        GroupBy,
        Query(
            description="Group calls by `hour` or `day` of `started_at` (in `tz`), by "
            "`extension` (each extension that had a leg in the call), by `agent` (each user "
            "extension that had a leg, with its leg outcomes and miss rate) or by `queue`.",
        ),
    ] = GroupBy.HOUR,
    tz: Annotated[
        str,
        Query(
            description="IANA time zone of the hour/day buckets.",
            examples=["UTC", "America/New_York"],
        ),
    ] = "UTC",
    sla_s: Annotated[
        float | None,
        Query(
            ge=0,
            le=86400,
            description="Service-level threshold in seconds (default: the service's `sla_s`). "
            "A whole number of seconds is answered from the stats rollups; one with a fraction "
            "from the calls themselves (the same exact figures, slower over long ranges).",
            examples=[20],
        ),
    ] = None,
) -> OrjsonResponse:
    """Per group: counts per category, offered, answered, abandons (long and short), net and
    gross abandon rates, service level, average speed of answer, time to abandon p50/p90/max and
    its histogram; extension, agent and queue groups carry their directory name and number, and
    agent groups their leg outcomes and miss rate. `from` defaults to 24 h before `to`, `to` to
    now. Every figure is exact, the time-to-abandon percentiles included (docs/api.md, "Rollups:
    what is exact")."""
    services = services_of(request)
    zone = parse_zone(tz)
    start, end = _window(started_from, started_to, group_by, services.clock())
    threshold = sla_s if sla_s is not None else services.settings.sla_s
    report = await build_report(
        connection, start=start, end=end, group_by=group_by, zone=zone, sla_s=threshold
    )
    return OrjsonResponse(report)
