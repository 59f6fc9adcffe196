"""Every fixture in fixtures/sessions/ classifies to its expected outcome, field by field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from classifiers import Category, classify_lines
from tests.classifiers.helpers import SESSIONS, expected_files, load_fixture

FIXTURES = expected_files()


def _differences(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    keys = actual.keys() | expected.keys()
    return {
        key: {"actual": actual.get(key), "expected": expected.get(key)}
        for key in sorted(keys)
        if actual.get(key) != expected.get(key)
    }


def test_fixtures_are_present() -> None:
    assert len(FIXTURES) >= 60
    for path in FIXTURES:
        assert (SESSIONS / path.name.replace(".expected.json", ".jsonl")).exists()


@pytest.mark.parametrize(
    "path", FIXTURES, ids=lambda path: path.name.removesuffix(".expected.json")
)
def test_fixture_classifies_as_expected(path: Path) -> None:
    fixture = load_fixture(path)
    expected = {outcome["telephony_session_id"]: outcome for outcome in fixture.expected}
    logged_only = set(expected) - set(fixture.sessions)
    assert set(fixture.sessions) <= set(expected)
    assert all(expected[key]["reconciliation"] == "call_log_only" for key in logged_only)
    for session_id, notifications in fixture.sessions.items():
        actual = fixture.classify(notifications).model_dump(mode="json")
        assert _differences(actual, expected[session_id]) == {}, session_id
    for session_id in logged_only:
        actual = fixture.classify_call_log(session_id).model_dump(mode="json")
        assert _differences(actual, expected[session_id]) == {}, session_id


@pytest.mark.parametrize(
    "path", FIXTURES, ids=lambda path: path.name.removesuffix(".expected.json")
)
def test_batch_classification_agrees_with_the_fixture(path: Path) -> None:
    fixture = load_fixture(path)
    result = classify_lines(
        fixture.lines,
        now=fixture.now,
        thresholds=fixture.thresholds,
        directory=fixture.directory,
        call_log=fixture.call_log,
    )
    assert result.errors == []
    assert result.lines_read == len(fixture.lines)
    expected = sorted(fixture.expected, key=lambda o: (o["started_at"], o["telephony_session_id"]))
    assert [outcome.model_dump(mode="json") for outcome in result.outcomes] == expected


def _categories_by_view() -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for path in FIXTURES:
        fixture = load_fixture(path)
        for outcome in fixture.expected:
            seen.setdefault(outcome["category"], set()).add(fixture.view)
    return seen


def test_every_category_has_fixtures_from_both_kinds_of_view() -> None:
    seen = _categories_by_view()
    for category in Category:
        views = seen.get(category.value, set())
        account = {v for v in views if v.startswith("account")}
        extension = {v for v in views if v.startswith("extension")}
        assert account, f"{category}: no account-level fixture"
        if category is not Category.ABANDONED_IVR:  # an extension view cannot see an IVR abandon
            assert extension, f"{category}: no extension-level fixture"


def test_every_leg_outcome_appears_in_a_fixture() -> None:
    kinds = {
        leg["outcome"]
        for path in FIXTURES
        for outcome in load_fixture(path).expected
        for leg in outcome["legs"]
    }
    assert kinds == {
        "answered",
        "missed",
        "caller_abandoned",
        "answered_elsewhere",
        "rejected",
        "voicemail_left",
        "abandoned_voicemail",
        "transferred",
        "in_progress",
    }
