"""SQL of the processing area: claiming raw events, reading sessions, writing outcomes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Insert,
    and_,
    bindparam,
    delete,
    func,
    insert,
    null,
    or_,
    select,
    text,
    union,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Category, Reconciliation, Source, Stage
from classifiers.timing import shifted
from service.db.sql import (
    as_arrays,
    claiming,
    ids_in,
    insert_on_conflict,
    is_postgres,
    keys_in,
    postgres_unnest_insert,
)
from service.db.tables import (
    REACHING,
    RECOVERED,
    UNRECOVERED,
    call_legs,
    call_outcomes,
    event_queue,
    outcome_changes,
    raw_events,
)

VOICEMAIL_RELATED = tuple(
    category.value
    for category in (Category.VOICEMAIL_LEFT, Category.ABANDONED_VOICEMAIL, Category.IN_PROGRESS)
)


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    id: int
    kind: str
    telephony_session_id: str | None
    extension_id: str | None
    event_time: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class StoredOutcome:
    document: str
    revision: int
    ever_abandoned: bool
    created_at: datetime
    reconciliation: str
    caller_key: str | None
    started_at: datetime | None


_CLAIMED_COLUMNS = (
    raw_events.c.id,
    raw_events.c.kind,
    raw_events.c.telephony_session_id,
    raw_events.c.extension_id,
    raw_events.c.event_time,
    raw_events.c.received_at,
)


async def claim_unprocessed(connection: AsyncConnection, limit: int) -> list[ClaimedEvent]:
    """The oldest queued events, their queue entries locked for this transaction on PostgreSQL
    (skipping ones other processors hold). Reads: on SQLite the claim takes the database's write
    lock only when it writes its results, not while it classifies. The ids first, then their
    rows by id: joined in one statement, PostgreSQL may merge-join from the first raw event ever
    stored instead of looking up the few claimed."""
    claim = select(event_queue.c.id).order_by(event_queue.c.id).limit(limit)
    if is_postgres(connection):
        claim = claim.with_for_update(skip_locked=True)
    ids = list((await connection.execute(claim)).scalars())
    if not ids:
        return []
    result = await connection.execute(
        select(*_CLAIMED_COLUMNS)
        .where(ids_in(connection, raw_events.c.id, ids))
        .order_by(raw_events.c.id)
    )
    return [ClaimedEvent(*row) for row in result]


async def mark_processed(connection: AsyncConnection, ids: Sequence[int]) -> None:
    """Take the events off the queue: final when the caller commits, together with the outcomes
    computed from them."""
    if ids:
        await connection.execute(
            delete(event_queue).where(ids_in(connection, event_queue.c.id, ids))
        )


async def lock_sessions(connection: AsyncConnection, session_ids: Collection[str]) -> None:
    """Serialise recomputation of each session across processes (PostgreSQL; SQLite has one
    writer). Locks are taken in a fixed order so two processors cannot deadlock."""
    if not session_ids or not is_postgres(connection):
        return
    await connection.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(s, 0))) "
            "FROM (SELECT unnest(CAST(:ids AS text[])) AS s ORDER BY 1) AS ordered"
        ),
        {"ids": sorted(session_ids)},
    )


async def lock_free_sessions(connection: AsyncConnection, session_ids: Collection[str]) -> set[str]:
    """Lock, without waiting, each session no other transaction holds (PostgreSQL; SQLite has
    one writer and nothing to lock); returns the sessions another transaction holds."""
    if not session_ids or not is_postgres(connection):
        return set()
    result = await connection.execute(
        text(
            "SELECT s FROM unnest(CAST(:ids AS text[])) AS s "
            "WHERE NOT pg_try_advisory_xact_lock(hashtextextended(s, 0))"
        ),
        {"ids": list(session_ids)},
    )
    return set(result.scalars())


async def session_payloads(
    connection: AsyncConnection, session_ids: Collection[str]
) -> dict[str, list[str]]:
    """Every stored telephony notification of each session, as raw JSON text."""
    payloads: dict[str, list[str]] = {session_id: [] for session_id in session_ids}
    if not session_ids:
        return payloads
    result = await connection.execute(
        select(raw_events.c.telephony_session_id, raw_events.c.payload).where(
            keys_in(connection, raw_events.c.telephony_session_id, session_ids),
            raw_events.c.kind == "telephony",
        )
    )
    for session_id, payload in result:
        payloads[session_id].append(payload)
    return payloads


async def voicemail_payloads(
    connection: AsyncConnection,
    extension_ids: Collection[str],
    *,
    created_from: datetime,
    created_to: datetime,
) -> list[tuple[str, str]]:
    """Voicemail notifications (mailbox extension, raw JSON) created in a time window."""
    if not extension_ids:
        return []
    result = await connection.execute(
        select(raw_events.c.extension_id, raw_events.c.payload).where(
            # Only telephony events have a session id, so this is the few rows that are not
            # telephony, found through the session index instead of a scan of the whole table.
            raw_events.c.telephony_session_id.is_(None),
            raw_events.c.kind == "voicemail",
            keys_in(connection, raw_events.c.extension_id, extension_ids),
            raw_events.c.event_time.between(created_from, created_to),
        )
    )
    return [(extension_id, payload) for extension_id, payload in result]


async def sessions_awaiting_voicemail(
    connection: AsyncConnection, extension_id: str, *, started_from: datetime, started_to: datetime
) -> list[str]:
    """Sessions a new voicemail message of `extension_id` may belong to."""
    result = await connection.execute(
        select(call_outcomes.c.telephony_session_id)
        .join(call_legs, call_legs.c.telephony_session_id == call_outcomes.c.telephony_session_id)
        .where(
            call_legs.c.extension_id == extension_id,
            call_outcomes.c.started_at.between(started_from, started_to),
            (call_outcomes.c.stage == Stage.VOICEMAIL.value)
            | call_outcomes.c.category.in_(VOICEMAIL_RELATED),
        )
        .distinct()
    )
    return list(result.scalars())


async def stored_outcomes(
    connection: AsyncConnection, session_ids: Collection[str]
) -> dict[str, StoredOutcome]:
    if not session_ids:
        return {}
    result = await connection.execute(
        select(
            call_outcomes.c.telephony_session_id,
            call_outcomes.c.document,
            call_outcomes.c.revision,
            call_outcomes.c.ever_abandoned,
            call_outcomes.c.created_at,
            call_outcomes.c.reconciliation,
            call_outcomes.c.caller_key,
            call_outcomes.c.started_at,
        ).where(keys_in(connection, call_outcomes.c.telephony_session_id, session_ids))
    )
    return {row[0]: StoredOutcome(*row[1:]) for row in result}


async def take_change_seqs(connection: AsyncConnection, count: int) -> int:
    """Reserve `count` change numbers; returns the first. The counter row stays locked until
    commit, so change numbers become visible in the order they were handed out."""
    result = await connection.execute(
        update(outcome_changes)
        .where(outcome_changes.c.id == 1)
        .values(last_seq=outcome_changes.c.last_seq + count)
        .returning(outcome_changes.c.last_seq)
    )
    last = result.scalar_one()
    return int(last) - count + 1


# Written by `set_recoveries`, never by the outcome's own upsert.
RECOVERY_COLUMNS = ("recovered_at", "recovered_by", "time_to_recovery_s")
# What an outcome's own write sets, and of those what a rewrite changes.
OUTCOME_COLUMNS = [c for c in call_outcomes.columns if c.name not in RECOVERY_COLUMNS]
REWRITTEN = [
    c.name for c in OUTCOME_COLUMNS if c.name not in ("telephony_session_id", "created_at")
]


def _upsert(connection: AsyncConnection) -> Insert:
    statement = insert_on_conflict(connection, call_outcomes)
    return statement.on_conflict_do_update(
        index_elements=["telephony_session_id"],
        set_={name: statement.excluded[name] for name in REWRITTEN},
    )


# Rows per statement when writing outcomes and legs: a statement's rows are encoded in one go,
# holding up the webhook in the same event loop; in slices it runs between them.
WRITE_CHUNK = 100
# Numbers per statement when looking for the abandoned calls that reaching calls may recover.
SPANS_PER_STATEMENT = 50

POSTGRES_UPSERT_OUTCOMES = postgres_unnest_insert(
    call_outcomes,
    OUTCOME_COLUMNS,
    "ON CONFLICT (telephony_session_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in REWRITTEN),
)
LEG_COLUMNS = list(call_legs.columns)
POSTGRES_INSERT_LEGS = postgres_unnest_insert(call_legs, LEG_COLUMNS)


async def upsert_outcomes(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or rewrite outcomes (rows with every column of OUTCOME_COLUMNS; one row a session)."""
    postgres = is_postgres(connection)
    statement = POSTGRES_UPSERT_OUTCOMES if postgres else _upsert(connection)
    for start in range(0, len(rows), WRITE_CHUNK):
        chunk = rows[start : start + WRITE_CHUNK]
        if postgres:
            await connection.execute(statement, as_arrays(OUTCOME_COLUMNS, chunk))
        else:
            await connection.execute(statement, list(chunk))


