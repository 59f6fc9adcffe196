"""The stats aggregates read from the rollups (service/rollups/), exact, with the raw statements
of `stats_queries` kept as the fallback and the reference.

Why this design (rather than one row per category, reconciliation and histogram bucket holding
sums and an SLA count): a rollup row holds one slice's and one key's `Tally` whole, with the
waits per whole second and every time to abandon, so that
- counts, rates, the histogram and the maximum are exact, and so are the time-to-abandon
  percentiles: they are PostgreSQL's `percentile_cont` computed over the merged sorted values,
  the same numbers the raw statements give (no approximation to document);
- the service level is exact for any whole-second `sla_s` (answers per `ceil(wait_s)`); another
  `sla_s` is answered by the raw statements;
- the average speed of answer sums whole microseconds (exact, in any order);
- a report reads one row per slice and key: a month by day is 30 rows, by extension 30 per
  extension, in any zone the slices of its local days (hours, and quarters at half- and
  quarter-hour offsets).

A report: its range is cut into its groups' pieces (a time bucket, or the whole range for queue,
extension and agent groups), each piece covered by the largest clean slices that fit and raw
ranges for the rest (edges that are not whole quarters, and marked quarters); the raw calls of
those ranges are folded with the refresher's own code and merged with the rollups. The whole
range is covered once more for the totals (dimension `all`), which also give the recovery block.
The route reads everything in one snapshot (`snapshot_connection`), so marks, rollups and raw
rows agree. When the raw part is long (rollups not built yet, a backlog of marks) the raw
statements answer instead.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import ExtensionKind
from service.api.queries import RecoveryCounts, recovery_counts
from service.api.stats_queries import (
    ABANDONED,
    ANSWERED,
    DAY_S,
    HISTOGRAM_EDGES,
    INSTANT_BUCKETS,
    PERCENTILES,
    SHORT_ABANDON,
    GroupAggregate,
    OffsetSpan,
    StatsQuery,
    agent_leg_outcomes,
    aggregate_raw,
    percentile_cont,
)
from service.loopturns import LoopTurns
from service.ringcentral.queries import directory
from service.rollups import queries as rollup_queries
from service.rollups.fold import TallyKey, fold_calls, fold_legs, fold_recoverable, settled
from service.rollups.slices import (
    QUARTER_S,
    Cover,
    DirtyQuarters,
    Slice,
    cover,
    epoch_of,
    in_ranges,
    instant,
)
from service.rollups.tally import Tally, decode, merged

# Longer raw parts than this are left to the raw statements (one pass in the database).
RAW_LIMIT_S = 6 * 3600
AGENT_KIND = ExtensionKind.USER.value
TOTAL = "total"  # the group of a piece that is the whole range (None: a call outside the plan)


@dataclass(frozen=True, slots=True)
class Aggregated:
    groups: list[GroupAggregate]
    total: GroupAggregate
    legs: dict[str, dict[str, int]]  # agent reports: each agent's legs per leg outcome
    recovery: RecoveryCounts | None  # with `recovery=True`


@dataclass(slots=True)
class _Plan:
    """One dimension over some pieces of the range, each piece a group of the report."""

    dim: str
    pieces: list[tuple[Any, datetime, datetime]]  # (group, start, end), in time order
    by_slice: dict[Slice, Any]
    raw: Cover

    def group_of(self) -> Callable[[datetime], Any]:
        """The group of a raw call: None outside this plan's raw ranges."""
        ranges = self.raw.raw
        range_starts = [low for low, _ in ranges]
        starts = [piece[1] for piece in self.pieces]

        def group_of(moment: datetime) -> Any:
            if not in_ranges(ranges, range_starts, moment):
                return None
            return self.pieces[bisect.bisect_right(starts, moment) - 1][0]

        return group_of


async def aggregate(
    connection: AsyncConnection, query: StatsQuery, *, recovery: bool = False
) -> Aggregated:
    """The groups, totals (and agents' legs, recovery) of a report, from the rollups when they
    can answer exactly, else from the raw statements."""
    sla = int(query.sla_s) if float(query.sla_s).is_integer() else None
    if query.rollups and sla is not None:
        found = await from_rollups(connection, query, sla, recovery=recovery)
        if found is not None:
            return found
    return await _from_raw(connection, query, recovery=recovery)


async def _from_raw(
    connection: AsyncConnection, query: StatsQuery, *, recovery: bool
) -> Aggregated:
    groups, total = await aggregate_raw(connection, query)
    legs = await agent_leg_outcomes(connection, query) if query.group_by == "agent" else {}
    counts = (
        await recovery_counts(connection, start=query.start, end=query.end, include_short=True)
        if recovery
        else None
    )
    return Aggregated(groups, total, legs, counts)


