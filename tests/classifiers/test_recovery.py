"""The abandoned-caller recovery rule: numbers compared by digits, the earliest later call that
reached the caller within the window, and a result that never depends on the order of arrival."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.outcome import Category, Direction
from classifiers.recovery import (
    Recovery,
    RecoveryCall,
    caller_key,
    number_key,
    reached_at,
    recoveries,
)

T0 = datetime(2026, 3, 10, 9, tzinfo=UTC)
WINDOW = timedelta(hours=24)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def abandoned(name: str, minutes: float, ended_after_s: float = 30.0) -> RecoveryCall:
    start = at(minutes)
    return RecoveryCall(name, start, start + timedelta(seconds=ended_after_s), True, None)


def reaching(name: str, minutes: float, answer_after_s: float = 10.0) -> RecoveryCall:
    start = at(minutes)
    return RecoveryCall(name, start, None, False, start + timedelta(seconds=answer_after_s))


def not_reaching(name: str, minutes: float) -> RecoveryCall:
    return RecoveryCall(name, at(minutes), at(minutes + 1), False, None)


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("+14155550123", "14155550123"),
        ("4155550123", "14155550123"),  # the US/Canada national form of the same number
        ("(415) 555-0123", "14155550123"),
        ("+44 20 7946 0958", "442079460958"),
        ("101", "101"),
        ("anonymous", None),
        ("", None),
        (None, None),
        ("7", None),
    ],
)
def test_numbers_are_compared_by_their_digits(number: str | None, key: str | None) -> None:
    assert number_key(number) == key


def test_the_outside_party_is_the_caller_inbound_and_the_called_number_outbound() -> None:
    assert caller_key(Direction.INBOUND, "+14155550123", "+18005550199") == "14155550123"
    assert caller_key(Direction.OUTBOUND, "+18005550199", "4155550123") == "14155550123"


def test_only_answered_and_connected_calls_reach_the_caller() -> None:
    start, answer = at(0), at(1)
    assert reached_at(Category.ANSWERED, answer, start) == answer
    assert reached_at(Category.OUTBOUND_CONNECTED, None, start) == start
    assert reached_at(Category.IN_PROGRESS, answer, start) == answer
    assert reached_at(Category.IN_PROGRESS, None, start) is None
    for category in (Category.VOICEMAIL_LEFT, Category.MISSED, Category.OUTBOUND_UNANSWERED):
        assert reached_at(category, None, start) is None


def test_the_earliest_later_reaching_call_recovers_every_abandon_before_it() -> None:
    calls = [
        abandoned("a1", 0),
        reaching("before", -10),
        abandoned("a2", 5),
        not_reaching("voicemail", 8),
        reaching("r1", 20, answer_after_s=12),
        reaching("r2", 30),
    ]
    found = recoveries(calls, WINDOW)
    assert found == {
        "a1": Recovery(at(20) + timedelta(seconds=12), "r1", 20 * 60 + 12 - 30),
        "a2": Recovery(at(20) + timedelta(seconds=12), "r1", 15 * 60 + 12 - 30),
    }


def test_a_call_after_the_window_recovers_nothing() -> None:
    found = recoveries([abandoned("a", 0), reaching("r", 24 * 60 + 1)], WINDOW)
    assert found == {"a": None}
    edge = recoveries([abandoned("a", 0), reaching("r", 24 * 60)], WINDOW)
    assert edge["a"] is not None
    assert edge["a"].recovered_by == "r"


def test_a_call_reached_while_the_abandoned_call_rang_recovers_it_at_zero() -> None:
    """The caller also rang on a second line and got through before hanging up the first."""
    found = recoveries([abandoned("a", 0, ended_after_s=60), reaching("r", 0.5)], WINDOW)
    assert found["a"] == Recovery(at(0.5) + timedelta(seconds=10), "r", 0.0)


minutes = st.floats(min_value=-3000, max_value=3000, allow_nan=False).map(lambda m: round(m, 2))
call_kinds = st.sampled_from(["abandoned", "reaching", "not_reaching"])


@st.composite
def numbers_calls(draw: st.DrawFn) -> list[RecoveryCall]:
    specs = draw(st.lists(st.tuples(call_kinds, minutes), max_size=12))
    makers = {"abandoned": abandoned, "reaching": reaching, "not_reaching": not_reaching}
    return [makers[kind](f"c{index}", when) for index, (kind, when) in enumerate(specs)]


@settings(max_examples=300, deadline=None)
@given(calls=numbers_calls(), seed=st.randoms(use_true_random=False))
def test_the_order_of_arrival_never_changes_the_result(
    calls: list[RecoveryCall], seed: random.Random
) -> None:
    shuffled = list(calls)
    seed.shuffle(shuffled)
    assert recoveries(shuffled, WINDOW) == recoveries(calls, WINDOW)


@settings(max_examples=300, deadline=None)
@given(calls=numbers_calls())
def test_each_recovery_is_the_earliest_reaching_call_in_the_window(
    calls: list[RecoveryCall],
) -> None:
    found = recoveries(calls, WINDOW)
    assert set(found) == {call.session_id for call in calls if call.abandoned}
    reachers = [call for call in calls if call.reached_at is not None and not call.abandoned]
    for call in calls:
        if not call.abandoned:
            continue
        eligible = [
            r for r in reachers if call.started_at <= r.started_at <= call.started_at + WINDOW
        ]
        recovery = found[call.session_id]
        if not eligible:
            assert recovery is None
            continue
        first = min(eligible, key=lambda r: (r.started_at, r.session_id))
        assert recovery is not None
        assert recovery.recovered_by == first.session_id
        assert recovery.recovered_at == first.reached_at
        assert recovery.time_to_recovery_s >= 0
