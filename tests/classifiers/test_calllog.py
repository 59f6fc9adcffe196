"""The call log read into a verdict: every result's meaning, records of one session read together,
reconciliation with the events, and outcomes from records alone."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import (
    Category,
    DirectoryEntry,
    Evidence,
    Reconciliation,
    Source,
    classify_call_log,
    classify_lines,
)
from classifiers.calllog import LogResult, read_call_log, read_result, session_key
from classifiers.decide import Verdict
from classifiers.outcome import Direction, Stage
from classifiers.payloads import CallLogRecord
from classifiers.reconcile import agree, event_result
from classifiers.roles import Role, role_of_kind
from fixtures.builder import (
    ACCOUNT_VIEW,
    ALICE,
    BOB,
    IVR,
    CallBuilder,
    callee,
    from_sequence,
    pstn_caller,
)
from tests.classifiers.helpers import classify_call

START = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
NOW = START + timedelta(days=1)

# RingCentral's CallResultEnum (OpenAPI spec 1.0.60), with the meaning docs/outcomes.md gives it.
RESULT_MEANINGS = {
    "911": LogResult.UNKNOWN,
    "933": LogResult.UNKNOWN,
    "Abandoned": LogResult.GAVE_UP,
    "Accepted": LogResult.CONNECTED,
    "Answered Not Accepted": LogResult.UNANSWERED,
    "Blocked": LogResult.BUSY_REJECTED,
    "Busy": LogResult.BUSY_REJECTED,
    "Call Failed": LogResult.FAILED,
    "Call Failure": LogResult.FAILED,
    "Call connected": LogResult.CONNECTED,
    "Carrier is not active": LogResult.FAILED,
    "Declined": LogResult.BUSY_REJECTED,
    "EDGE trunk misconfigured": LogResult.FAILED,
    "Fax Not Sent": LogResult.FAILED,
    "Fax Partially Sent": LogResult.FAILED,
    "Fax Poor Line": LogResult.FAILED,
    "Fax Receipt Error": LogResult.FAILED,
    "Fax on Demand": LogResult.CONNECTED,
    "Hang Up": LogResult.GAVE_UP,
    "IP Phone Offline": LogResult.FAILED,
    "In Progress": LogResult.IN_PROGRESS,
    "Internal Error": LogResult.FAILED,
    "International Disabled": LogResult.FAILED,
    "International Restricted": LogResult.FAILED,
    "Missed": LogResult.UNANSWERED,
    "No Answer": LogResult.NOT_ANSWERED,
    "No Calling Credit": LogResult.FAILED,
    "Not Allowed": LogResult.FAILED,
    "Partial Receive": LogResult.FAILED,
    "Phone Login": LogResult.UNKNOWN,
    "Receive Error": LogResult.FAILED,
    "Received": LogResult.CONNECTED,
    "Rejected": LogResult.BUSY_REJECTED,
    "Reply": LogResult.BUSY_REJECTED,
    "Restricted Number": LogResult.FAILED,
    "Send Error": LogResult.FAILED,
    "Sent": LogResult.CONNECTED,
    "Sent to Voicemail": LogResult.UNKNOWN,  # a leg marker: voicemail reached, not a result
    "Stopped": LogResult.ANSWERED_ELSEWHERE,
    "Suspended account": LogResult.FAILED,
    "Unknown": LogResult.UNKNOWN,
    "Voicemail": LogResult.VOICEMAIL_LEFT,
    "Wrong Number": LogResult.FAILED,
    "Answered Elsewhere": LogResult.ANSWERED_ELSEWHERE,
    "Callback requested": LogResult.CALLBACK,
}


def test_every_result_of_the_spec_has_a_meaning() -> None:
    assert len(RESULT_MEANINGS) == 45
    for result, meaning in RESULT_MEANINGS.items():
        assert read_result(result) is meaning, result
        assert read_result(result.upper()) is meaning, result  # case never matters


@pytest.mark.parametrize(
    ("reason", "meaning"),
    [
        ("Hang Up", LogResult.GAVE_UP),
        (None, LogResult.UNANSWERED),
        ("No Answer", LogResult.NOT_ANSWERED),
        ("Not Answered", LogResult.NOT_ANSWERED),
        ("Stopped", LogResult.ANSWERED_ELSEWHERE),
        ("Line Busy", LogResult.BUSY_REJECTED),
        ("Calls Not Accepted", LogResult.CLOSED),
        ("Internal Error", LogResult.FAILED),
        ("Max Call Limit", LogResult.FAILED),
        ("Something New", LogResult.UNANSWERED),
    ],
)
def test_missed_takes_its_cause_from_the_reason(reason: str | None, meaning: LogResult) -> None:
    assert read_result("Missed", reason) is meaning


def test_a_result_we_do_not_know_is_unknown_and_kept_in_the_evidence() -> None:
    assert read_result("Teleported") is LogResult.UNKNOWN
    outcome = classify_call_log([_record("s-new-value", result="Teleported")], now=NOW)
    assert outcome.category is Category.UNKNOWN
    assert "call_log:result=Teleported" in outcome.evidence


def _record(session: str | None, **fields: Any) -> CallLogRecord:
    values: dict[str, Any] = {
        "id": f"rec-{session}-{fields.get('owner', ALICE)}",
        "sessionId": "12345016",
        "startTime": START.isoformat(),
        "duration": 30,
        "type": "Voice",
        "direction": "Inbound",
        "action": "Phone Call",
        "result": "Missed",
        "from": {"phoneNumber": "+14155550123"},
        "to": {"phoneNumber": "+16505550101", "extensionId": ALICE},
        "extension": {"id": int(fields.pop("owner", ALICE))},
    }
    if session is not None:
        values["telephonySessionId"] = session
    values.update(fields)
    return CallLogRecord.model_validate(values)


def test_the_latest_version_of_a_record_wins_in_any_order() -> None:
    early = _record(
        "s-1", result="In Progress", lastModifiedTime=(START + timedelta(seconds=5)).isoformat()
    )
    final = _record(
        "s-1", result="Accepted", lastModifiedTime=(START + timedelta(seconds=90)).isoformat()
    )
    for order in ([early, final], [final, early]):
        view = read_call_log(order, {"s-1"}, {})
        assert view is not None
        assert view.result is LogResult.CONNECTED
        assert len(view.records) == 1


def test_records_of_one_call_are_read_together_strongest_result_first() -> None:
    agent_missed = _record("s-2", owner=BOB, result="Missed", reason="Stopped")
    agent_answered = _record("s-2", result="Accepted")
    view = read_call_log([agent_missed, agent_answered], {"s-2"}, {})
    assert view is not None
    assert view.result is LogResult.CONNECTED
    queue_hang_up = _record("s-3", result="Missed", reason="Hang Up")
    agent_timeout = _record("s-3", owner=BOB, result="Missed", reason="No Answer")
    view = read_call_log([agent_timeout, queue_hang_up], {"s-3"}, {})
    assert view is not None
    assert view.result is LogResult.GAVE_UP  # the caller hung up after an agent's ring timed out


def test_a_record_still_in_progress_keeps_the_call_in_progress() -> None:
    ended = _record("s-4", owner=BOB, result="Missed", reason="No Answer")
    ongoing = _record("s-4", result="In Progress")
    view = read_call_log([ended, ongoing], {"s-4"}, {})
    assert view is not None
    assert not view.final
    outcome = classify_call_log([ended, ongoing], now=START + timedelta(minutes=2))
    assert outcome.category is Category.IN_PROGRESS
    assert not outcome.final
    stale = classify_call_log([ended, ongoing], now=START + timedelta(hours=6))
    assert stale.category is Category.UNKNOWN
    assert "no_final_event" in stale.data_gaps


def test_legs_of_another_session_are_not_this_session() -> None:
    transfer_leg = {"result": "Accepted", "telephonySessionId": "s-other", "legType": "Transfer"}
    own_leg = {"result": "Missed", "reason": "Hang Up", "legType": "Accept", "master": True}
    record = _record("s-5", legs=[own_leg, transfer_leg])
    view = read_call_log([record], {"s-5"}, {})
    assert view is not None
    assert view.result is LogResult.GAVE_UP
    other = read_call_log([record], {"s-other"}, {})
    assert other is not None
    assert other.result is LogResult.CONNECTED


def test_a_linked_message_means_a_message_was_left() -> None:
    record = _record("s-6", result="Missed", message={"id": "77", "type": "VoiceMail"})
    outcome = classify_call_log([record], now=NOW)
    assert outcome.category is Category.VOICEMAIL_LEFT
    assert "call_log:message=77" in outcome.evidence


def test_internal_calls_are_told_by_both_ends_being_ours() -> None:
    caller_side = _record(
        "s-7",
        owner=BOB,
        direction="Outbound",
        result="Hang Up",
        reason="Hang Up",
        **{"from": {"extensionId": BOB}, "to": {"extensionId": ALICE}},
    )
    outcome = classify_call_log([caller_side], now=NOW)
    assert outcome.direction is Direction.INTERNAL
    assert outcome.category is Category.ABANDONED_RINGING


def test_session_keys_for_records_without_a_telephony_session_id() -> None:
    assert session_key(_record("s-8")) == "s-8"
    assert session_key(_record(None)) == "session:12345016"
    assert session_key(_record(None, sessionId="0")) == "record:rec-None-" + ALICE
    with pytest.raises(ValueError, match="several sessions"):
        classify_call_log([_record("s-9"), _record("s-10")], now=NOW)
    with pytest.raises(ValueError, match="no call-log record"):
        classify_call_log([], now=NOW)


@pytest.mark.parametrize("kind", ["User", "Limited", "SharedLinesGroup"])
def test_any_kind_of_person_among_the_owners_places_the_call_at_ringing(kind: str) -> None:
    """Beside an IVR's record, a record of someone who can answer means the call rang: the
    call-log path counts the same kinds as people as the events' roles do."""
    directory = {IVR: DirectoryEntry("IvrMenu"), ALICE: DirectoryEntry(kind)}
    evidence = Evidence(directory=directory)
    menu = _record("s-12", owner=IVR, result="Missed", reason="Hang Up")
    person = _record("s-12", result="Missed", reason="Hang Up")
    in_menu = classify_call_log([menu], now=NOW, evidence=evidence)
    rang = classify_call_log([menu, person], now=NOW, evidence=evidence)
    assert role_of_kind(kind) is Role.PERSON
    assert (in_menu.category, in_menu.stage) == (Category.ABANDONED_IVR, Stage.IVR)
    assert (rang.category, rang.stage) == (Category.ABANDONED_RINGING, Stage.RINGING)


