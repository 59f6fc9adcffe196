"""Keeping abandoned calls' recoveries current as calls are stored (the rule itself is
classifiers/recovery.py).

Whenever the processor stores a call, the recoveries of its caller number are recomputed around
it: a call that started at `t` can recover the abandoned calls of `[t - window, t]`, and is
itself one of them if it is abandoned. For each of those calls the database finds the first
later call of the number that reached it (one index probe each, so a number that calls all day
costs no more than a quiet one); the rule then decides whether it came within the window. Runs
in the processor's transaction; a recovery that changes takes a new change number, so the
abandoned poll and the callback list see it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import Category, Outcome
from classifiers.recovery import Recovery, RecoveryCall, caller_key, reached_at, recovery_by
from classifiers.timing import shifted
from service.processing import queries

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
    starts: dict[str, list[datetime]] = defaultdict(list)
    for call in calls:
        starts[call.caller_key].append(call.started_at)
    if not starts:
        return 0
    # a call that started at t can recover the abandoned calls of [t - window, t]
    earliest = shifted(min(min(times) for times in starts.values()), -window)
    latest = max(max(times) for times in starts.values())
    targets = await queries.recovery_targets(connection, starts.keys(), earliest, latest)
    found = await queries.reaches(connection, {t.first_reach for t in targets if t.first_reach})
    changed: list[tuple[queries.RecoveryTarget, Recovery | None]] = []
    for target in targets:
        recovery = _recovery(target, found.get(target.first_reach or ""), window)
        if _stored(target) != recovery:
            changed.append((target, recovery))
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


def _recovery(
    target: queries.RecoveryTarget, reach: queries.Reach | None, window: timedelta
) -> Recovery | None:
    if not target.is_abandoned or reach is None:
        return None
    category = CATEGORIES.get(reach.category, Category.UNKNOWN)
    reached = reached_at(category, reach.answered_at, reach.started_at)
    if reached is None:
        return None
    abandoned = RecoveryCall(target.session_id, target.started_at, target.ended_at, True, None)
    return recovery_by(abandoned, reach.session_id, reach.started_at, reached, window)


def _stored(row: queries.RecoveryTarget) -> Recovery | None:
    if row.recovered_at is None or row.recovered_by is None or row.time_to_recovery_s is None:
        return None
    return Recovery(row.recovered_at, row.recovered_by, row.time_to_recovery_s)


def _update(
    row: queries.RecoveryTarget,
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