def _pieces(query: StatsQuery) -> list[tuple[Any, datetime, datetime]]:
    """The report's time buckets as pieces of constant key (the SQL's key: see stats_queries)."""
    if query.group_by not in (*INSTANT_BUCKETS, "day"):
        return [(TOTAL, query.start, query.end)]
    size = INSTANT_BUCKETS.get(query.group_by, DAY_S)
    spans = query.spans or (OffsetSpan(query.start, 0),)
    pieces = []
    for index, span in enumerate(spans):
        low = max(query.start, span.start)
        following = spans[index + 1].start if index + 1 < len(spans) else query.end
        high = min(query.end, following)
        offset = span.offset_s
        while low < high:
            local = (epoch_of(low) + offset) // size
            boundary = min(high, instant((local + 1) * size - offset))
            key = local * size - offset if query.group_by in INSTANT_BUCKETS else local
            pieces.append((key, low, boundary))
            low = boundary
    return pieces


def _plan(dim: str, pieces: list[tuple[Any, datetime, datetime]], dirty: DirtyQuarters) -> _Plan:
    plan = _Plan(dim, pieces, {}, Cover())
    for group, start, end in pieces:
        piece = cover(start, end, dirty)
        for found in piece.slices:
            plan.by_slice[found] = group
        for low, high in piece.raw:
            plan.raw.add_raw(low, high)
    return plan


async def window_totals(
    connection: AsyncConnection, queries: Sequence[StatsQuery]
) -> list[GroupAggregate]:
    """The totals of several `group_by=all` reports (the poll's summary windows), read together:
    one statement each for the marks, the rollup rows, the raw calls and the recoverable calls
    of all the windows, instead of those four per window. Each total is the one `aggregate`
    gives for its query."""
    slas = {query.sla_s for query in queries}
    sla_s = slas.pop() if len(slas) == 1 else None
    if queries and sla_s is not None and float(sla_s).is_integer() and queries[0].rollups:
        dirty = await _dirty(
            connection, min(query.start for query in queries), max(query.end for query in queries)
        )
        plans = [_plan("all", [(TOTAL, query.start, query.end)], dirty) for query in queries]
        if all(plan.raw.raw_seconds <= RAW_LIMIT_S for plan in plans):
            tallies = await _read(connection, plans)
            return [
                to_aggregate(
                    None,
                    merged(found.get((TOTAL, "all", None), [])),
                    int(sla_s),
                    percentiles=query.percentiles,
                )
                for query, found in zip(queries, tallies, strict=True)
            ]
    return [(await aggregate(connection, query)).total for query in queries]


async def _dirty(connection: AsyncConnection, start: datetime, end: datetime) -> DirtyQuarters:
    """The marked quarters that can touch `[start, end)`."""
    return DirtyQuarters(
        await rollup_queries.dirty_quarters(
            connection, epoch_of(start) - QUARTER_S, epoch_of(end) + QUARTER_S
        )
    )


async def from_rollups(
    connection: AsyncConnection, query: StatsQuery, sla: int, *, recovery: bool = False
) -> Aggregated | None:
    """The aggregates from the rollups and the raw part they leave; None when that raw part is
    too long (the raw statements are then quicker). `sla`: the whole-second `sla_s`."""
    dirty = await _dirty(connection, query.start, query.end)
    dim = {"queue": "queue", "extension": "extension", "agent": "extension"}.get(
        query.group_by, "all"
    )
    plans = [_plan("all", [(TOTAL, query.start, query.end)], dirty)]
    if query.group_by != "all":
        plans.append(_plan(dim, _pieces(query), dirty))
    if any(plan.raw.raw_seconds > RAW_LIMIT_S for plan in plans):
        return None
    tallies = await _read(connection, plans)
    return await _combine(connection, query, plans, tallies, sla, recovery=recovery)


