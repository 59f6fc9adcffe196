"""The processor's recovery pass updates only what a change can affect; this checks, on both
databases, that after any sequence of stores, rewrites, moves and removals the stored recoveries
of EVERY call are still what the rule says of all the stored calls (classifiers/recovery.py),
including calls the pass never looked at."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from classifiers.outcome import ABANDONED_CATEGORIES, Category
from classifiers.recovery import RecoveryCall, reached_at, recoveries
from service.db.engine import create_engine
from service.db.tables import call_outcomes
from service.processing.queries import RECOVERY_COLUMNS
from service.processing.recovery import refresh_recoveries
from service.settings import Settings

START = datetime(2026, 5, 4, tzinfo=UTC)
NOW = START + timedelta(days=4)
WINDOW = timedelta(days=1)
KEYS = ("15105550111", "15105550222", "15105550333", None)
CATEGORIES = (
    Category.ANSWERED,
    Category.OUTBOUND_CONNECTED,
    Category.IN_PROGRESS,
    Category.ABANDONED_QUEUE,
    Category.ABANDONED_RINGING,
    Category.SHORT_ABANDON,
    Category.MISSED,
    Category.VOICEMAIL_LEFT,
)
ROUNDS = 60
INITIAL_CALLS = 60


class Calls:
    """Random calls of a few numbers over three days (minute starts, so some coincide)."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.names = (f"s{n:04d}" for n in itertools.count())
        self.seqs = itertools.count(1_000)

    def fields(self) -> dict[str, Any]:
        pick = self.random
        category = pick.choice(CATEGORIES)
        started = START + timedelta(minutes=pick.randrange(3 * 24 * 60))
        answered = None
        if category in (Category.ANSWERED, Category.OUTBOUND_CONNECTED) or (
            category is Category.IN_PROGRESS and pick.random() < 0.5
        ):
            answered = started + timedelta(seconds=pick.randrange(0, 90))
        return {
            "category": category.value,
            "is_abandoned": category in ABANDONED_CATEGORIES,
            "ever_abandoned": category in ABANDONED_CATEGORIES,
            "final": category is not Category.IN_PROGRESS,
            "started_at": started,
            "answered_at": answered,
            "ended_at": None if pick.random() < 0.2 else started + timedelta(minutes=2),
            "caller_key": pick.choice(KEYS),
            "change_seq": next(self.seqs),
        }

    def new_row(self) -> dict[str, Any]:
        return {
            "telephony_session_id": next(self.names),
            "direction": "inbound",
            "stage": "ended",
            "rules_version": "test",
            "document": "{}",
            "revision": 1,
            "created_at": START,
            "updated_at": START,
            **self.fields(),
        }


def expected(rows: list[Any]) -> dict[str, tuple[Any, Any, Any]]:
    """The rule over every stored call, per call: (recovered_at, recovered_by, seconds)."""
    by_number: dict[str | None, list[RecoveryCall]] = {}
    for row in rows:
        reached = reached_at(Category(row.category), row.answered_at, row.started_at)
        call = RecoveryCall(
            row.telephony_session_id, row.started_at, row.ended_at, row.is_abandoned, reached
        )
        by_number.setdefault(row.caller_key, []).append(call)
    found: dict[str, tuple[Any, Any, Any]] = {
        row.telephony_session_id: (None, None, None) for row in rows
    }
    for number, calls in by_number.items():
        if number is None:
            continue
        for session, recovery in recoveries(calls, WINDOW).items():
            if recovery is not None:
                found[session] = (
                    recovery.recovered_at,
                    recovery.recovered_by,
                    recovery.time_to_recovery_s,
                )
    return found


def mutations(calls: Calls, existing: list[str]) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """At first 60 new calls, then 1 to 4 changes: a new call, a call rewritten (any field, as
    a reclassification or a correction may), or a call removed (merged into another session)."""
    for _ in range(calls.random.randint(1, 4) if existing else INITIAL_CALLS):
        roll = calls.random.random()
        if roll < 0.3 or len(existing) < INITIAL_CALLS // 2:
            row = calls.new_row()
            existing.append(row["telephony_session_id"])
            yield row["telephony_session_id"], row
        elif roll < 0.9:
            yield calls.random.choice(existing), calls.fields()
        else:
            gone = calls.random.choice(existing)
            existing.remove(gone)
            yield gone, None


async def test_every_stored_recovery_follows_the_rule_after_any_changes(
    settings: Settings,
) -> None:
    calls = Calls(seed=7)
    engine = create_engine(settings)
    existing: list[str] = []
    before: dict[str, tuple[Any, Any, Any]] = {}
    beyond = 0  # recoveries that changed on calls the round did not touch
    try:
        for round_number in range(ROUNDS):
            async with engine.begin() as connection:
                changed: set[str] = set()
                for session, fields in mutations(calls, existing):
                    changed.add(session)
                    table = call_outcomes.c.telephony_session_id == session
                    if fields is None:
                        await connection.execute(delete(call_outcomes).where(table))
                    elif "telephony_session_id" in fields:
                        await connection.execute(insert(call_outcomes).values(fields))
                    else:
                        # the processor's upsert never writes the recovery columns
                        assert not set(fields) & set(RECOVERY_COLUMNS)
                        await connection.execute(update(call_outcomes).where(table).values(fields))
                await refresh_recoveries(
                    connection, changed, window=WINDOW, now=NOW, written=changed
                )
            async with engine.connect() as connection:
                rows = list(await connection.execute(select(call_outcomes)))
            stored = {
                row.telephony_session_id: (
                    row.recovered_at,
                    row.recovered_by,
                    row.time_to_recovery_s,
                )
                for row in rows
            }
            assert stored == expected(rows), f"round {round_number}"
            beyond += sum(
                1
                for session, recovery in stored.items()
                if session not in changed and before.get(session, recovery) != recovery
            )
            before = stored
        assert sum(1 for by in stored.values() if by[1] is not None) >= 5
        assert beyond >= 5, "changes should have moved recoveries of other calls"
    finally:
        await engine.dispose()
