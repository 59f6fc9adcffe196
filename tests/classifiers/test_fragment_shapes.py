"""Real RingCentral shapes (fixtures/shapes/, made after the public fragments of issue 17) give
what a careful reader of RingCentral's semantics expects: category, stage, direction, legs and the
data gaps that say what the payload left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import ClassifiedLines, Outcome, classify_lines, load_call_log

SHAPES = Path(__file__).parents[2] / "fixtures" / "shapes"
DAY = timedelta(days=1)


def _lines(name: str) -> list[bytes]:
    return (SHAPES / name).read_bytes().splitlines()


def _document(name: str) -> list[bytes]:
    return [orjson.dumps(orjson.loads((SHAPES / name).read_bytes()))]


def _only(result: ClassifiedLines) -> Outcome:
    assert result.errors == []
    [outcome] = result.outcomes
    return outcome


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


class TestPushWrappedNotification:
    """c01: RingCentral's docs print a notification inside its mobile-push (pn_apns) wrapper."""

    EVENT_TIME = _at("2026-04-01T10:00:00.147+00:00")

    def test_the_notification_inside_the_wrapper_is_read(self) -> None:
        result = classify_lines(_lines("pushwrapped-internal-ringing.jsonl"), now=self.EVENT_TIME)
        outcome = _only(result)
        assert (outcome.category, outcome.stage, outcome.direction) == (
            "in_progress",
            "ringing",
            "internal",
        )
        assert outcome.data_gaps == ["caller_party_not_observed"]
        assert [leg.outcome for leg in outcome.legs] == ["in_progress"]
        assert [number for number, _ in result.notes] == [1]
        assert "pn_apns" in result.notes[0][1]

    def test_with_no_later_event_it_goes_stale(self) -> None:
        result = classify_lines(
            _lines("pushwrapped-internal-ringing.jsonl"), now=self.EVENT_TIME + DAY
        )
        outcome = _only(result)
        assert (outcome.category, outcome.stage) == ("unknown", "ringing")
        assert "no_final_event" in outcome.data_gaps

    def test_a_queue_call_flag_puts_the_caller_in_the_queue(self) -> None:
        outcome = _only(
            classify_lines(_lines("internal-ringing-queuecall.jsonl"), now=self.EVENT_TIME)
        )
        assert (outcome.category, outcome.stage, outcome.direction) == (
            "in_progress",
            "queue",
            "internal",
        )


class TestPartyWithoutStatus:
    """c02: a truncated capture whose only party has no `status`: never read as Setup (an IVR)."""

    EVENT_TIME = _at("2026-04-01T11:00:00.792+00:00")

    def test_stage_unknown_and_the_missing_status_is_a_data_gap(self) -> None:
        outcome = _only(classify_lines(_lines("status-missing-inbound.jsonl"), now=self.EVENT_TIME))
        assert (outcome.category, outcome.stage, outcome.direction) == (
            "in_progress",
            "unknown",
            "inbound",
        )
        assert "party_status_missing" in outcome.data_gaps

    def test_later_it_is_unknown_for_want_of_a_final_event(self) -> None:
        outcome = _only(
            classify_lines(_lines("status-missing-inbound.jsonl"), now=self.EVENT_TIME + DAY)
        )
        assert (outcome.category, outcome.stage) == ("unknown", "unknown")
        assert {"party_status_missing", "no_final_event"} <= set(outcome.data_gaps)

    def test_an_unknown_status_code_is_kept_and_named(self) -> None:
        [line] = _lines("status-missing-inbound.jsonl")
        envelope = orjson.loads(line)
        envelope["body"]["parties"][0]["status"] = {"code": "Ringback"}
        outcome = _only(classify_lines([orjson.dumps(envelope)], now=self.EVENT_TIME))
        assert outcome.stage == "unknown"
        assert "party_status_unknown" in outcome.data_gaps
        assert "party_status:p-a1d1000000000z18e387e5223z8af60000-2=Ringback" in outcome.evidence