def test_a_call_log_only_outcome_says_where_it_came_from() -> None:
    outcome = classify_call_log([_record("s-11", result="Missed", reason="Hang Up")], now=NOW)
    assert outcome.sources == [Source.CALL_LOG]
    assert outcome.reconciliation is Reconciliation.CALL_LOG_ONLY
    assert "no_webhook_events" in outcome.data_gaps
    assert outcome.time_to_abandon_s == 30.0
    assert outcome.ended_at == START + timedelta(seconds=30)


# --- reconciliation ------------------------------------------------------------------------------


def _verdict(category: Category, reason: str | None = None) -> Verdict:
    return Verdict(category, Stage.UNKNOWN, reason)


def test_the_call_log_agrees_when_it_says_less_never_other() -> None:
    assert agree(event_result(_verdict(Category.ABANDONED_QUEUE)), LogResult.UNANSWERED)
    assert agree(event_result(_verdict(Category.MISSED, "closed")), LogResult.UNANSWERED)
    assert agree(event_result(_verdict(Category.ANSWERED)), LogResult.ANSWERED_ELSEWHERE)
    assert not agree(event_result(_verdict(Category.VOICEMAIL_LEFT)), LogResult.UNANSWERED)
    assert not agree(event_result(_verdict(Category.SHORT_ABANDON)), LogResult.CONNECTED)
    assert not agree(event_result(_verdict(Category.MISSED, "ring_timeout")), LogResult.GAVE_UP)
    outbound_gave_up = _verdict(Category.OUTBOUND_UNANSWERED, "caller_gave_up")
    assert event_result(outbound_gave_up) is LogResult.GAVE_UP


