"""Helpers of the stats rollup tests: random outcome rows written behind the processor's back
(then marked, as the migration marks existing data), the refresher run to the end, and the same
report computed from the rollups and from the calls alone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from classifiers.outcome import ABANDONED_CATEGORIES, Category, LegOutcomeKind, Reconciliation
from service.api.stats import GroupBy, build_report
from service.db.engine import create_engine
from service.db.sql import begin_snapshot
from service.db.tables import call_legs, call_outcomes, directory_entries
from service.rollups import queries as rollup_queries
from service.rollups.refresher import refresh_rollups
from service.settings import Settings

# Four days around New York's spring forward (2026-03-08 07:00 UTC)
START = datetime(2026, 3, 6, tzinfo=UTC)
SPAN = timedelta(days=4)
EXTENSIONS = ("101", "102", "103", "104", "queue-1", "unknown-9")
QUEUES = ("Sales", "Support", None)
ABANDONED = {category.value for category in ABANDONED_CATEGORIES}


def _started_at(rng: random.Random) -> datetime | None:
    roll = rng.random()
    if roll < 0.02:
        return None
    moment = START - timedelta(hours=6) + timedelta(seconds=rng.uniform(0, SPAN.total_seconds()))
    if roll < 0.1:  # on a quarter boundary: the edge of a slice
        return moment.replace(minute=moment.minute // 15 * 15, second=0, microsecond=0)
    return moment


def _seconds(rng: random.Random, high: float) -> float | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.3:
        return float(rng.randrange(0, int(high)))  # whole seconds: on an SLA's edge
    return round(rng.uniform(0, high), 3)


def outcome_rows(seed: int, count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` random outcomes (every direction, category, reconciliation) and their legs."""
    rng = random.Random(seed)
    outcomes, legs = [], []
    for number in range(count):
        category = rng.choice(list(Category)).value
        started = _started_at(rng)
        session = f"r-{seed}-{number}"
        abandoned = category in ABANDONED
        recovered = abandoned and rng.random() < 0.4
        outcomes.append(
            {
                "telephony_session_id": session,
                "direction": rng.choice(["inbound", "inbound", "internal", "outbound"]),
                "category": category,
                "stage": "ended",
                "is_abandoned": abandoned,
                "ever_abandoned": abandoned,
                "final": rng.random() < 0.95,
                "started_at": started,
                "wait_s": _seconds(rng, 90),
                "time_to_abandon_s": _seconds(rng, 400),
                "queue": rng.choice(QUEUES),
                "rules_version": "test",
                "document": "{}",
                "revision": 1,
                "created_at": START,
                "updated_at": START,
                "change_seq": number + 1,
                "reconciliation": rng.choice(list(Reconciliation)).value,
                "caller_key": rng.choice(["14155550100", "14155550101", None]),
                "recovered_at": started + timedelta(minutes=5) if recovered and started else None,
                "time_to_recovery_s": round(rng.uniform(10, 900), 3) if recovered else None,
            }
        )
        for party in range(rng.choice([0, 1, 1, 2, 3])):
            legs.append(
                {
                    "telephony_session_id": session,
                    "party_id": f"p-{party}",
                    "extension_id": rng.choice([*EXTENSIONS, None]),
                    "outcome": rng.choice(list(LegOutcomeKind)).value,
                    "started_at": started,
                }
            )
    return outcomes, legs


DIRECTORY: list[dict[str, Any]] = [
    {"extension_id": "101", "name": "Ann", "kind": "User", "synced_at": START},
    {"extension_id": "102", "name": "Bob", "kind": "User", "synced_at": START},
    {"extension_id": "103", "name": None, "kind": None, "synced_at": START},
    {"extension_id": "queue-1", "name": "Sales", "kind": "Department", "synced_at": START},
]


async def store_rows(
    settings: Settings,
    outcomes: list[dict[str, Any]],
    legs: list[dict[str, Any]],
    *,
    mark: bool = True,
    directory: bool = True,
) -> None:
    """Write rows as SQL copies would, with the directory (unless told not to: it is written
    once), and mark their quarters."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(call_outcomes), outcomes)
            if legs:
                await connection.execute(insert(call_legs), legs)
            if directory:
                await connection.execute(insert(directory_entries), DIRECTORY)
            if mark:
                await rollup_queries.mark_everything(connection)
    finally:
        await engine.dispose()


async def refresh_all(settings: Settings) -> int:
    """Run the refresher's batches until no mark is left; how many quarters they recomputed."""
    engine = create_engine(settings)
    total = 0
    try:
        while True:
            async with engine.begin() as connection:
                done = await refresh_rollups(connection)
            total += done
            if not done:
                break
        async with engine.connect() as connection:
            assert await rollup_queries.count_marks(connection) == 0
    finally:
        await engine.dispose()
    return total


async def report(engine: AsyncEngine, *, rollups: bool, **params: Any) -> dict[str, Any]:
    """`build_report` in one snapshot, from the rollups or from the calls alone."""
    async with engine.connect() as connection:
        await begin_snapshot(connection)
        return await build_report(
            connection,
            start=params["start"],
            end=params["end"],
            group_by=GroupBy(params["group_by"]),
            zone=ZoneInfo(params.get("tz", "UTC")),
            sla_s=params.get("sla_s", 20.0),
            rollups=rollups,
        )
