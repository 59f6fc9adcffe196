"""SQL of the stats rollups: the population, the dirty marks, the raw rows a slice is computed
from and the rollup rows themselves. Functions take an open connection and never commit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    and_,
    cast,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Category
from service.db.sql import ids_in, is_postgres
from service.db.tables import call_legs, call_outcomes, stats_rollup_marks, stats_rollups
from service.rollups.slices import QUARTER_S, Range, Slice, quarter_of

OFFERED_DIRECTIONS = ("inbound", "internal")
NOT_OFFERED = Category.SERVICE_CALL.value
# pg_try_advisory_xact_lock key of the refresher: one refresher at a time across replicas
REFRESH_LOCK = 0x5_7A75_0007
WRITE_CHUNK = 500


def offered(start: datetime, end: datetime) -> tuple[ColumnElement[bool], ...]:
    """The population: final inbound or internal calls, not service sessions, started in range."""
    outcome = call_outcomes.c
    return (
        outcome.started_at >= start,
        outcome.started_at < end,
        outcome.final == true(),
        outcome.direction.in_(OFFERED_DIRECTIONS),
        outcome.category != NOT_OFFERED,
    )


def _recoverable() -> tuple[ColumnElement[bool], ...]:
    """Abandoned calls with a number to call back (the report's recovery block)."""
    return (call_outcomes.c.is_abandoned == true(), call_outcomes.c.caller_key.is_not(None))


def disjoint(ranges: Sequence[Range]) -> list[Range]:
    """The ranges in time order, overlapping or adjacent ones merged."""
    merged: list[Range] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _per_range(ranges: Sequence[Range], branch: Callable[[datetime, datetime], Select[Any]]) -> Any:
    """One SELECT per range, as UNION ALL. Each branch is a plain range on `started_at`, which
    every plan reads as an index range: with the ranges OR-ed under their bounding range, the
    generic plan that a prepared statement gets after five runs estimated the bounding range at
    0.5% of the table and scanned all of it (24 hours for the poll's summary: 11 ms instead of
    1 ms; a month for a month's report)."""
    branches = [branch(start, end) for start, end in disjoint(ranges)]
    return branches[0] if len(branches) == 1 else union_all(*branches)


# -- dirty marks


async def mark_dirty(connection: AsyncConnection, moments: Iterable[datetime | None]) -> None:
    """Mark the quarters of these start times: their calls change in this transaction."""
    quarters = sorted({quarter_of(moment) for moment in moments if moment is not None})
    if quarters:
        await connection.execute(
            insert(stats_rollup_marks), [{"slice_start": quarter} for quarter in quarters]
        )


async def mark_everything(connection: AsyncConnection) -> int:
    """Mark every quarter that holds an outcome (after rows were written behind the processor's
    back, as the bench's SQL copies are); how many quarters."""
    outcome = call_outcomes.c
    if is_postgres(connection):
        quarter: Any = func.floor(func.date_part("epoch", outcome.started_at) / QUARTER_S)
    else:  # integer division
        quarter = cast(func.strftime("%s", outcome.started_at), Integer).op("/")(QUARTER_S)
    quarters = select(cast(quarter * QUARTER_S, BigInteger)).where(outcome.started_at.is_not(None))
    result = await connection.execute(
        insert(stats_rollup_marks).from_select(["slice_start"], quarters.distinct())
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class PendingQuarter:
    quarter: int
    newest_mark: int  # the id of its latest mark: a later pass that finds another saw a new write


async def pending_quarters(connection: AsyncConnection, limit: int) -> list[PendingQuarter]:
    """The marked quarters, the longest marked first, each with its newest mark's id."""
    marks = stats_rollup_marks.c
    statement = (
        select(marks.slice_start, func.max(marks.id))
        .group_by(marks.slice_start)
        .order_by(func.min(marks.id))
        .limit(limit)
    )
    result = await connection.execute(statement)
    return [PendingQuarter(int(quarter), int(newest)) for quarter, newest in result]


async def marks_of(connection: AsyncConnection, quarters: Collection[int]) -> list[int]:
    """The ids of every mark of these quarters: read before the raw rows, so each mark returned
    belongs to a write the raw reads see (a write commits its rows and its marks together)."""
    if not quarters:
        return []
    marks = stats_rollup_marks.c
    statement = select(marks.id).where(ids_in(connection, marks.slice_start, quarters))
    return [int(mark) for mark in (await connection.execute(statement)).scalars()]


async def delete_marks(connection: AsyncConnection, ids: Collection[int]) -> None:
    """Remove the marks taken by id: a mark added since (another id) stays."""
    if ids:
        await connection.execute(
            delete(stats_rollup_marks).where(ids_in(connection, stats_rollup_marks.c.id, ids))
        )


async def dirty_quarters(connection: AsyncConnection, start: int, end: int) -> list[int]:
    """The marked quarters in `[start, end)` (seconds since the epoch)."""
    marks = stats_rollup_marks.c
    statement = (
        select(marks.slice_start)
        .where(marks.slice_start >= start, marks.slice_start < end)
        .distinct()
    )
    return [int(quarter) for quarter in (await connection.execute(statement)).scalars()]


async def count_marks(connection: AsyncConnection) -> int:
    result = await connection.execute(select(func.count()).select_from(stats_rollup_marks))
    return int(result.scalar_one())


async def take_refresh_lock(connection: AsyncConnection) -> bool:
    """PostgreSQL: whether this transaction is the one refresher (replicas share the work, one
    at a time). SQLite runs one writer: always."""
    if not is_postgres(connection):
        return True
    result = await connection.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": REFRESH_LOCK}
    )
    return bool(result.scalar_one())


# -- raw rows


@dataclass(frozen=True, slots=True)
class CallRow:
    started_at: datetime
    queue: str | None
    category: str
    reconciliation: str
    wait_s: float | None
    time_to_abandon_s: float | None


@dataclass(frozen=True, slots=True)
class RecoverableRow:
    started_at: datetime
    recovered: bool
    time_to_recovery_s: float | None


@dataclass(frozen=True, slots=True)
class LegRow:
    started_at: datetime
    session: str
    extension_id: str
    outcome: str
    category: str
    reconciliation: str
    wait_s: float | None
    time_to_abandon_s: float | None


# Raw rows a part when a slice's rows are read in parts (`*_parts`): a recomputation takes
# turns with the processor's claims between two parts, not after a quarter's whole read.
PART_ROWS = 2000
RawRow = TypeVar("RawRow")


def _calls_in(ranges: Sequence[Range]) -> Any:
    outcome = call_outcomes.c

    def branch(start: datetime, end: datetime) -> Select[Any]:
        return select(
            outcome.started_at,
            outcome.queue,
            outcome.category,
            outcome.reconciliation,
            outcome.wait_s,
            outcome.time_to_abandon_s,
        ).where(*offered(start, end))

    return _per_range(ranges, branch)


def _recoverable_in(ranges: Sequence[Range]) -> Any:
    outcome = call_outcomes.c

    def branch(start: datetime, end: datetime) -> Select[Any]:
        return select(
            outcome.started_at, outcome.recovered_at.is_not(None), outcome.time_to_recovery_s
        ).where(outcome.started_at >= start, outcome.started_at < end, *_recoverable())

    return _per_range(ranges, branch)


def _legs_in(ranges: Sequence[Range]) -> Any:
    legs, outcome = call_legs.c, call_outcomes.c

    def branch(start: datetime, end: datetime) -> Select[Any]:
        return (
            select(
                legs.started_at,
                legs.telephony_session_id,
                legs.extension_id,
                legs.outcome,
                outcome.category,
                outcome.reconciliation,
                outcome.wait_s,
                outcome.time_to_abandon_s,
            )
            .join_from(
                call_legs,
                call_outcomes,
                (legs.started_at == outcome.started_at)
                & (legs.telephony_session_id == outcome.telephony_session_id),
            )
            .where(
                legs.started_at >= start,
                legs.started_at < end,
                legs.extension_id.is_not(None),
                *offered(start, end),
            )
        )

    return _per_range(ranges, branch)


def _recoverable_row(started_at: datetime, recovered: Any, ttr: float | None) -> RecoverableRow:
    return RecoverableRow(started_at, bool(recovered), ttr)


async def raw_calls(connection: AsyncConnection, ranges: Sequence[Range]) -> list[CallRow]:
    """The population's calls that started in `ranges` (from `ix_call_outcomes_stats` alone)."""
    if not ranges:
        return []
    return [CallRow(*row) for row in await connection.execute(_calls_in(ranges))]


async def raw_recoverable(
    connection: AsyncConnection, ranges: Sequence[Range]
) -> list[RecoverableRow]:
    """The abandoned calls with a number to call back that started in `ranges`, and their
    recoveries (from `ix_call_outcomes_abandoned_callers` alone on PostgreSQL)."""
    if not ranges:
        return []
    return [_recoverable_row(*row) for row in await connection.execute(_recoverable_in(ranges))]


async def raw_legs(connection: AsyncConnection, ranges: Sequence[Range]) -> list[LegRow]:
    """The legs with an extension of the population's calls that started in `ranges`. A leg
    carries its call's `started_at`, so both are read by the same range (a merge join)."""
    if not ranges:
        return []
    return [LegRow(*row) for row in await connection.execute(_legs_in(ranges))]


def call_parts(
    connection: AsyncConnection, ranges: Sequence[Range]
) -> AsyncIterator[list[CallRow]]:
    """`raw_calls` in parts of PART_ROWS (a server-side cursor on PostgreSQL: in a
    transaction)."""
    return _parts(connection, _calls_in(ranges) if ranges else None, CallRow)


def recoverable_parts(
    connection: AsyncConnection, ranges: Sequence[Range]
) -> AsyncIterator[list[RecoverableRow]]:
    """`raw_recoverable` in parts of PART_ROWS."""
    return _parts(connection, _recoverable_in(ranges) if ranges else None, _recoverable_row)


def leg_parts(connection: AsyncConnection, ranges: Sequence[Range]) -> AsyncIterator[list[LegRow]]:
    """`raw_legs` in parts of PART_ROWS."""
    return _parts(connection, _legs_in(ranges) if ranges else None, LegRow)


async def _parts(
    connection: AsyncConnection, statement: Any, row: Callable[..., RawRow]
) -> AsyncIterator[list[RawRow]]:
    if statement is None:
        return
    result = await connection.stream(statement.execution_options(yield_per=PART_ROWS))
    async for part in result.partitions():
        yield [row(*values) for values in part]


# -- rollup rows


@dataclass(frozen=True, slots=True)
class RollupRow:
    size: int
    start: int
    dim: str
    key: str | None
    content: str


def _slices_in(connection: AsyncConnection, slices: Collection[Slice]) -> ColumnElement[bool]:
    rollup = stats_rollups.c
    by_size: dict[int, list[int]] = {}
    for size, start in slices:
        by_size.setdefault(size, []).append(start)
    return or_(
        *(
            and_(rollup.slice_s == size, ids_in(connection, rollup.slice_start, starts))
            for size, starts in sorted(by_size.items())
        )
    )


async def read_rollups(
    connection: AsyncConnection, dims: Collection[str], slices: Collection[Slice]
) -> list[RollupRow]:
    if not slices or not dims:
        return []
    rollup = stats_rollups.c
    statement = select(
        rollup.slice_s, rollup.slice_start, rollup.dim, rollup.key, rollup.content
    ).where(_slices_in(connection, slices), rollup.dim.in_(sorted(dims)))
    return [RollupRow(*row) for row in await connection.execute(statement)]


async def replace_rollups(
    connection: AsyncConnection, slices: Collection[Slice], rows: Sequence[dict[str, Any]]
) -> None:
    """Replace every row of these slices by `rows` (slice_s, slice_start, dim, key, content)."""
    if slices:
        await connection.execute(delete(stats_rollups).where(_slices_in(connection, slices)))
    for start in range(0, len(rows), WRITE_CHUNK):
        await connection.execute(insert(stats_rollups), list(rows[start : start + WRITE_CHUNK]))