@pytest.mark.parametrize("name", ["presence-missed-inbound.jsonl", "presence-ringout.jsonl"])
def test_presence_notifications_are_skipped_with_a_reason(name: str) -> None:
    """c05-c07: presence is not a telephony session; leaving it out is said, per line."""
    lines = _lines(name)
    result = classify_lines(lines, now=datetime(2026, 4, 2, tzinfo=UTC))
    assert result.outcomes == []
    assert result.errors == []
    assert [skipped.line for skipped in result.skipped] == list(range(1, len(lines) + 1))
    assert {skipped.kind for skipped in result.skipped} == {"presence"}
    assert all("/telephony/sessions" in skipped.why for skipped in result.skipped)


class TestRestSnapshots:
    """c08, c09: `GET /telephony/sessions/{id}` snapshots, the party's extension under `owner`."""

    def test_an_inbound_call_ringing_our_extension(self) -> None:
        result = classify_lines(
            _document("rest-snapshot-inbound-ringing.json"), now=_at("2026-04-01T13:00:05+00:00")
        )
        outcome = _only(result)
        assert (outcome.category, outcome.stage, outcome.direction) == (
            "in_progress",
            "ringing",
            "inbound",
        )
        assert [(leg.extension_id, leg.outcome) for leg in outcome.legs] == [
            ("700100216", "in_progress")
        ]
        assert outcome.extension_ids == ["700100216"]
        assert "snapshot" in result.notes[0][1]

    def test_an_outbound_call_connected(self) -> None:
        outcome = _only(
            classify_lines(
                _document("rest-snapshot-outbound-answered.json"),
                now=_at("2026-04-01T13:10:05+00:00"),
            )
        )
        assert (outcome.category, outcome.stage, outcome.direction) == (
            "in_progress",
            "connected",
            "outbound",
        )
        assert [(leg.extension_id, leg.outcome) for leg in outcome.legs] == [
            ("700100216", "in_progress")
        ]

    def test_a_snapshot_without_a_creation_time_is_refused(self) -> None:
        snapshot = orjson.loads((SHAPES / "rest-snapshot-inbound-ringing.json").read_bytes())
        del snapshot["creationTime"]
        result = classify_lines([orjson.dumps(snapshot)], now=datetime(2026, 4, 2, tzinfo=UTC))
        assert result.outcomes == []
        assert [number for number, _ in result.errors] == [1]
        assert "creationTime" in result.errors[0][1]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # c03: Accepted = connected to and accepted by this number
        ("calllog-accepted-no-legs.calllog.json", [("answered", "inbound")]),
        # c04: outbound, Call connected, only the older sessionId
        ("calllog-outbound-legacy-id.calllog.json", [("outbound_connected", "outbound")]),
        # c10: Simple-view records of 2013-2015, some without any session id
        (
            "calllog-simple-no-session.calllog.json",
            [("answered", "inbound"), ("outbound_connected", "outbound"), ("unknown", "outbound")],
        ),
    ],
)
def test_calls_known_only_from_the_call_log(name: str, expected: list[tuple[str, str]]) -> None:
    records = load_call_log((SHAPES / name).read_bytes())
    result = classify_lines([], now=datetime(2026, 5, 1, tzinfo=UTC), call_log=records)
    assert [(o.category.value, o.direction.value) for o in result.outcomes] == expected
    assert all(o.reconciliation == "call_log_only" for o in result.outcomes)
    assert all("no_webhook_events" in o.data_gaps for o in result.outcomes)


@settings(max_examples=10, deadline=None)
@given(st.permutations(range(3)))
def test_snapshots_and_wrapped_lines_read_the_same_in_any_order(order: list[int]) -> None:
    """The shapes callsift unwraps or converts give the same outcomes whatever the order of the
    lines (a property of every input, these included)."""
    lines = [
        *_lines("pushwrapped-internal-ringing.jsonl"),
        *_document("rest-snapshot-inbound-ringing.json"),
        *_lines("status-missing-inbound.jsonl"),
    ]
    now = _at("2026-04-01T13:00:05+00:00")
    baseline = classify_lines(lines, now=now).outcomes
    shuffled = [lines[index] for index in order]
    assert classify_lines(shuffled, now=now).outcomes == baseline
    assert len(baseline) == 3
