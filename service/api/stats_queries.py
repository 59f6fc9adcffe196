"""SQL of the outcome statistics: aggregation passes over the calls that started in a range.
Reports read the rollups first (service/api/rollup_stats.py); these statements are the raw path
they fall back to, and the reference they are tested against.

The population is every final inbound or internal call whose `started_at` is in `[start, end)`,
service sessions (category `service_call`: greeting recordings, test calls, conference bridges;
docs/outcomes.md section 5) left out: they were never offered.
Two statements read it, on both databases:

1. counts: `GROUP BY key, category, reconciliation, histogram bucket` with count, sum (in whole
   microseconds: an exact integer, as the rollups keep it) and count of `wait_s`,
   answers within the SLA and the largest time to abandon. The category decides answered, short
   and long abandons, so a group's metrics are sums of these few rows (folded here in Python).
   A day of 100,000 calls gives a few hundred rows.
2. percentiles of the time to abandon, over the abandons only, with one definition everywhere,
   PostgreSQL's `percentile_cont` (linear interpolation between the two nearest ranks):

       pos = p * (n - 1);  lo = floor(pos);  hi = ceil(pos)
       value = v[lo] + (v[hi] - v[lo]) * (pos - lo)        (v sorted ascending, 0-based)

   PostgreSQL runs `percentile_cont` itself (groups and total in one pass with GROUPING SETS);
   SQLite ranks the values with window functions and returns only the rows at `lo` and `hi`, to
   which the same formula is applied here (IEEE doubles on both sides: identical results).

Time buckets are computed the same way on both databases from the epoch: `offset` is the zone's
UTC offset at the call's start (a CASE over the zone's offset changes in the range, computed from
the IANA database by the caller), and

    quarter or hour bucket = floor((epoch + offset) / size) * size - offset   (size 900 or 3600;
                                                                  the bucket's UTC start)
    day bucket = floor((epoch + offset) / 86400)                 (local days since 1970-01-01)

so the repeated hour of a DST fall-back is two buckets (two different instants), as it should be.

By extension or agent the population is joined to the legs in range, each (call, extension)
once; agents are extensions the directory knows as users or does not know at all (`_is_agent`).
A third statement (`agent_leg_outcomes`) counts the agents' legs per leg outcome on the same
calls. Every statement reads only the calls (and legs) whose `started_at` is in `[start, end)`,
through a range on an index. The indexes `ix_call_outcomes_stats` and `ix_call_legs_started`
hold every column these statements read (the legs' index carries their outcome since migration
0008), so PostgreSQL can answer them from the indexes alone, without visiting the wide rows.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Integer,
    Select,
    Subquery,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Grouping

from classifiers.outcome import (
    ABANDONED_CATEGORIES,
    Category,
    ExtensionKind,
    LegOutcomeKind,
    Reconciliation,
)
from service.db.sql import is_postgres
from service.db.tables import call_legs, call_outcomes, directory_entries
from service.rollups.queries import NOT_OFFERED, offered

GroupBy = Literal["quarter", "hour", "day", "extension", "agent", "queue", "all"]

OUTBOUND_CATEGORIES = frozenset(
    {
        Category.OUTBOUND_CONNECTED,
        Category.OUTBOUND_UNANSWERED,
        Category.OUTBOUND_FAILED,
        Category.IN_PROGRESS,
    }
)
# The categories an offered (final, inbound or internal) call can have, in taxonomy order.
REPORTED_CATEGORIES = tuple(
    c.value for c in Category if c not in OUTBOUND_CATEGORIES and c.value != NOT_OFFERED
)
ABANDONED = frozenset(category.value for category in ABANDONED_CATEGORIES)
RECONCILIATIONS = tuple(state.value for state in Reconciliation)
ANSWERED = Category.ANSWERED.value
SHORT_ABANDON = Category.SHORT_ABANDON.value
LEG_OUTCOMES = tuple(kind.value for kind in LegOutcomeKind)
AGENT_KIND = ExtensionKind.USER.value
HISTOGRAM_EDGES = (0.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)  # the last bucket is 300+
PERCENTILES = (0.5, 0.9)
QUARTER_S = 900
HOUR_S = 3600
DAY_S = 86400
# Buckets keyed by their UTC start (the others are local day numbers), with their length.
INSTANT_BUCKETS = {"quarter": QUARTER_S, "hour": HOUR_S}


@dataclass(frozen=True, slots=True)
class OffsetSpan:
    """From `start` (UTC) on, the zone is `offset_s` seconds ahead of UTC."""

    start: datetime
    offset_s: int


@dataclass(frozen=True, slots=True)
class StatsQuery:
    start: datetime
    end: datetime
    group_by: GroupBy
    sla_s: float
    spans: Sequence[OffsetSpan] = ()
    percentiles: bool = True
    rollups: bool = True  # service.api.rollup_stats may read the rollups (False: these statements)


@dataclass(slots=True)
class GroupAggregate:
    """Raw aggregates of one group; `key` is an epoch (hour), a local day number (day), an
    extension id or queue name (may be None), or None for the whole range."""

    key: Any
    offered: int = 0
    answered: int = 0
    short_abandons: int = 0
    long_abandons: int = 0
    answered_within_sla: int = 0
    wait_sum_us: int = 0  # answered waits summed in whole microseconds: exact in any order
    wait_count: int = 0
    tta_max: float | None = None
    answered_wait_unknown: int = 0  # answered calls known only from the call log: no wait
    categories: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(REPORTED_CATEGORIES, 0)
    )
    reconciliation: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(RECONCILIATIONS, 0)
    )
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM_EDGES))
    tta_percentiles: dict[float, float | None] = field(
        default_factory=lambda: dict.fromkeys(PERCENTILES)
    )

    def add(self, row: CountRow) -> None:
        """Fold one (category, histogram bucket) row of the counts statement into the group."""
        self.offered += row.calls
        self.categories[row.category] = self.categories.get(row.category, 0) + row.calls
        state = row.reconciliation
        self.reconciliation[state] = self.reconciliation.get(state, 0) + row.calls
        if row.category == ANSWERED:
            self.answered += row.calls
            self.answered_within_sla += row.within_sla
            self.answered_wait_unknown += row.calls - row.wait_count
            self.wait_count += row.wait_count
            self.wait_sum_us += row.wait_sum_us
        if row.category not in ABANDONED:
            return
        if row.category == SHORT_ABANDON:
            self.short_abandons += row.calls
        else:
            self.long_abandons += row.calls
        if row.bucket is not None:
            self.histogram[row.bucket] += row.calls
        if row.tta_max is not None:
            self.tta_max = row.tta_max if self.tta_max is None else max(self.tta_max, row.tta_max)


@dataclass(frozen=True, slots=True)
class CountRow:
    key: Any
    category: str
    reconciliation: str
    bucket: int | None
    calls: int
    wait_sum_us: int
    wait_count: int
    within_sla: int
    tta_max: float | None


def percentile_cont(
    values: Mapping[int, float] | Sequence[float], count: int, p: float
) -> float | None:
    """PostgreSQL's percentile_cont from the ranked values at the two positions it reads."""
    if count == 0:
        return None
    position = p * (count - 1)
    low, high = math.floor(position), math.ceil(position)
    if high == low:
        return values[low]
    return values[low] + (values[high] - values[low]) * (position - low)


