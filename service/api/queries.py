"""SQL of the query API's call and abandoned-feed reads. The caller owns the connection.

Every statement here is a read. Lists are keyset-paginated on indexed columns:
`(started_at, telephony_session_id)` for calls and `change_seq` (unique) for the change feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Category
from service.api.cursors import CallsCursor
from service.api.documents import StorageFields
from service.db.driver import DriverQuery, asyncpg_connection
from service.db.sql import is_postgres
from service.db.tables import (
    call_legs,
    call_log_records,
    call_outcomes,
    outcome_changes,
    raw_events,
)

SHORT_ABANDON = Category.SHORT_ABANDON.value


@dataclass(frozen=True, slots=True)
class CallFilters:
    """The filters of /v1/calls and /v1/calls.csv (all optional, combined with AND)."""

    started_from: datetime | None = None
    started_to: datetime | None = None
    extension_id: str | None = None
    categories: tuple[str, ...] = ()
    direction: str | None = None
    queue: str | None = None
    reason: str | None = None
    is_abandoned: bool | None = None
    sources: tuple[str, ...] = ()  # calls with data from each of these sources
    reconciliations: tuple[str, ...] = ()
    from_number: str | None = None  # E.164
    stage: str | None = None
    final: bool | None = None


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    telephony_session_id: str
    started_at: datetime | None
    document: str
    storage: StorageFields


@dataclass(frozen=True, slots=True)
class ChangeRow:
    change_seq: int
    is_abandoned: bool
    category: str
    document: str
    storage: StorageFields


@dataclass(frozen=True, slots=True)
class LegRow:
    party_id: str
    extension_id: str | None
    outcome: str
    started_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventRow:
    uuid: str
    received_at: datetime
    payload: str


_STORAGE_COLUMNS = (
    call_outcomes.c.revision,
    call_outcomes.c.updated_at,
    call_outcomes.c.recovered_at,
    call_outcomes.c.recovered_by,
    call_outcomes.c.time_to_recovery_s,
)
_OUTCOME_COLUMNS = (
    call_outcomes.c.telephony_session_id,
    call_outcomes.c.started_at,
    call_outcomes.c.document,
    *_STORAGE_COLUMNS,
)


def _outcome_row(row: Any) -> OutcomeRow:
    return OutcomeRow(row[0], row[1], row[2], StorageFields(*row[3:]))


def _change_row(row: Any) -> ChangeRow:
    return ChangeRow(row[0], row[1], row[2], row[3], StorageFields(*row[4:]))


def _filtered(filters: CallFilters) -> Select[Any]:
    outcome = call_outcomes.c
    statement = select(*_OUTCOME_COLUMNS).where(outcome.started_at.is_not(None))
    if filters.started_from is not None:
        statement = statement.where(outcome.started_at >= filters.started_from)
    if filters.started_to is not None:
        statement = statement.where(outcome.started_at < filters.started_to)
    if filters.categories:
        statement = statement.where(outcome.category.in_(filters.categories))
    if filters.direction is not None:
        statement = statement.where(outcome.direction == filters.direction)
    if filters.queue is not None:
        statement = statement.where(func.lower(outcome.queue) == filters.queue.lower())
    if filters.from_number is not None:
        statement = statement.where(outcome.from_number == filters.from_number)
    if filters.stage is not None:
        statement = statement.where(outcome.stage == filters.stage)
    if filters.final is not None:
        statement = statement.where(outcome.final == (true() if filters.final else false()))
    if filters.reason is not None:
        statement = statement.where(outcome.reason == filters.reason)
    if filters.is_abandoned is not None:
        statement = statement.where(
            outcome.is_abandoned == (true() if filters.is_abandoned else false())
        )
    for source in filters.sources:
        # the stored list is `webhook`, `call_log` or `webhook,call_log`
        statement = statement.where(outcome.sources.contains(source, autoescape=True))
    if filters.reconciliations:
        statement = statement.where(outcome.reconciliation.in_(filters.reconciliations))
    if filters.extension_id is not None:
        statement = statement.where(
            exists().where(
                call_legs.c.telephony_session_id == outcome.telephony_session_id,
                call_legs.c.extension_id == filters.extension_id,
            )
        )
    return statement


async def list_calls(
    connection: AsyncConnection, filters: CallFilters, *, after: CallsCursor | None, limit: int
) -> list[OutcomeRow]:
    """One page of outcomes, newest `started_at` first, strictly after the cursor's row."""
    outcome = call_outcomes.c
    statement = _filtered(filters)
    if after is not None:
        statement = statement.where(
            or_(
                outcome.started_at < after.started_at,
                and_(
                    outcome.started_at == after.started_at,
                    outcome.telephony_session_id < after.telephony_session_id,
                ),
            )
        )
    statement = statement.order_by(
        outcome.started_at.desc(), outcome.telephony_session_id.desc()
    ).limit(limit)
    result = await connection.execute(statement)
    return [_outcome_row(row) for row in result]