async def _read(
    connection: AsyncConnection, plans: list[_Plan]
) -> list[dict[TallyKey[Any], list[Tally]]]:
    """Each plan's tallies per (group, dimension, key): its rollup rows and its raw part."""
    slices = {piece for plan in plans for piece in plan.by_slice}
    rows = await rollup_queries.read_rollups(connection, {plan.dim for plan in plans}, slices)
    raw = rollup_queries.disjoint([r for plan in plans for r in plan.raw.raw])
    calls = await rollup_queries.raw_calls(connection, raw)
    recoverable = await rollup_queries.raw_recoverable(connection, raw)
    legs_needed = any(plan.dim == "extension" for plan in plans)
    legs = await rollup_queries.raw_legs(connection, raw) if legs_needed else []
    found: list[dict[TallyKey[Any], list[Tally]]] = []
    turns = LoopTurns()
    for plan in plans:
        parts: dict[TallyKey[Any], list[Tally]] = defaultdict(list)
        seen: set[tuple[str, str]] = set()
        for row in rows:
            group = plan.by_slice.get((row.size, row.start), _ABSENT)
            if row.dim == plan.dim and group is not _ABSENT:
                parts[group, row.dim, row.key].append(decode(row.content))
            await turns.turn()
        folded: dict[TallyKey[Any], Tally] = {}
        group_of = plan.group_of()
        async for call_part in turns.chunks(calls):
            fold_calls(call_part, group_of, {plan.dim}, folded)
        if plan.dim == "all":
            fold_recoverable(recoverable, group_of, folded)
        if plan.dim == "extension":
            async for leg_part in turns.chunks(legs):
                fold_legs(leg_part, group_of, folded, seen)
        for key, tally in settled(folded).items():
            parts[key].append(tally)
        found.append(parts)
    return found


_ABSENT = object()


async def _combine(
    connection: AsyncConnection,
    query: StatsQuery,
    plans: list[_Plan],
    tallies: list[dict[TallyKey[Any], list[Tally]]],
    sla: int,
    *,
    recovery: bool,
) -> Aggregated:
    whole = merged(tallies[0].get((TOTAL, "all", None), []))
    total = to_aggregate(None, whole, sla, percentiles=query.percentiles)
    if query.group_by == "all":
        return Aggregated([], total, {}, _recovery(whole) if recovery else None)
    keyed = query.group_by in ("queue", "extension", "agent")
    by_group: dict[Any, list[Tally]] = defaultdict(list)
    for (group, _dim, key), parts in tallies[1].items():
        by_group[key if keyed else group].extend(parts)
    if query.group_by == "agent":
        others = {row.extension_id for row in await directory(connection) if row.kind != AGENT_KIND}
        by_group = {key: parts for key, parts in by_group.items() if key not in others}
    groups: list[GroupAggregate] = []
    legs: dict[str, dict[str, int]] = {}
    turns = LoopTurns()
    for key, parts in by_group.items():
        await turns.turn()
        tally = merged(parts)
        if not tally.counts:
            continue
        groups.append(to_aggregate(key, tally, sla, percentiles=query.percentiles))
        if query.group_by == "agent":
            legs[key] = dict(tally.legs)
    return Aggregated(groups, total, legs, _recovery(whole) if recovery else None)


def to_aggregate(key: Any, tally: Tally, sla: int, *, percentiles: bool) -> GroupAggregate:
    """A group's aggregates from its merged tally (the same figures the raw statements give)."""
    group = GroupAggregate(key=key)
    for category, state, calls in tally.by_category():
        group.offered += calls
        group.categories[category] = group.categories.get(category, 0) + calls
        group.reconciliation[state] = group.reconciliation.get(state, 0) + calls
        if category == ANSWERED:
            group.answered += calls
        elif category == SHORT_ABANDON:
            group.short_abandons += calls
        elif category in ABANDONED:
            group.long_abandons += calls
    group.wait_count = sum(tally.waits.values())
    group.answered_within_sla = sum(n for ceiling, n in tally.waits.items() if ceiling <= sla)
    group.answered_wait_unknown = group.answered - group.wait_count
    group.wait_sum_us = tally.wait_sum_us
    group.histogram = _histogram(tally.ttas)
    group.tta_max = tally.ttas[-1] if tally.ttas else None
    if percentiles:
        group.tta_percentiles = {
            p: percentile_cont(tally.ttas, len(tally.ttas), p) for p in PERCENTILES
        }
    return group


def _histogram(ttas: Sequence[float]) -> list[int]:
    """Counts per histogram bucket (`tta < 5`, `5 <= tta < 10`, ..., `tta >= 300`)."""
    below = [bisect.bisect_left(ttas, edge) for edge in HISTOGRAM_EDGES[1:]]
    bounds = [0, *below, len(ttas)]
    return [high - low for low, high in itertools.pairwise(bounds)]


def _recovery(whole: Tally) -> RecoveryCounts:
    """The recovery block as `recovery_counts` computes it (median of the middle values)."""
    recovered = whole.recovered
    if not recovered:
        return RecoveryCounts(whole.recoverable, 0, None)
    first = (recovered - 1) // 2
    middle = whole.recovery_times[first : first + 2 - recovered % 2]
    return RecoveryCounts(whole.recoverable, recovered, sum(middle) / len(middle))