async def replace_legs(
    connection: AsyncConnection, stored: Collection[str], rows: Sequence[dict[str, Any]]
) -> None:
    """Store the legs of outcomes being written: `stored` are the sessions that had an outcome
    before this transaction, whose legs go first (a session without a stored outcome has no
    legs: both are written and deleted together)."""
    if stored:
        await connection.execute(
            delete(call_legs).where(keys_in(connection, call_legs.c.telephony_session_id, stored))
        )
    for start in range(0, len(rows), WRITE_CHUNK * 2):
        chunk = rows[start : start + WRITE_CHUNK * 2]
        if is_postgres(connection):
            await connection.execute(POSTGRES_INSERT_LEGS, as_arrays(LEG_COLUMNS, chunk))
        else:
            await connection.execute(insert(call_legs), list(chunk))


async def delete_outcomes(connection: AsyncConnection, session_ids: Collection[str]) -> None:
    """Remove outcomes (and their legs) that another session's outcome now stands for."""
    if not session_ids:
        return
    await connection.execute(
        delete(call_legs).where(keys_in(connection, call_legs.c.telephony_session_id, session_ids))
    )
    await connection.execute(
        delete(call_outcomes).where(
            keys_in(connection, call_outcomes.c.telephony_session_id, session_ids)
        )
    )


