"""Keeping abandoned calls' recoveries current as calls are stored (the rule itself is
classifiers/recovery.py).

Whenever the processor stores a call, the recoveries of its caller number are recomputed around
it: a call that started at `t` can recover the abandoned calls of `[t - window, t]`, and an
abandoned call at `t` is recovered by a call of `[t, t + window]`, so reading that number's calls
of `[t - window, t + window]` is enough. Runs in the processor's transaction; a recovery that
changes takes a new change number, so the abandoned poll and the callback list see it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Category, Outcome
from classifiers.recovery import Recovery, RecoveryCall, caller_key, reached_at, recoveries
from classifiers.timing import shifted
from service.processing import queries
from service.rollups import queries as rollup_queries

KEY_LENGTH = 64  # call_outcomes.caller_key
CATEGORIES = {category.value: category for category in Category}


@dataclass(frozen=True, slots=True)
class TouchedCall:
    """A stored call whose number's recoveries may have changed."""

    caller_key: str
    started_at: datetime


def caller_key_of(outcome: Outcome) -> str | None:
    key = caller_key(outcome.direction, outcome.from_number, outcome.to_number)
    return key[:KEY_LENGTH] if key else None


def touched(caller: str | None, started_at: datetime | None) -> list[TouchedCall]:
    return [TouchedCall(caller, started_at)] if caller and started_at else []


async def refresh_recoveries(
    connection: AsyncConnection,
    calls: Iterable[TouchedCall],
    *,
    window: timedelta,
    now: datetime,
    written: Collection[str] = (),
) -> int:
    """Recompute the recoveries around these calls and store those that changed; how many.
    Outcomes `written` in this transaction keep the change number they were just given."""
    spans: dict[str, tuple[datetime, datetime]] = {}
    for call in calls:
        low, high = spans.get(call.caller_key, (call.started_at, call.started_at))
        spans[call.caller_key] = (min(low, call.started_at), max(high, call.started_at))
    if not spans:
        return 0
    start = shifted(min(low for low, _ in spans.values()), -window)
    end = shifted(max(high for _, high in spans.values()), window)
    by_caller: dict[str, list[queries.RecoveryRow]] = defaultdict(list)
    for row in await queries.calls_of_callers(connection, spans.keys(), start, end):
        by_caller[row.caller_key].append(row)
    changed: list[tuple[queries.RecoveryRow, Recovery | None]] = []
    for caller, rows in by_caller.items():
        found = recoveries(map(_recovery_call, rows), window)
        latest = spans[caller][1]
        for row in rows:
            # later abandoned calls may have recovering calls beyond what was read
            if row.started_at > latest:
                continue
            recovery = found.get(row.session_id)
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


def _recovery_call(row: queries.RecoveryRow) -> RecoveryCall:
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