def _ringing_call(name: str, hangup_at: float) -> CallBuilder:
    b = CallBuilder(name, START)
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(hangup_at, caller, "Disconnected")
    b.at(hangup_at + 0.03, alice, "Disconnected", missed=True)
    return b


def test_events_without_a_record_wait_for_the_call_log_only_when_one_is_expected() -> None:
    b = _ringing_call("awaiting-call-log", 14.0)
    plain = classify_call(b)
    assert plain.reconciliation is Reconciliation.EVENTS_ONLY
    assert plain.sources == [Source.WEBHOOK]
    record = b.call_log_record(ALICE, result="Missed", reason="Hang Up", duration_s=14)
    agreed = classify_call(b, call_log=[record])
    assert agreed.reconciliation is Reconciliation.AGREED
    assert agreed.sources == [Source.WEBHOOK, Source.CALL_LOG]
    assert agreed.category is plain.category is Category.ABANDONED_RINGING


def test_a_record_in_progress_beside_ended_events_is_awaited() -> None:
    b = _ringing_call("record-in-progress", 14.0)
    record = b.call_log_record(ALICE, result="In Progress", reason=None, duration_s=5)
    outcome = classify_call(b, call_log=[record])
    assert outcome.reconciliation is Reconciliation.AWAITING_CALL_LOG
    assert outcome.category is Category.ABANDONED_RINGING


def test_lost_first_events_never_make_an_abandon_on_their_own() -> None:
    b = _ringing_call("lost-start", 14.0)
    lines = from_sequence(b.notifications(ACCOUNT_VIEW), 6)
    result = classify_lines([orjson.dumps(line) for line in lines], now=b.time(100))
    (outcome,) = result.outcomes
    assert outcome.category is Category.UNKNOWN
    assert "missing_start_events" in outcome.data_gaps
    assert "events_suggest:short_abandon" in outcome.evidence