async def sessions_awaiting_call_log(
    connection: AsyncConnection, before: datetime, limit: int
) -> list[str]:
    """Sessions waiting for a call-log record, without one, last heard of before `before`."""
    statement = (
        select(call_outcomes.c.telephony_session_id)
        .where(
            call_outcomes.c.reconciliation == Reconciliation.AWAITING_CALL_LOG.value,
            call_outcomes.c.sources == Source.WEBHOOK.value,
            call_outcomes.c.started_at < before,
            call_outcomes.c.last_event_at < before,
        )
        .order_by(call_outcomes.c.started_at)
        .limit(limit)
    )
    return list((await connection.execute(claiming(connection, statement))).scalars())


async def open_sessions_silent_since(
    connection: AsyncConnection, before: datetime, limit: int
) -> list[str]:
    """Sessions not final whose last event is older than `before` (to close as stale)."""
    statement = (
        select(call_outcomes.c.telephony_session_id)
        .where(~call_outcomes.c.final, call_outcomes.c.last_event_at < before)
        .order_by(call_outcomes.c.last_event_at)
        .limit(limit)
    )
    return list((await connection.execute(claiming(connection, statement))).scalars())


def _sessions_to_reclassify(since: datetime | None) -> Any:
    """Sessions with events (at or after `since`), and outcomes made from the call log alone
    (that started at or after it): every outcome the classifier can rebuild."""
    with_events = select(raw_events.c.telephony_session_id.label("key")).where(
        raw_events.c.kind == "telephony"
    )
    logged_only = select(call_outcomes.c.telephony_session_id.label("key")).where(
        call_outcomes.c.sources == Source.CALL_LOG.value
    )
    if since is not None:
        with_events = with_events.where(raw_events.c.event_time >= since)
        logged_only = logged_only.where(call_outcomes.c.started_at >= since)
    return union(with_events, logged_only).subquery("sessions")


async def sessions_to_reclassify(
    connection: AsyncConnection, since: datetime | None, *, after_id: str, limit: int
) -> list[str]:
    """Session ids to reclassify, in id order after `after_id` (for chunks)."""
    sessions = _sessions_to_reclassify(since)
    statement = (
        select(sessions.c.key)
        .where(sessions.c.key > after_id)
        .order_by(sessions.c.key)
        .limit(limit)
    )
    return list((await connection.execute(statement)).scalars())


async def count_sessions_to_reclassify(connection: AsyncConnection, since: datetime | None) -> int:
    result = await connection.execute(
        select(func.count()).select_from(_sessions_to_reclassify(since))
    )
    return int(result.scalar_one())


async def has_outcomes_of_other_rules(connection: AsyncConnection, rules_version: str) -> bool:
    """Whether some stored outcome was classified with other rules than `rules_version`."""
    result = await connection.execute(
        select(call_outcomes.c.telephony_session_id)
        .where(call_outcomes.c.rules_version != rules_version)
        .limit(1)
    )
    return result.first() is not None


@dataclass(frozen=True, slots=True)
class RecoveryRow:
    """One call with what recovery reads and what it last wrote; `first_reach` is the start of
    the earliest call of its number that reached the caller and started no earlier than it."""

    session_id: str
    caller_key: str | None
    started_at: datetime | None
    ended_at: datetime | None
    answered_at: datetime | None
    category: str
    is_abandoned: bool
    recovered_at: datetime | None
    recovered_by: str | None
    time_to_recovery_s: float | None
    revision: int
    first_reach: datetime | None


@dataclass(frozen=True, slots=True)
class CallerSpan:
    """Calls of one number that reached the caller, from `first` to `last` (their starts)."""

    caller_key: str
    first: datetime
    last: datetime