async def get_call(connection: AsyncConnection, session_id: str) -> OutcomeRow | None:
    result = await connection.execute(
        select(*_OUTCOME_COLUMNS).where(call_outcomes.c.telephony_session_id == session_id)
    )
    row = result.first()
    return _outcome_row(row) if row is not None else None


async def legs_of(connection: AsyncConnection, session_id: str) -> list[LegRow]:
    result = await connection.execute(
        select(
            call_legs.c.party_id,
            call_legs.c.extension_id,
            call_legs.c.outcome,
            call_legs.c.started_at,
        )
        .where(call_legs.c.telephony_session_id == session_id)
        .order_by(call_legs.c.party_id)
    )
    return [LegRow(*row) for row in result]


async def events_of(connection: AsyncConnection, session_id: str) -> list[EventRow]:
    """The session's stored telephony notifications, in sequence order."""
    result = await connection.execute(
        select(raw_events.c.uuid, raw_events.c.received_at, raw_events.c.payload)
        .where(
            raw_events.c.telephony_session_id == session_id,
            raw_events.c.kind == "telephony",
        )
        .order_by(raw_events.c.sequence, raw_events.c.event_time, raw_events.c.id)
    )
    return [EventRow(*row) for row in result]


async def call_log_of(connection: AsyncConnection, session_id: str) -> list[str]:
    """The call-log records of the session (raw JSON, latest versions, by start time): its own,
    and those that carry only the older sessionId of its events."""
    legacy = (
        select(call_outcomes.c.session_id)
        .where(call_outcomes.c.telephony_session_id == session_id)
        .scalar_subquery()
    )
    records = call_log_records.c
    result = await connection.execute(
        select(records.payload)
        .where(
            or_(
                records.session_key == session_id,
                and_(records.telephony_session_id.is_(None), records.session_id == legacy),
            )
        )
        .order_by(records.start_time, records.record_id)
    )
    return list(result.scalars())


async def last_change_seq(connection: AsyncConnection) -> int:
    """The last change number handed out: one primary-key read, the poll's cheap check."""
    result = await connection.execute(
        select(outcome_changes.c.last_seq).where(outcome_changes.c.id == 1)
    )
    return int(result.scalar_one_or_none() or 0)


POSTGRES_LAST_CHANGE_SEQ = "SELECT last_seq FROM outcome_changes WHERE id = 1"


async def last_change_seq_outside_transaction(connection: AsyncConnection) -> int:
    """`last_change_seq` on a connection that runs nothing else. On PostgreSQL it goes straight
    to the asyncpg connection: one round trip, where SQLAlchemy would send BEGIN, the SELECT and
    ROLLBACK (under READ COMMITTED a lone statement sees the same either way)."""
    if connection.dialect.name != "postgresql":
        return await last_change_seq(connection)
    async with asyncpg_connection(connection) as driver:
        value = await driver.fetchval(POSTGRES_LAST_CHANGE_SEQ)
    return int(value or 0)


_CHANGE_COLUMNS = (
    call_outcomes.c.change_seq,
    call_outcomes.c.is_abandoned,
    call_outcomes.c.category,
    call_outcomes.c.document,
    *_STORAGE_COLUMNS,
)


async def abandoned_changes(
    connection: AsyncConnection, *, after_seq: int, upto_seq: int, limit: int
) -> list[ChangeRow]:
    """Outcomes changed after `after_seq` (up to `upto_seq`) that are or once were abandoned,
    in change order. Walks the unique index on `change_seq`."""
    outcome = call_outcomes.c
    result = await connection.execute(
        select(*_CHANGE_COLUMNS)
        .where(
            outcome.change_seq > after_seq,
            outcome.change_seq <= upto_seq,
            outcome.ever_abandoned == true(),
        )
        .order_by(outcome.change_seq)
        .limit(limit)
    )
    return [_change_row(row) for row in result]


