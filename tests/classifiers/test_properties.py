"""Properties: order, duplication and delivery split never change an outcome; junk never crashes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from classifiers import (
    Category,
    Outcome,
    ParseError,
    Stage,
    build_timeline,
    classify_events,
    parse_notification,
    party_events,
    party_events_from_envelope,
)
from classifiers.payloads import TelephonySessionNotification
from tests.classifiers.helpers import Fixture, session_fixtures

FIXTURES = session_fixtures()
SESSIONS = [
    (fixture, session_id)
    for fixture in FIXTURES
    for session_id, notifications in fixture.sessions.items()
    if len(notifications) > 1
]
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _baseline(fixture: Fixture, session_id: str) -> dict[str, Any]:
    return fixture.classify(fixture.sessions[session_id]).model_dump()


def _redelivered(notification: TelephonySessionNotification, view: int) -> Any:
    """The same party event as another subscription would receive it: new uuid and owner."""
    raw = notification.model_dump(mode="json", by_alias=True)
    raw["uuid"] = f"{raw['uuid']}-view{view}"
    raw["subscriptionId"] = f"subscription-{view}"
    raw["ownerId"] = f"owner-{view}"
    parsed = parse_notification(raw)
    assert isinstance(parsed, TelephonySessionNotification)
    return parsed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_order_duplicates_and_delivery_split_do_not_change_the_outcome(data: st.DataObject) -> None:
    fixture, session_id = data.draw(st.sampled_from(SESSIONS), label="session")
    original = fixture.sessions[session_id]
    shuffled = data.draw(st.permutations(original), label="order")
    repeats = data.draw(
        st.lists(st.sampled_from(original), max_size=len(original)), label="duplicates"
    )
    # Each delivery is one subscription's list; a party event seen by several views arrives
    # once per view with its own envelope.
    deliveries = data.draw(st.integers(min_value=1, max_value=3), label="deliveries")
    split = data.draw(
        st.lists(
            st.integers(min_value=0, max_value=deliveries - 1),
            min_size=len(shuffled),
            max_size=len(shuffled),
        ),
        label="split",
    )
    lists: list[list[Any]] = [[] for _ in range(deliveries)]
    for notification, view in zip(shuffled, split, strict=True):
        lists[view].append(notification if view == 0 else _redelivered(notification, view))
    merged = [notification for delivery in lists for notification in delivery] + repeats
    assert fixture.classify(merged).model_dump() == _baseline(fixture, session_id)


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_the_fast_reader_gives_the_same_events_as_the_models(data: st.DataObject) -> None:
    fixture = data.draw(st.sampled_from(FIXTURES))
    for line in fixture.lines:
        raw = orjson.loads(line)
        model = parse_notification(raw)
        if isinstance(model, TelephonySessionNotification):
            assert party_events_from_envelope(raw) == party_events(model)


# --- junk --------------------------------------------------------------------------------------

KNOWN_CODES = [
    "Setup",
    "Proceeding",
    "Answered",
    "Hold",
    "Parked",
    "VoiceMail",
    "Voicemail",
    "VMScreening",
    "VoiceMailScreening",
    "Disconnected",
    "disconnected",
    "Gone",
    "FaxReceive",
    "Tds",
]
KNOWN_REASONS = [
    "Timeout",
    "NoAnswer",
    "TargetBusy",
    "Rejected",
    "BlindTransfer",
    "AttendedTransfer",
    "CallerInputRedirect",
    "Pickup",
    "DtmfTransfer",
    "CallFinished",
    "InvalidNumber",
    "InternalError",
    "Voicemail",
    "Cancelled",
]
junk_text = st.text(max_size=12)
codes = st.one_of(st.sampled_from(KNOWN_CODES), junk_text)
reasons = st.one_of(st.none(), st.sampled_from(KNOWN_REASONS), junk_text)
extension_ids = st.one_of(st.none(), st.sampled_from(["101016", "102016", "103016"]), junk_text)
directions = st.one_of(st.none(), st.sampled_from(["Inbound", "Outbound", "inbound"]), junk_text)
numbers = st.one_of(st.none(), st.sampled_from(["+14155550123", "+18005550199", "1101"]))
sequences = st.one_of(
    st.integers(min_value=2, max_value=14), st.integers(min_value=-(2**62), max_value=2**62)
)
times = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(st.none(), st.just(UTC)),
)


def _maybe(values: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        values[key] = value


@st.composite
def junk_party(draw: st.DrawFn) -> dict[str, Any]:
    party: dict[str, Any] = {"id": f"p-junk-{draw(st.integers(0, 5))}"}
    _maybe(party, "extensionId", draw(extension_ids))
    _maybe(party, "direction", draw(directions))
    status: dict[str, Any] = {}
    if draw(st.booleans()):
        status["code"] = draw(codes)
    _maybe(status, "reason", draw(reasons))
    if draw(st.booleans()):
        status["peerId"] = {"telephonySessionId": draw(junk_text), "partyId": draw(junk_text)}
    if draw(st.booleans()):
        party["status"] = status
    for side in ("from", "to"):
        if draw(st.booleans()):
            participant: dict[str, Any] = {}
            _maybe(participant, "phoneNumber", draw(numbers))
            _maybe(participant, "extensionId", draw(extension_ids))
            _maybe(participant, "name", draw(st.one_of(st.none(), junk_text)))
            party[side] = participant
    for flag in ("missedCall", "queueCall", "standAlone"):
        if draw(st.booleans()):
            party[flag] = draw(st.booleans())
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["QueueName", "CallerIdName", "queuename"]))
        party["uiCallInfo"] = {"primary": {"type": kind, "value": draw(junk_text)}}
    if draw(st.booleans()):
        party["park"] = {"id": draw(st.one_of(junk_text, st.integers(0, 999)))}
    return party


@st.composite
def junk_notification(draw: st.DrawFn) -> dict[str, Any]:
    moment = draw(times)
    parties = draw(st.lists(junk_party(), min_size=1, max_size=2))
    return {
        "uuid": draw(st.one_of(st.just(""), junk_text, st.uuids().map(str))),
        "event": draw(
            st.sampled_from(
                [
                    "/restapi/v1.0/account/1016/telephony/sessions",
                    "/restapi/v1.0/account/1016/extension/101016/telephony/sessions",
                ]
            )
        ),
        "body": {
            "sequence": draw(sequences),
            "telephonySessionId": "s-junk",
            "eventTime": moment.isoformat(),
            "parties": parties,
        },
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw_notifications=st.lists(junk_notification(), min_size=1, max_size=12),
    now=times,
    fast=st.booleans(),
)
def test_junk_party_fields_never_crash_and_keep_the_invariants(
    raw_notifications: list[dict[str, Any]], now: datetime, fast: bool
) -> None:
    events = []
    for raw in raw_notifications:
        parsed = party_events_from_envelope(raw) if fast else parse_notification(raw)
        if isinstance(parsed, ParseError):
            continue
        events.extend(parsed if isinstance(parsed, list) else party_events(parsed))
    assume(events)
    outcome = classify_events(events, now=now)
    timeline = build_timeline(events)
    _check_invariants(outcome, {p.party_id for p in timeline.parties if p.extension_id})


def _check_invariants(outcome: Outcome, parties_with_extension: set[str]) -> None:
    assert outcome.is_abandoned == outcome.category.is_abandoned
    assert outcome.final or outcome.category is Category.IN_PROGRESS
    assert (outcome.category is Category.IN_PROGRESS) == (not outcome.final)
    assert {leg.party_id for leg in outcome.legs} == parties_with_extension
    assert (outcome.time_to_abandon_s is not None) <= outcome.is_abandoned
    for duration in (outcome.ring_s, outcome.wait_s, outcome.talk_s, outcome.hold_s):
        assert duration is None or duration >= 0
    assert isinstance(outcome.stage, Stage)
    assert outcome.extension_ids == sorted(outcome.extension_ids)
    assert orjson.dumps(outcome.model_dump(mode="json"))  # always serialisable


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        json_values,
        st.binary(max_size=64),
        st.text(max_size=64),
        junk_notification().map(lambda raw: {**raw, "body": {**raw["body"], "sequence": "x"}}),
        junk_notification().map(lambda raw: {**raw, "body": [raw["body"]]}),
    )
)
def test_arbitrary_json_is_a_notification_or_a_parse_error(value: Any) -> None:
    parsed = parse_notification(value)
    assert isinstance(parsed, TelephonySessionNotification | ParseError)
    if isinstance(value, dict):
        fast = party_events_from_envelope(value)
        assert isinstance(fast, list | ParseError)


@settings(max_examples=50, deadline=None)
@given(
    shift=st.floats(min_value=0, max_value=3 * 3600), extra=st.floats(min_value=1, max_value=1e6)
)
def test_a_session_is_unknown_only_once_stale(shift: float, extra: float) -> None:
    fixture = next(f for f in FIXTURES if f.name == "in-progress-ringing-account")
    (notifications,) = fixture.sessions.values()
    last = max(n.body.event_time for n in notifications)
    stale_after = fixture.thresholds.session_stale_after_s
    fresh = fixture.classify(notifications, now=last + timedelta(seconds=shift))
    stale = fixture.classify(notifications, now=last + timedelta(seconds=stale_after + extra))
    assert (fresh.category, fresh.final) == (Category.IN_PROGRESS, False)
    assert (stale.category, stale.final) == (Category.UNKNOWN, True)
    assert "no_final_event" in stale.data_gaps