def _first_reach() -> Any:
    """The start of the number's earliest reaching call at or after the row's own start: the
    first entry of `ix_call_outcomes_reaching` from there, whatever else the number did."""
    reaching = call_outcomes.alias("reaching")
    return (
        select(func.min(reaching.c.started_at))
        .where(
            reaching.c.caller_key == call_outcomes.c.caller_key,
            reaching.c.started_at >= call_outcomes.c.started_at,
            text(REACHING),
        )
        .scalar_subquery()
    )


_FIRST_REACH = _first_reach()  # built once: an alias's columns are costly to set up per claim
_RECOVERY_COLUMNS = (
    call_outcomes.c.telephony_session_id,
    call_outcomes.c.caller_key,
    call_outcomes.c.started_at,
    call_outcomes.c.ended_at,
    call_outcomes.c.answered_at,
    call_outcomes.c.category,
    call_outcomes.c.is_abandoned,
    call_outcomes.c.recovered_at,
    call_outcomes.c.recovered_by,
    call_outcomes.c.time_to_recovery_s,
    call_outcomes.c.revision,
)


async def recovery_rows(
    connection: AsyncConnection, session_ids: Collection[str]
) -> list[RecoveryRow]:
    """These calls as recovery reads them, each with its number's first reaching call."""
    if not session_ids:
        return []
    c = call_outcomes.c
    result = await connection.execute(
        select(*_RECOVERY_COLUMNS, _FIRST_REACH).where(
            keys_in(connection, c.telephony_session_id, session_ids)
        )
    )
    return [RecoveryRow(*tuple(row)) for row in result]


async def abandons_reachable_by(
    connection: AsyncConnection, spans: Sequence[CallerSpan], window: timedelta
) -> set[str]:
    """Abandoned calls that reaching calls of these spans may now recover: those of the number
    that started within `window` before one of them and are not recovered, or recovered at or
    after the span's first start (by a call no earlier than it)."""
    found: set[str] = set()
    c = call_outcomes.c
    for start in range(0, len(spans), SPANS_PER_STATEMENT):
        chunk = spans[start : start + SPANS_PER_STATEMENT]
        unrecovered = or_(
            *(
                and_(
                    c.caller_key == span.caller_key,
                    c.started_at >= shifted(span.first, -window),
                    c.started_at <= span.last,
                )
                for span in chunk
            )
        )
        recovered_later = or_(
            *(
                and_(
                    c.caller_key == span.caller_key,
                    c.recovered_at >= span.first,
                    c.started_at >= shifted(span.first, -window),
                    c.started_at <= span.last,
                )
                for span in chunk
            )
        )
        statement = union(
            select(c.telephony_session_id).where(text(UNRECOVERED), unrecovered),
            select(c.telephony_session_id).where(text(RECOVERED), recovered_later),
        )
        found.update((await connection.execute(statement)).scalars())
    return found


async def recovered_by_any(connection: AsyncConnection, session_ids: Collection[str]) -> set[str]:
    """Abandoned calls that one of these calls is stored as having recovered."""
    if not session_ids:
        return set()
    c = call_outcomes.c
    result = await connection.execute(
        select(c.telephony_session_id).where(
            c.recovered_by.is_not(None), keys_in(connection, c.recovered_by, session_ids)
        )
    )
    return set(result.scalars())


async def reaching_calls_at(
    connection: AsyncConnection, starts: Collection[tuple[str, datetime]]
) -> list[RecoveryRow]:
    """The reaching calls of each (number, start) pair (usually one per pair)."""
    if not starts:
        return []
    c = call_outcomes.c
    wanted = set(starts)
    result = await connection.execute(
        select(*_RECOVERY_COLUMNS, null()).where(
            text(REACHING),
            keys_in(connection, c.caller_key, {key for key, _ in wanted}),
            c.started_at.in_(sorted({start for _, start in wanted})),
        )
    )
    rows = [RecoveryRow(*tuple(row)) for row in result]
    return [row for row in rows if (row.caller_key, row.started_at) in wanted]


async def set_recoveries(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Write changed recoveries: each row has `session` and, prefixed `new_`, the three recovery
    columns and, when the change is a new revision, its `change_seq`, `revision`, `updated_at`
    (all rows alike)."""
    if not rows:
        return
    c = call_outcomes.c
    names = [key.removeprefix("new_") for key in rows[0] if key.startswith("new_")]
    statement = (
        update(call_outcomes)
        .where(c.telephony_session_id == bindparam("session"))
        .values({name: bindparam(f"new_{name}") for name in names})
    )
    for start in range(0, len(rows), WRITE_CHUNK):
        await connection.execute(statement, list(rows[start : start + WRITE_CHUNK]))