# --- properties ----------------------------------------------------------------------------------

_RESULTS = st.sampled_from([*RESULT_MEANINGS, "Teleported", ""])
_REASONS = st.sampled_from([None, "Hang Up", "No Answer", "Stopped", "Line Busy", "Accepted"])


@st.composite
def _records(draw: st.DrawFn) -> list[CallLogRecord]:
    count = draw(st.integers(1, 4))
    records = []
    for index in range(count):
        records.append(
            _record(
                "s-prop",
                id=f"r{draw(st.integers(0, 2))}",
                owner=draw(st.sampled_from([ALICE, BOB])),
                result=draw(_RESULTS),
                reason=draw(_REASONS),
                duration=draw(st.integers(0, 600)),
                direction=draw(st.sampled_from(["Inbound", "Outbound"])),
                lastModifiedTime=(START + timedelta(seconds=index)).isoformat(),
            )
        )
    return records


@settings(max_examples=150, deadline=None)
@given(_records())
def test_the_order_of_records_never_changes_the_outcome(records: list[CallLogRecord]) -> None:
    outcomes = {
        classify_call_log(list(order), now=NOW).model_dump_json()
        for order in itertools.permutations(records)
    }
    assert len(outcomes) == 1


# Values of the right type (so that the record is read) but odd content: empty, unknown, known
# in another case, negative, huge, or naming another session.
_ODD_TEXT = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.sampled_from(
        ["", " ", "MISSED", " hang up ", "Sent to Voicemail", "voicemail", "QueueForwarding"]
    ),
)
_ODD_KIND = st.one_of(
    _ODD_TEXT, st.sampled_from(["TransferCall", "transfer", "FollowMe", "SipForwarding"])
)
_ODD_ID = st.one_of(st.none(), st.text(max_size=6), st.integers(-5, 10**9))
_ODD_SECONDS = st.one_of(st.none(), st.integers(-5, 10**6), st.floats(-5, 10**6, allow_nan=False))
_ODD_TIME = st.one_of(
    st.none(),
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        datetime.isoformat
    ),
)
_ODD_PARTY = st.fixed_dictionaries(
    {}, optional={"phoneNumber": _ODD_TEXT, "extensionId": _ODD_TEXT, "name": _ODD_TEXT}
)
_ODD_MESSAGE = st.fixed_dictionaries(
    {}, optional={"id": _ODD_ID, "type": st.one_of(_ODD_TEXT, st.just("Fax")), "uri": _ODD_TEXT}
)
_ODD_DELEGATE = st.fixed_dictionaries({}, optional={"id": _ODD_ID, "name": _ODD_TEXT})
_ODD_LEG_FIELDS = {
    "result": _ODD_TEXT,
    "reason": _ODD_TEXT,
    "legType": _ODD_KIND,
    "action": _ODD_KIND,
    "direction": st.one_of(_ODD_TEXT, st.sampled_from(["Inbound", "Outbound"])),
    "startTime": _ODD_TIME,
    "duration": _ODD_SECONDS,
    "durationMs": st.one_of(st.none(), st.integers(-5_000, 10**9)),
    "master": st.one_of(st.none(), st.booleans()),
    "from": _ODD_PARTY,
    "to": _ODD_PARTY,
    "extension": st.fixed_dictionaries({}, optional={"id": _ODD_ID}),
    "message": _ODD_MESSAGE,
    "delegationType": _ODD_TEXT,
    "delegate": _ODD_DELEGATE,
}
_ODD_LEG = st.fixed_dictionaries(
    {},
    optional={
        **_ODD_LEG_FIELDS,
        "telephonySessionId": st.sampled_from([None, "", "s-odd", "s-other"]),
    },
)
_ODD_RECORD = st.fixed_dictionaries(
    {},
    optional={
        **_ODD_LEG_FIELDS,
        "sessionId": _ODD_TEXT,
        "lastModifiedTime": _ODD_TIME,
        "legs": st.lists(_ODD_LEG, max_size=3),
    },
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_ODD_RECORD, min_size=1, max_size=3))
def test_odd_field_values_never_raise(records: list[dict[str, Any]]) -> None:
    read = [
        CallLogRecord.model_validate(
            {**fields, "id": f"odd-{index}", "telephonySessionId": "s-odd"}
        )
        for index, fields in enumerate(records)
    ]
    outcome = classify_call_log(read, now=NOW, evidence=Evidence())
    assert outcome.telephony_session_id == "s-odd"
