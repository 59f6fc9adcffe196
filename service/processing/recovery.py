"""Keeping abandoned calls' recoveries current as calls are stored (the rule itself is
classifiers/recovery.py).

An abandoned call's recovery depends on its own fields and on the earliest call of its number
that reached the caller and started at or after it (within the window). So when a claim stores,
changes or removes calls, the recoveries that can change are those of:
1. the calls themselves (abandoned now, or holding a recovery they may no longer deserve);
2. the abandoned calls that a call reaching now may recover first: those of its number that
   started within the window before it and are not recovered, or are recovered at or after its
   start (a recovery by a later call is at or after that call's start);
3. the abandoned calls that one of them recovered until now (it may have stopped reaching,
   moved, or gone).
Each is then recomputed from its number's first reaching call at or after it, one entry of a
partial index, whatever else the number did: a number that called ten thousand times costs no
more than one that called twice. Runs in the processor's transaction; a recovery that changes
takes a new change number, so the abandoned poll and the callback list see it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Category, Outcome
from classifiers.recovery import Recovery, RecoveryCall, caller_key, reached_at, recoveries
from service.processing import queries
from service.rollups import queries as rollup_queries

KEY_LENGTH = 64  # call_outcomes.caller_key
CATEGORIES = {category.value: category for category in Category}


def caller_key_of(outcome: Outcome) -> str | None:
    key = caller_key(outcome.direction, outcome.from_number, outcome.to_number)
    return key[:KEY_LENGTH] if key else None


async def refresh_recoveries(
    connection: AsyncConnection,
    session_ids: Collection[str],
    *,
    window: timedelta,
    now: datetime,
    written: Collection[str] = (),
) -> int:
    """Recompute the recoveries that changes to these calls (stored, rewritten or removed in
    this transaction) can affect, and store those that changed; how many. Outcomes `written` in
    this transaction keep the change number they were just given."""
    if not session_ids:
        return 0
    own = await queries.recovery_rows(connection, session_ids)
    others = await queries.abandons_reachable_by(connection, _reaching_spans(own), window)
    others |= await queries.recovered_by_any(connection, session_ids)
    others -= {row.session_id for row in own}
    subjects = [row for row in own if row.is_abandoned or row.recovered_by is not None]
    subjects += await queries.recovery_rows(connection, others)
    firsts = {
        (row.caller_key, row.first_reach)
        for row in subjects
        if row.is_abandoned and row.caller_key is not None and row.first_reach is not None
    }
    reaching: dict[tuple[str | None, datetime | None], list[queries.RecoveryRow]] = {}
    for call in await queries.reaching_calls_at(connection, firsts):
        reaching.setdefault((call.caller_key, call.started_at), []).append(call)
    changed: list[tuple[queries.RecoveryRow, Recovery | None]] = []
    for row in subjects:
        recovery = _recovery(row, reaching.get((row.caller_key, row.first_reach), []), window)
        if _stored(row) != recovery:
            changed.append((row, recovery))
    # the recovery block of the stats rollups counts these calls
    await rollup_queries.mark_dirty(connection, [row.started_at for row, _ in changed])
    revised = [(row, recovery) for row, recovery in changed if row.session_id not in written]
    first_seq = await queries.take_change_seqs(connection, len(revised)) if revised else 0
    await queries.set_recoveries(
        connection,
        [
            _update(row, recovery, first_seq + offset, now)
            for offset, (row, recovery) in enumerate(revised)
        ],
    )
    await queries.set_recoveries(
        connection,
        [_update(row, recovery) for row, recovery in changed if row.session_id in written],
    )
    return len(changed)


def _reaching_spans(rows: Iterable[queries.RecoveryRow]) -> list[queries.CallerSpan]:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for row in rows:
        call = _recovery_call(row)
        if row.caller_key is None or call is None or call.reached_at is None or call.abandoned:
            continue
        first, last = spans.get(row.caller_key, (call.started_at, call.started_at))
        spans[row.caller_key] = (min(first, call.started_at), max(last, call.started_at))
    return [queries.CallerSpan(key, first, last) for key, (first, last) in spans.items()]


def _recovery(
    row: queries.RecoveryRow, first_reaching: list[queries.RecoveryRow], window: timedelta
) -> Recovery | None:
    """The rule applied to the call and the number's first reaching calls after it (the rule
    needs no other call of the number to decide)."""
    call = _recovery_call(row)
    if call is None or not call.abandoned or row.caller_key is None:
        return None
    candidates = [found for found in map(_recovery_call, first_reaching) if found is not None]
    return recoveries([call, *candidates], window).get(call.session_id)


def _recovery_call(row: queries.RecoveryRow) -> RecoveryCall | None:
    if row.started_at is None:
        return None
    category = CATEGORIES.get(row.category, Category.UNKNOWN)
    return RecoveryCall(
        session_id=row.session_id,
        started_at=row.started_at,
        ended_at=row.ended_at,
        abandoned=row.is_abandoned,
        reached_at=reached_at(category, row.answered_at, row.started_at),
    )


def _stored(row: queries.RecoveryRow) -> Recovery | None:
    if row.recovered_at is None or row.recovered_by is None or row.time_to_recovery_s is None:
        return None
    return Recovery(row.recovered_at, row.recovered_by, row.time_to_recovery_s)


def _update(
    row: queries.RecoveryRow,
    recovery: Recovery | None,
    change_seq: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The row's new recovery; with a change number, also its new revision."""
    update: dict[str, Any] = {
        "session": row.session_id,
        "new_recovered_at": recovery.recovered_at if recovery else None,
        "new_recovered_by": recovery.recovered_by if recovery else None,
        "new_time_to_recovery_s": recovery.time_to_recovery_s if recovery else None,
    }
    if change_seq is not None:
        update |= {
            "new_change_seq": change_seq,
            "new_revision": row.revision + 1,
            "new_updated_at": now,
        }
    return update