async def abandoned_updated_since(
    connection: AsyncConnection,
    *,
    since: datetime,
    upto_seq: int,
    include_short: bool,
    limit: int,
) -> list[ChangeRow]:
    """A first poll: outcomes abandoned now and stored at or after `since`, in change order
    (index on `(is_abandoned, updated_at)`)."""
    outcome = call_outcomes.c
    statement = select(*_CHANGE_COLUMNS).where(
        outcome.is_abandoned == true(),
        outcome.updated_at >= since,
        outcome.change_seq <= upto_seq,
    )
    if not include_short:
        statement = statement.where(outcome.category != SHORT_ABANDON)
    result = await connection.execute(statement.order_by(outcome.change_seq).limit(limit))
    return [_change_row(row) for row in result]


async def outcome_counts_if_changed(
    connection: AsyncConnection, counted_seq: int
) -> tuple[int, list[tuple[str, str, int]]] | None:
    """For the metrics gauge: the last change number and the stored outcomes per (direction,
    category), or None when no outcome changed since `counted_seq` (one primary-key read)."""
    seq = await last_change_seq(connection)
    if seq == counted_seq:
        return None
    return seq, await outcome_counts(connection)


async def outcome_counts(connection: AsyncConnection) -> list[tuple[str, str, int]]:
    """Stored outcomes per (direction, category)."""
    outcome = call_outcomes.c
    result = await connection.execute(
        select(outcome.direction, outcome.category, func.count()).group_by(
            outcome.direction, outcome.category
        )
    )
    return [(direction, category, int(count)) for direction, category, count in result]


class UnrecoveredRow(NamedTuple):  # a tuple: hundreds are built for each callback list
    telephony_session_id: str
    caller_key: str
    from_number: str | None
    started_at: datetime
    ended_at: datetime | None
    category: str
    queue: str | None
    time_to_abandon_s: float | None


@dataclass(frozen=True, slots=True)
class UnrecoveredNumbers:
    numbers: int  # caller numbers with an unrecovered abandon in the window
    abandons: list[UnrecoveredRow]  # every such abandon of the first numbers asked for


def _callable_abandons(
    start: datetime | BindParameter[datetime],
    end: datetime | BindParameter[datetime] | None,
    *,
    include_short: bool,
) -> list[ColumnElement[bool]]:
    """Abandoned calls with a number to call back that started in `[start, end)` (no end: at
    or after `start`)."""
    outcome = call_outcomes.c
    conditions = [
        outcome.is_abandoned == true(),
        outcome.caller_key.is_not(None),
        outcome.started_at >= start,
    ]
    if end is not None:
        conditions.append(outcome.started_at < end)
    if not include_short:
        conditions.append(outcome.category != SHORT_ABANDON)
    return conditions


# The first N numbers by first attempt are the first N distinct numbers of the calls in order of
# start (then number), so they are looked for among the first HEAD_CALLS_PER_NUMBER * N calls
# only; when those hold fewer numbers than wanted (a number that called hundreds of times), every
# number of the window is grouped instead.
HEAD_CALLS_PER_NUMBER = 2


def _unrecovered_statement(*, include_short: bool, from_head: bool) -> DriverQuery:
    """Every unrecovered abandon with a number to call back, started at or after `since`, of the
    first `numbers` numbers (by their first such call, then number), oldest first, each with how
    many numbers have one (last column). The numbers are chosen and counted from the partial
    index `ix_call_outcomes_abandoned_callers` alone (it carries the key, category and
    recovery): `from_head`, among the first `head` calls; else among all. Only the calls listed
    are read from the table."""
    outcome = call_outcomes.c
    since = bindparam("since", type_=outcome.started_at.type)
    unrecovered = [
        *_callable_abandons(since, None, include_short=include_short),
        outcome.recovered_at.is_(None),
    ]
    calls = select(outcome.caller_key, outcome.started_at).where(*unrecovered)
    if from_head:
        calls = calls.order_by(outcome.started_at, outcome.caller_key).limit(
            bindparam("head", type_=Integer)
        )
    candidates = calls.subquery("candidates")
    firsts = (
        select(candidates.c.caller_key)
        .group_by(candidates.c.caller_key)
        .order_by(func.min(candidates.c.started_at), candidates.c.caller_key)
        .limit(bindparam("numbers", type_=Integer))
        .subquery("firsts")
    )
    numbers = select(func.count()).select_from(
        select(outcome.caller_key).where(*unrecovered).group_by(outcome.caller_key).subquery()
    )
    return DriverQuery(
        select(
            *(outcome[name] for name in UnrecoveredRow._fields),
            numbers.scalar_subquery().label("numbers"),
        )
        .join(firsts, firsts.c.caller_key == outcome.caller_key)
        .where(*unrecovered)
        .order_by(outcome.started_at, outcome.telephony_session_id)
    )


