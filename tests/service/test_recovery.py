"""Abandoned-caller recovery through the real processor, on both databases: whatever order the
calls of a number arrive in, one at a time or together, the stored recoveries are the same, and
they are what the rule (classifiers/recovery.py) says of the stored calls."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from classifiers.outcome import Category
from classifiers.recovery import RecoveryCall, reached_at, recoveries
from service.cli import app
from service.db.engine import create_engine
from service.processing.queries import RecoveryRow, recovery_rows
from service.settings import Settings
from tests.api.support import Notification, drain, placed, session_of, store_raw

DAY = datetime(2026, 3, 10, tzinfo=UTC)
NOW = DAY + timedelta(days=1)
FIXTURE_CALLER = "+14155550123"
FIXTURE_DIALLED = "+12125550147"
NUMBER = "+15105550111"
OTHER = "+15105550222"


def as_number(notifications: list[Notification], old: str, new: str) -> list[Notification]:
    return [
        orjson.loads(orjson.dumps(n).replace(old.encode(), new.encode())) for n in notifications
    ]


def call(name: str, hour: int, minute: int, hex_digit: str, number: str) -> list[Notification]:
    notifications = placed(name, at=DAY.replace(hour=hour, minute=minute), hex_id=hex_digit * 32)
    return as_number(notifications, FIXTURE_CALLER, number)


CALLS: dict[str, list[Notification]] = {
    "abandoned_queue": call("abandoned-queue-account", 9, 0, "1", NUMBER),
    "abandoned_ringing": call("abandoned-ringing-account", 9, 30, "2", NUMBER),
    "voicemail": call("voicemail-left-account", 9, 45, "3", NUMBER),
    # dialled back in the national form of the number
    "call_back": as_number(
        call("outbound-connected-ext", 10, 0, "4", NUMBER), FIXTURE_DIALLED, "5105550111"
    ),
    "abandoned_later": call("abandoned-ivr-account", 11, 0, "5", NUMBER),
    "other_answered": call("answered-direct-ext", 9, 5, "6", OTHER),
    "other_abandoned": call("abandoned-ringing-account", 9, 10, "7", OTHER),
}
SESSION = {label: session_of(notifications) for label, notifications in CALLS.items()}


async def process(settings: Settings, labels: list[str], *, window: timedelta) -> None:
    """Store the calls' events, then run the processor over them."""
    notifications = [n for label in labels for n in CALLS[label]]
    await store_raw(settings, notifications, received_at=NOW)
    await drain(settings, now=NOW, recovery_window=window)


async def stored(settings: Settings) -> dict[str, RecoveryRow]:
    """Every stored call, as the recovery pass reads it."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await recovery_rows(connection, SESSION.values())
    finally:
        await engine.dispose()
    return {row.session_id: row for row in rows}


def recovered_by(rows: dict[str, Any]) -> dict[str, str | None]:
    """Each abandoned call's label, and the label of the call that recovered it."""
    label_of = {session: label for label, session in SESSION.items()}
    return {
        label_of[session]: label_of.get(row.recovered_by)
        for session, row in rows.items()
        if row.is_abandoned
    }


EXPECTED = {
    "abandoned_queue": "call_back",
    "abandoned_ringing": "call_back",
    "abandoned_later": None,
    "other_abandoned": None,
}
ORDERS = [list(CALLS), list(reversed(CALLS))] + [
    random.Random(seed).sample(list(CALLS), len(CALLS)) for seed in range(3)
]


@pytest.mark.parametrize("order", ORDERS, ids=[f"order{i}" for i in range(len(ORDERS))])
async def test_calls_arriving_one_by_one_in_any_order_give_the_same_recoveries(
    settings: Settings, order: list[str]
) -> None:
    for label in order:
        await process(settings, [label], window=timedelta(days=1))
    rows = await stored(settings)
    assert recovered_by(rows) == EXPECTED
    # ... and equal to the rule applied to what is stored
    assert _stored_recoveries(rows) == _rule(rows, timedelta(days=1))


async def test_calls_arriving_together_give_the_same_recoveries(settings: Settings) -> None:
    await process(settings, list(CALLS), window=timedelta(days=1))
    rows = await stored(settings)
    assert _stored_recoveries(rows) == _rule(rows, timedelta(days=1))
    call_back = rows[SESSION["call_back"]]
    first = rows[SESSION["abandoned_queue"]]
    assert call_back.caller_key == first.caller_key == "15105550111"
    assert first.recovered_at == (call_back.answered_at or call_back.started_at)
    assert first.ended_at is not None
    assert first.recovered_at is not None
    assert first.time_to_recovery_s == (first.recovered_at - first.ended_at).total_seconds()


async def test_the_window_bounds_what_recovers(settings: Settings) -> None:
    await process(settings, list(CALLS), window=timedelta(minutes=30))
    rows = await stored(settings)
    recovered = {label for label, by in recovered_by(rows).items() if by is not None}
    assert recovered == {"abandoned_ringing"}  # 09:30 -> 10:00; the 09:00 call is an hour back


def _stored_recoveries(rows: dict[str, Any]) -> dict[str, Any]:
    return {
        session: (row.recovered_at, row.recovered_by, row.time_to_recovery_s)
        for session, row in rows.items()
        if row.is_abandoned
    }


def _rule(rows: dict[str, Any], window: timedelta) -> dict[str, Any]:
    by_number: dict[str, list[RecoveryCall]] = {}
    for session, row in rows.items():
        reached = reached_at(Category(row.category), row.answered_at, row.started_at)
        by_number.setdefault(row.caller_key, []).append(
            RecoveryCall(session, row.started_at, row.ended_at, row.is_abandoned, reached)
        )
    expected: dict[str, Any] = {}
    for calls in by_number.values():
        for session, recovery in recoveries(calls, window).items():
            expected[session] = (
                (recovery.recovered_at, recovery.recovered_by, recovery.time_to_recovery_s)
                if recovery
                else (None, None, None)
            )
    return expected


async def test_reclassify_applies_a_changed_window_to_stored_calls(settings: Settings) -> None:
    await process(settings, list(CALLS), window=timedelta(minutes=30))
    assert recovered_by(await stored(settings))["abandoned_queue"] is None
    env = {"CALLSIFT_DATABASE_URL": settings.database_url, "CALLSIFT_RECOVERY_WINDOW_S": "86400"}
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["reclassify", "--since", "2020-01-01"], env=env
    )
    assert result.exit_code == 0, result.output
    assert recovered_by(await stored(settings)) == EXPECTED