def _offset(spans: Sequence[OffsetSpan]) -> ColumnElement[Any]:
    if len(spans) <= 1:
        return literal(spans[0].offset_s if spans else 0, Integer)
    whens = [
        (call_outcomes.c.started_at < following.start, literal(span.offset_s, Integer))
        for span, following in itertools.pairwise(spans)
    ]
    return case(*whens, else_=literal(spans[-1].offset_s, Integer))


def _bucket(query: StatsQuery, postgres: bool) -> ColumnElement[Any]:
    """The time bucket key (see the module docstring), as the same integer on both databases."""
    offset = _offset(query.spans)
    size = INSTANT_BUCKETS.get(query.group_by, DAY_S)
    if postgres:  # date_part gives float8 seconds: cheaper than EXTRACT's numeric
        local = Grouping(func.date_part("epoch", call_outcomes.c.started_at) + offset)
        buckets: ColumnElement[Any] = func.floor(local.op("/")(literal(size, Float)))
    else:
        epoch = cast(func.strftime("%s", call_outcomes.c.started_at), Integer)
        buckets = Grouping(epoch + offset).op("/")(literal(size, Integer))  # integer division
    if query.group_by in INSTANT_BUCKETS:
        return cast(buckets * size - offset, BigInteger)
    return cast(buckets, BigInteger)


def _histogram_bucket(tta: ColumnElement[Any]) -> ColumnElement[Any]:
    whens = [(tta < high, index) for index, high in enumerate(HISTOGRAM_EDGES[1:])]
    whens.append((tta >= HISTOGRAM_EDGES[-1], len(HISTOGRAM_EDGES) - 1))
    return case(*whens)  # NULL when there is no time to abandon