UNRECOVERED_ABANDONS = {
    (short, from_head): _unrecovered_statement(include_short=short, from_head=from_head)
    for short in (True, False)
    for from_head in (True, False)
}


async def unrecovered_abandons(
    connection: AsyncConnection, *, since: datetime, include_short: bool, numbers: int
) -> UnrecoveredNumbers:
    """Abandoned calls with a number to call back, started at or after `since`, that no later
    call has reached: how many numbers have one, and every such call of the first `numbers`
    numbers (by their first such call, then number), oldest first."""
    rows = await UNRECOVERED_ABANDONS[include_short, True].fetch(
        connection, since=since, numbers=numbers, head=HEAD_CALLS_PER_NUMBER * numbers
    )
    found = _unrecovered_numbers(rows)
    if len({abandon.caller_key for abandon in found.abandons}) < min(numbers, found.numbers):
        rows = await UNRECOVERED_ABANDONS[include_short, False].fetch(
            connection, since=since, numbers=numbers
        )
        found = _unrecovered_numbers(rows)  # its own count: a statement may see newer rows
    return found


def _unrecovered_numbers(rows: Sequence[Sequence[Any]]) -> UnrecoveredNumbers:
    """The calls listed and the count they carry (no call listed: none in the window at all)."""
    return UnrecoveredNumbers(
        int(rows[0][-1]) if rows else 0, [UnrecoveredRow(*row[:-1]) for row in rows]
    )


@dataclass(frozen=True, slots=True)
class RecoveryCounts:
    abandoned: int  # abandoned calls with a number to call back
    recovered: int
    median_time_to_recovery_s: float | None


def _postgres_recovery_counts(*, include_short: bool) -> DriverQuery:
    outcome = call_outcomes.c
    started = outcome.started_at.type
    return DriverQuery(
        select(
            func.count(),
            func.count(outcome.recovered_at),
            func.percentile_cont(0.5).within_group(outcome.time_to_recovery_s),
        ).where(
            *_callable_abandons(
                bindparam("start", type_=started),
                bindparam("end", type_=started),
                include_short=include_short,
            )
        )
    )


POSTGRES_RECOVERY_COUNTS = {
    short: _postgres_recovery_counts(include_short=short) for short in (True, False)
}


async def recovery_counts(
    connection: AsyncConnection, *, start: datetime, end: datetime, include_short: bool
) -> RecoveryCounts:
    """How many abandoned calls that started in `[start, end)` had a number to call back, how
    many of them a later call reached, and the median time to that call (interpolated between
    the two middle values, as PostgreSQL's `percentile_cont(0.5)`): one statement on PostgreSQL,
    two on SQLite, each reading the partial index `ix_call_outcomes_abandoned_callers` alone."""
    if is_postgres(connection):  # one pass: percentile_cont skips the unrecovered (NULL) times
        rows = await POSTGRES_RECOVERY_COUNTS[include_short].fetch(connection, start=start, end=end)
        abandoned, recovered, median = rows[0]
        return RecoveryCounts(
            int(abandoned), int(recovered), None if median is None else float(median)
        )
    outcome = call_outcomes.c
    conditions = _callable_abandons(start, end, include_short=include_short)
    abandoned, recovered = (
        await connection.execute(
            select(func.count(), func.count(outcome.recovered_at)).where(*conditions)
        )
    ).one()
    if not recovered:
        return RecoveryCounts(int(abandoned), 0, None)
    middle = (
        (
            await connection.execute(
                select(outcome.time_to_recovery_s)
                .where(*conditions, outcome.time_to_recovery_s.is_not(None))
                .order_by(outcome.time_to_recovery_s)
                .offset((recovered - 1) // 2)
                .limit(2 - recovered % 2)
            )
        )
        .scalars()
        .all()
    )
    median = sum(float(value) for value in middle) / len(middle)
    return RecoveryCounts(int(abandoned), int(recovered), median)


@dataclass(frozen=True, slots=True)
class OpenCallRow:
    stage: str
    queue: str | None
    started_at: datetime | None
    document: str


async def open_calls(connection: AsyncConnection) -> list[OpenCallRow]:
    """Calls still in progress (partial index `ix_call_outcomes_open`)."""
    outcome = call_outcomes.c
    result = await connection.execute(
        select(outcome.stage, outcome.queue, outcome.started_at, outcome.document).where(
            outcome.final == false()
        )
    )
    return [OpenCallRow(*row) for row in result]
