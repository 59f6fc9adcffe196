"""Parsing notifications into party events; building timelines from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from classifiers import (
    ParseError,
    ReasonKind,
    StatusCode,
    build_timeline,
    parse_notification,
    party_events,
    party_events_from_envelope,
)
from classifiers.outcome import Evidence, LegOutcome, LegOutcomeKind, Outcome
from classifiers.payloads import TelephonySessionNotification
from tests.classifiers.helpers import SESSIONS, session_fixtures

CSN_LINE = (SESSIONS / "real-csn-pstn-to-ivr.jsonl").read_bytes().splitlines()[6]


def _raw(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = orjson.loads(CSN_LINE)
    party = raw["body"]["parties"][0]
    for key, value in changes.items():
        if key in ("code", "reason"):
            party["status"][key] = value
        else:
            party[key] = value
    return raw


def test_a_real_notification_becomes_one_event_with_named_fields() -> None:
    parsed = parse_notification(CSN_LINE)
    assert isinstance(parsed, TelephonySessionNotification)
    (event,) = party_events(parsed)
    assert event.uuid == "4191289146806975043"
    assert event.telephony_session_id == "s-718107795d564867a6f635fd81e89940"
    assert event.sequence == 8
    assert event.event_time == datetime(2020, 6, 23, 1, 6, 0, 1000, tzinfo=UTC)
    assert event.ts == event.event_time.timestamp()
    assert event.party_id == "p-718107795d564867a6f635fd81e89940-3"
    assert event.extension_id == "809646016"
    assert event.direction == "inbound"
    assert (event.status, event.status_raw) == (StatusCode.ANSWERED, "Answered")
    assert (event.reason, event.reason_kind) == (None, ReasonKind.NONE)
    assert (event.missed_call, event.queue_call) == (False, False)
    assert (event.from_number, event.from_extension_id) == ("+14083388064", None)
    assert (event.to_number, event.to_name, event.to_extension_id) == (
        "+18003151571",
        "TESTER Babji",
        "809646016",
    )
    assert event.queue_name is None


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("VoiceMail", StatusCode.VOICEMAIL),
        ("Voicemail", StatusCode.VOICEMAIL),
        ("VOICEMAIL", StatusCode.VOICEMAIL),
        ("VoiceMailScreening", StatusCode.VOICEMAIL_SCREENING),
        ("VMScreening", StatusCode.VOICEMAIL_SCREENING),
        ("disconnected", StatusCode.DISCONNECTED),
        ("Gone", StatusCode.GONE),
        ("Teleported", StatusCode.OTHER),
        ("Other", StatusCode.OTHER),
        ("", StatusCode.OTHER),
    ],
)
def test_status_codes_match_case_insensitively_and_unknown_ones_are_kept(
    code: str, status: StatusCode
) -> None:
    raw = _raw(code=code)
    parsed = parse_notification(raw)
    assert isinstance(parsed, TelephonySessionNotification)
    for event in (party_events(parsed)[0], _fast(raw)[0]):
        assert (event.status, event.status_raw) == (status, code)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("Timeout", ReasonKind.NO_ANSWER),
        ("noanswer", ReasonKind.NO_ANSWER),
        ("BlindTransfer", ReasonKind.HANDOFF),
        ("Pickup", ReasonKind.ANSWERED_ELSEWHERE),
        ("TargetBusy", ReasonKind.BUSY_OR_REJECTED),
        ("CallFinished", ReasonKind.CLOSED),
        ("DtmfTransfer", ReasonKind.EXIT_KEY),
        ("NotEnoughFunds", ReasonKind.FAILURE),
        ("Cancelled", ReasonKind.NONE),
        ("BrandNewReason", ReasonKind.OTHER),
    ],
)
def test_reasons_are_kept_raw_beside_their_meaning(reason: str, kind: ReasonKind) -> None:
    (event,) = _fast(_raw(reason=reason))
    assert (event.reason, event.reason_kind) == (reason, kind)


def _fast(raw: dict[str, Any]) -> list[Any]:
    events = party_events_from_envelope(raw)
    assert isinstance(events, list)
    return events


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a notification envelope"),
        ({"event": "/restapi/v1.0/subscription/~?threshold=60", "body": {}}, "not a telephony"),
        ({"uuid": "u", "event": "/restapi/v1.0/account/1/telephony/sessions"}, "body"),
    ],
)
def test_bad_input_is_a_parse_error_not_an_exception(raw: Any, message: str) -> None:
    parsed = parse_notification(raw)
    assert isinstance(parsed, ParseError)
    assert message in parsed.message


def test_the_fast_reader_reports_what_is_missing() -> None:
    raw = _raw()
    del raw["body"]["eventTime"]
    assert party_events_from_envelope(raw) == ParseError(
        "body.eventTime missing or not a date-time"
    )
    raw = _raw()
    raw["body"]["parties"] = [{"status": {"code": "Setup"}}]
    assert party_events_from_envelope(raw) == ParseError("a party without an id")
    assert isinstance(party_events_from_envelope([raw]), ParseError)
    assert isinstance(party_events_from_envelope({"body": {"sequence": "2x"}}), ParseError)


def test_event_times_are_utc_whatever_offset_they_were_sent_with() -> None:
    raw = _raw()
    raw["body"]["eventTime"] = "2020-06-23T03:06:00.001+02:00"
    naive = _raw()
    naive["body"]["eventTime"] = "2020-06-23T01:06:00.001"
    expected = datetime(2020, 6, 23, 1, 6, 0, 1000, tzinfo=UTC)
    for source in (raw, naive):
        parsed = parse_notification(source)
        assert isinstance(parsed, TelephonySessionNotification)
        for event in (party_events(parsed)[0], _fast(source)[0]):
            assert event.event_time == expected
            assert event.event_time.utcoffset() == timedelta(0)


# --- timelines ---------------------------------------------------------------------------------


def _csn_events() -> list[Any]:
    fixture = next(f for f in session_fixtures() if f.name == "real-csn-pstn-to-ivr")
    (notifications,) = fixture.sessions.values()
    return [event for n in notifications for event in party_events(n)]


def test_a_timeline_orders_by_sequence_and_groups_parties_in_order_of_appearance() -> None:
    events = _csn_events()
    timeline = build_timeline(reversed(events))
    assert [event.sequence for event in timeline.events] == list(range(2, 13))
    assert [party.party_id[-2:] for party in timeline.parties] == ["-1", "-2", "-3"]
    assert timeline.started_at == datetime(2020, 6, 23, 1, 5, 43, 940000, tzinfo=UTC)
    assert not timeline.has_sequence_gap
    assert timeline.all_ended


def test_equal_sequences_are_ordered_by_event_time_then_party() -> None:
    events = _csn_events()
    late, early = events[4], events[3]  # seq 6 and 5 happen at the same eventTime
    renumbered = [
        type(early)(**{**_fields(early), "sequence": 7}),
        type(late)(**{**_fields(late), "sequence": 7, "ts": late.ts - 1}),
    ]
    timeline = build_timeline(renumbered)
    assert [event.party_id for event in timeline.events] == [late.party_id, early.party_id]


def _fields(event: Any) -> dict[str, Any]:
    return {name: getattr(event, name) for name in type(event).__slots__}


def test_duplicates_by_uuid_and_by_party_sequence_are_dropped() -> None:
    events = _csn_events()
    other_view = [type(e)(**{**_fields(e), "uuid": e.uuid + "-ext-view"}) for e in events]
    timeline = build_timeline(events + other_view + events[:3])
    assert len(timeline.events) == len(events)


def test_conflicting_duplicates_resolve_the_same_way_in_any_order() -> None:
    first = _csn_events()[6]  # the user's Answered
    conflicting = type(first)(**{**_fields(first), "uuid": "zzz", "status_raw": "Zzz"})
    forward = build_timeline([first, conflicting]).events
    backward = build_timeline([conflicting, first]).events
    assert forward == backward == [first]


def test_missing_sequence_numbers_are_a_gap_but_huge_numbers_are_cheap() -> None:
    events = _csn_events()
    assert build_timeline(events[:3] + events[5:]).has_sequence_gap
    far = type(events[0])(**{**_fields(events[0]), "sequence": 2**62})
    assert build_timeline([events[1], far]).has_sequence_gap


def test_an_empty_timeline_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_timeline([])


# --- cheap construction of the outcome models --------------------------------------------------


def test_outcomes_built_without_validation_equal_validated_ones() -> None:
    for fixture in session_fixtures():
        for notifications in fixture.sessions.values():
            outcome = fixture.classify(notifications, evidence=Evidence())
            validated = Outcome.model_validate(outcome.model_dump())
            assert validated == outcome
            assert validated.model_dump(mode="json") == outcome.model_dump(mode="json")
            assert outcome.model_fields_set == validated.model_fields_set
    leg = LegOutcome(party_id="p", extension_id=None, outcome=LegOutcomeKind.MISSED)
    assert leg.model_dump() == {"party_id": "p", "extension_id": None, "outcome": "missed"}