def _offered(query: StatsQuery) -> tuple[ColumnElement[bool], ...]:
    """The population: final inbound or internal calls, not service sessions, started in range."""
    return offered(query.start, query.end)


def _is_agent(extension_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """An agent: an extension the directory knows as a `User`, or one it does not know (not yet
    synced, or since deleted): never a queue, IVR menu or other known kind. The directory is a
    few hundred rows, so the planner hashes this list once."""
    others = select(directory_entries.c.extension_id).where(
        func.coalesce(directory_entries.c.kind, "") != AGENT_KIND
    )
    return extension_id.not_in(others)


def _leg_join(legs: Any) -> ColumnElement[bool]:
    """A leg to its call. The processor writes a leg's `started_at` equal to its call's, so
    joining on both reads the two indexes in the same order (a merge join)."""
    outcome = call_outcomes.c
    started: ColumnElement[Any] = legs.started_at
    session: ColumnElement[Any] = legs.telephony_session_id
    return (started == outcome.started_at) & (session == outcome.telephony_session_id)


def _legs_in_range(query: StatsQuery) -> tuple[ColumnElement[bool], ...]:
    legs = call_legs.c
    wanted = (
        legs.started_at >= query.start,
        legs.started_at < query.end,
        legs.extension_id.is_not(None),
    )
    return (*wanted, _is_agent(legs.extension_id)) if query.group_by == "agent" else wanted


def _population(query: StatsQuery, postgres: bool) -> Subquery:
    outcome = call_outcomes.c
    columns = (
        outcome.category,
        outcome.reconciliation,
        outcome.wait_s,
        outcome.time_to_abandon_s,
        _histogram_bucket(outcome.time_to_abandon_s).label("bucket"),
    )
    if query.group_by in ("extension", "agent"):
        # Each (call, extension) once: an agent rung twice in a call is one call of hers.
        legs = (
            select(
                call_legs.c.started_at, call_legs.c.telephony_session_id, call_legs.c.extension_id
            )
            .where(*_legs_in_range(query))
            .distinct()
            .subquery("legs")
        )
        statement = select(legs.c.extension_id.label("k"), *columns).join_from(
            call_outcomes, legs, _leg_join(legs.c)
        )
    elif query.group_by == "queue":
        statement = select(outcome.queue.label("k"), *columns)
    elif query.group_by in ("quarter", "hour", "day"):
        statement = select(_bucket(query, postgres).label("k"), *columns)
    else:
        statement = select(null().label("k"), *columns)
    return statement.where(*_offered(query)).subquery("population")


async def agent_leg_outcomes(
    connection: AsyncConnection, query: StatsQuery
) -> dict[str, dict[str, int]]:
    """Per agent, her legs on the calls of the population counted by leg outcome (every kind,
    zero when none). One pass over the legs in range, merge-joined to their calls."""
    legs = call_legs.c
    statement = (
        select(legs.extension_id, legs.outcome, func.count())
        .join_from(call_legs, call_outcomes, _leg_join(legs))
        .where(*_legs_in_range(replace(query, group_by="agent")), *_offered(query))
        .group_by(legs.extension_id, legs.outcome)
    )
    counted: dict[str, dict[str, int]] = {}
    for extension_id, outcome, legs_count in await connection.execute(statement):
        kinds = counted.setdefault(extension_id, dict.fromkeys(LEG_OUTCOMES, 0))
        kinds[outcome] = kinds.get(outcome, 0) + int(legs_count)
    return counted


def _counts(population: Subquery, sla_s: float) -> Select[Any]:
    c = population.c
    return select(
        c.k,
        c.category,
        c.reconciliation,
        c.bucket,
        func.count(),
        func.sum(func.round(c.wait_s * 1_000_000)),  # whole microseconds (rollups: the same)
        func.count(c.wait_s),
        func.sum(case((c.wait_s <= sla_s, 1), else_=0)),
        func.max(c.time_to_abandon_s),
    ).group_by(c.k, c.category, c.reconciliation, c.bucket)


def _count_rows(rows: Iterable[Any]) -> list[CountRow]:
    return [
        CountRow(
            key=key,
            category=category,
            reconciliation=reconciliation,
            bucket=None if bucket is None else int(bucket),
            calls=int(calls),
            wait_sum_us=round(wait_sum_us or 0),
            wait_count=int(wait_count),
            within_sla=int(within_sla or 0),
            tta_max=None if tta_max is None else float(tta_max),
        )
        for (
            key,
            category,
            reconciliation,
            bucket,
            calls,
            wait_sum_us,
            wait_count,
            within_sla,
            tta_max,
        ) in rows
    ]


async def aggregate_raw(
    connection: AsyncConnection, query: StatsQuery
) -> tuple[list[GroupAggregate], GroupAggregate]:
    """The aggregates of each group and of the whole range, from the calls themselves.

    By extension or agent a call counts once per extension it reached, so its total is computed
    over the calls themselves (each once, those that reached no agent too); for the other
    groupings the total is the sum of the groups.
    """
    postgres = is_postgres(connection)
    population = _population(query, postgres)
    groups: dict[Any, GroupAggregate] = {}
    total = GroupAggregate(key=None)
    for row in _count_rows(await connection.execute(_counts(population, query.sla_s))):
        groups.setdefault(row.key, GroupAggregate(key=row.key)).add(row)
        total.add(row)
    keyed = query.group_by != "all"
    separate_total = query.group_by in ("extension", "agent")
    if separate_total:
        _, total = await aggregate_raw(connection, replace(query, group_by="all"))
    if query.percentiles:
        await _percentiles(
            connection,
            population,
            list(groups.values()) if keyed else [],
            None if separate_total else total,
            keyed=keyed,
            postgres=postgres,
        )
    return (list(groups.values()) if keyed else []), total


async def _percentiles(
    connection: AsyncConnection,
    population: Subquery,
    groups: list[GroupAggregate],
    total: GroupAggregate | None,
    *,
    keyed: bool,
    postgres: bool,
) -> None:
    if postgres:
        await _postgres_percentiles(connection, population, groups, total, keyed=keyed)
        return
    targets: list[tuple[bool, dict[Any, GroupAggregate]]] = []
    if keyed:
        targets.append((True, {group.key: group for group in groups}))
    if total is not None:
        targets.append((False, {None: total}))
    for by_key, wanted in targets:
        positions = await _ranked_positions(connection, population, keyed=by_key)
        for key, (count, values) in positions.items():
            if key in wanted:
                wanted[key].tta_percentiles = {
                    p: percentile_cont(values, count, p) for p in PERCENTILES
                }


def _abandons(population: Subquery) -> tuple[ColumnElement[bool], ...]:
    c = population.c
    return (c.category.in_(sorted(ABANDONED)), c.time_to_abandon_s.is_not(None))


async def _postgres_percentiles(
    connection: AsyncConnection,
    population: Subquery,
    groups: list[GroupAggregate],
    total: GroupAggregate | None,
    *,
    keyed: bool,
) -> None:
    """percentile_cont per group and (with GROUPING SETS, in the same pass) for the total."""
    c = population.c
    values = [func.percentile_cont(p).within_group(c.time_to_abandon_s) for p in PERCENTILES]
    statement: Select[Any] = select(literal(1, Integer), null(), *values)
    if keyed:
        sets = (tuple_(c.k), tuple_()) if total is not None else (tuple_(c.k),)
        statement = select(func.grouping(c.k), c.k, *values).group_by(func.grouping_sets(*sets))
    by_key = {group.key: group for group in groups}
    for is_total, key, *found in await connection.execute(statement.where(*_abandons(population))):
        target = total if is_total else by_key.get(key)
        if target is not None:
            target.tta_percentiles = dict(zip(PERCENTILES, found, strict=True))


async def _ranked_positions(
    connection: AsyncConnection, population: Subquery, *, keyed: bool
) -> dict[Any, tuple[int, dict[int, float]]]:
    """SQLite: per group, the number of abandon times and the values at the ranks read."""
    c = population.c
    partition = [c.k] if keyed else []
    ranked = (
        select(
            (c.k if keyed else null()).label("k"),
            c.time_to_abandon_s.label("v"),
            (
                func.row_number().over(partition_by=partition, order_by=c.time_to_abandon_s) - 1
            ).label("i"),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(*_abandons(population))
        .subquery("ranked")
    )
    wanted = []
    for p in PERCENTILES:
        low = cast(p * (ranked.c.n - 1), Integer)  # truncation = floor for non-negative values
        wanted += [ranked.c.i == low, ranked.c.i == low + 1]
    statement = select(ranked.c.k, ranked.c.n, ranked.c.i, ranked.c.v).where(or_(*wanted))
    positions: dict[Any, tuple[int, dict[int, float]]] = {}
    for key, count, index, value in await connection.execute(statement):
        entry = positions.setdefault(key, (int(count), {}))
        entry[1][int(index)] = float(value)
    return positions
