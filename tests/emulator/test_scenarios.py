"""The scenario engine, offline: event shapes, per-session sequences, views, timings that keep
each kind's ground truth unambiguous, and determinism."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from classifiers.outcome import Category, Thresholds
from classifiers.payloads import TelephonySessionNotification, VoicemailMessage
from emulator.directory import DEMO_EXTENSIONS, Directory
from emulator.ids import Ids, regular_numbers
from emulator.scenarios import KINDS, GeneratedCall, ScenarioError, Topology, build_call

START = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
SEEDS = range(6)
CLASSIC = re.compile(r"^[0-9a-f]{32}$")
NEW_STYLE = re.compile(r"^a0d1[0-9a-f]{9}z[0-9a-f]+z[0-9a-f]{7}0000$")
ENDED = {"Disconnected", "Gone"}
CALLER_ENDS = Thresholds().short_abandon_s


def demo_topology(seed: int = 11) -> Topology:
    directory = Directory(Ids(random.Random(seed)))
    return Topology.of(directory.create_account(extensions=DEMO_EXTENSIONS))


TOPOLOGY = demo_topology()


def calls_of(kind: str) -> list[GeneratedCall]:
    return [build_call(kind, TOPOLOGY, seed=s, start=START) for s in SEEDS]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_sessions_are_well_formed(kind: str) -> None:
    for call in calls_of(kind):
        assert {t.telephony_session_id for t in call.truths} == {
            e.telephony_session_id for e in call.events
        }
        for truth in call.truths:
            events = call.events_of(truth.telephony_session_id)
            stem = truth.telephony_session_id.removeprefix("s-")
            assert CLASSIC.match(stem) or NEW_STYLE.match(stem), stem
            assert [e.sequence for e in events] == list(range(2, 2 + len(events)))
            times = [e.event_time for e in events]
            assert times == sorted(times)
            assert times[0] == call.started_at or truth is not call.truth
            last_code: dict[str, str] = {}
            for event in events:
                party = event.party
                assert party["id"].startswith(f"p-{stem}-")
                assert party["accountId"] == TOPOLOGY.account.id
                assert party["status"]["rcc"] is False
                if "extensionId" in party:
                    assert party["extensionId"].endswith("016")
                last_code[party["id"]] = party["status"]["code"]
            assert set(last_code.values()) <= ENDED, f"{kind}: a party never ended"


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_notifications_parse_and_views_filter(kind: str) -> None:
    call = calls_of(kind)[0]
    account_view = call.notifications()
    assert len(account_view) == len(call.events)
    assert all(isinstance(n, TelephonySessionNotification) for n in account_view)
    assert len({n.uuid for n in account_view}) == len(account_view)
    for extension_id in {e.extension_id for e in call.events} - {None}:
        assert extension_id is not None
        view = call.notifications(extension_id=extension_id)
        assert view
        assert {n.body.parties[0].extension_id for n in view} == {extension_id}
        assert all(n.event.endswith(f"/extension/{extension_id}/telephony/sessions") for n in view)
    pstn = [n for n in account_view if n.body.parties[0].extension_id is None]
    assert all(n.event.endswith(f"/account/{TOPOLOGY.account.id}/telephony/sessions") for n in pstn)


def caller_hangup(call: GeneratedCall) -> float:
    """Seconds from the start to the caller party's Disconnected."""
    caller = call.events[0].party["id"]
    end = next(
        e.event_time
        for e in call.events
        if e.party["id"] == caller and e.party["status"]["code"] == "Disconnected"
    )
    return (end - call.started_at).total_seconds()


def test_short_abandons_are_short_and_other_abandons_are_not() -> None:
    for call in calls_of("short_abandon"):
        assert 1.5 <= caller_hangup(call) < CALLER_ENDS
    long_abandons = {
        name
        for name, spec in KINDS.items()
        if spec.expect.category.is_abandoned and spec.expect.category is not Category.SHORT_ABANDON
    }
    assert {"abandoned_ringing", "abandoned_ivr", "abandoned_queue", "internal_abandoned"} <= (
        long_abandons
    )
    for kind in sorted(long_abandons):
        for call in calls_of(kind):
            assert caller_hangup(call) > CALLER_ENDS + 1, kind


def voicemail_span(call: GeneratedCall) -> float:
    codes = [(e.party["status"]["code"], e.event_time) for e in call.events]
    entered = next(t for code, t in codes if code == "VoiceMail")
    return (caller_end(call) - entered).total_seconds()


def caller_end(call: GeneratedCall) -> datetime:
    return call.started_at + timedelta(seconds=caller_hangup(call))


def test_voicemail_timings_and_messages() -> None:
    limit = Thresholds().vm_min_message_s
    for call in calls_of("voicemail_left"):
        assert voicemail_span(call) > limit + 4
        (drop,) = call.voicemails
        message = VoicemailMessage.model_validate(drop.message)
        assert message.creation_time == caller_end(call)
        assert message.vm_duration_s is not None
        assert message.vm_duration_s >= 3
        assert drop.at > caller_end(call)
        assert call.call_log[0].result == "Voicemail"
        assert "message" in call.call_log[0].fields
    for call in calls_of("voicemail_greeting_hangup"):
        assert voicemail_span(call) < limit - 2
        assert call.voicemails == []
        assert all("message" not in entry.fields for entry in call.call_log)


def test_queue_calls_mark_agents() -> None:
    queue = TOPOLOGY.call_queue()
    for call in calls_of("answered_queue"):
        agents = [e.party for e in call.events if e.party.get("queueCall")]
        assert agents
        for party in agents:
            assert party["to"]["extensionId"] == queue.id
            assert party["uiCallInfo"]["primary"] == {"type": "QueueName", "value": queue.name}
        first_states: dict[str, str] = {}
        for party in agents:
            first_states.setdefault(party["id"], party["status"]["code"])
        assert set(first_states.values()) == {"Proceeding"}
        assert call.truth.queue == queue.name


def test_attended_transfer_links_two_sessions() -> None:
    for call in calls_of("attended_transfer"):
        _main, consult = call.truths
        assert consult.direction.value == "internal"
        gone = [e.party for e in call.events if e.party["status"]["code"] == "Gone"]
        assert len(gone) == 2
        peers = {(p["id"], p["status"]["peerId"]["partyId"]) for p in gone}
        (a, b), (c, d) = sorted(peers)
        assert (a, b) == (d, c)  # each points at the other
        assert all(p["status"]["reason"] == "AttendedTransfer" for p in gone)


def test_same_seed_same_call_and_different_seeds_differ() -> None:
    first = build_call("answered_queue", TOPOLOGY, seed="x", start=START)
    again = build_call("answered_queue", TOPOLOGY, seed="x", start=START)
    other = build_call("answered_queue", TOPOLOGY, seed="y", start=START)
    assert first.envelopes() == again.envelopes()
    assert first.truth.telephony_session_id != other.truth.telephony_session_id


def _outside_numbers(call: GeneratedCall) -> set[str]:
    numbers = set()
    for envelope in call.envelopes():
        for party in envelope["body"].get("parties", []):
            for end in (party.get("from") or {}, party.get("to") or {}):
                if "extensionId" not in end and end.get("phoneNumber", "").startswith("+1"):
                    numbers.add(end["phoneNumber"])
    return numbers


def test_regular_callers_call_again_and_are_called_back() -> None:
    regulars = regular_numbers(5, seed=0)
    assert len(set(regulars)) == 5
    assert regular_numbers(5, seed=0) == regulars  # the same people in every play
    kinds = ("abandoned_queue", "answered_direct", "outbound_connected")
    calls = [
        build_call(kind, TOPOLOGY, seed=s, start=START, regulars=regulars)
        for kind in kinds
        for s in range(20)
    ]
    with_regular = [call for call in calls if _outside_numbers(call) & set(regulars)]
    assert 0 < len(with_regular) < len(calls)  # a share, not all
    by_kind = {call.kind for call in with_regular}
    assert by_kind == set(kinds)  # inbound callers and numbers dialled out alike
    without = [build_call(k, TOPOLOGY, seed=s, start=START) for k in kinds for s in range(20)]
    assert not any(_outside_numbers(call) & set(regulars) for call in without)


def test_every_outcome_category_is_covered() -> None:
    covered = {k.expect.category for k in KINDS.values()}
    assert covered >= set(Category) - {
        Category.UNKNOWN,
        Category.IN_PROGRESS,
        Category.ABANDONED_HOLD,
    }
    reasons = {(k.expect.category, k.expect.reason) for k in KINDS.values()}
    for reason in ("ring_timeout", "queue_timeout", "no_agents", "busy_or_rejected", "closed"):
        assert (Category.MISSED, reason) in reasons
    for reason in ("exit_key", "forwarded_external", "callback_requested"):
        assert (Category.DEFLECTED, reason) in reasons


def test_account_without_a_queue_cannot_play_queue_kinds() -> None:
    directory = Directory(Ids(random.Random(3)))
    account = directory.create_account(extensions=DEMO_EXTENSIONS[:2])
    with pytest.raises(ScenarioError, match="call queue"):
        build_call("answered_queue", Topology.of(account), seed=1, start=START)
    with pytest.raises(ScenarioError, match="unknown scenario kind"):
        build_call("juggling", Topology.of(account), seed=1, start=START)


FAILURE_RESULTS = frozenset(
    {"Call Failed", "Internal Error", "Wrong Number", "International Disabled", "No Calling Credit"}
)


def record_reading(record: dict[str, Any]) -> str:
    """What a Detailed record says happened, read the way the classifier is meant to read it."""
    result, reason = record["result"], record.get("reason")
    master, *others = record["legs"]
    if master["legType"] == "FollowMe" and "extensionId" not in master["to"]:
        return "forwarded_out"
    if any(leg["legType"] == "TransferCall" for leg in others):
        return "transferred_out"
    readings = {
        ("Accepted", "Accepted"): "answered",
        ("Call connected", None): "answered",
        ("Missed", "Stopped"): "answered_elsewhere",
        ("Missed", "Hang Up"): "caller_gave_up",
        ("Hang Up", None): "caller_gave_up",
        ("Hang Up", "Hang Up"): "caller_gave_up",
        ("Missed", "No Answer"): "timeout",
        ("No Answer", "Not Answered"): "timeout",
        ("Busy", "Line Busy"): "busy_or_rejected",
        ("Rejected", "Calls Not Accepted"): "busy_or_rejected",
        ("Missed", "Calls Not Accepted"): "closed",
        ("Callback requested", None): "callback",
    }
    if "message" in record or result == "Voicemail":
        return "message_left"
    if result in FAILURE_RESULTS:
        return "failed"
    return readings.get((result, reason), f"unreadable {result}/{reason}")


# per kind: the readings its records may have, and the one at least one record must have
EXPECTED_READINGS: dict[str, tuple[set[str], str]] = {
    **{
        kind: ({"answered"}, "answered")
        for kind in (
            "answered_direct", "answered_ivr", "answered_hold", "hold_hangup", "blind_transfer",
            "attended_transfer", "park_pickup", "park_hangup", "internal_answered",
            "outbound_connected", "service_verification_call",
        )
    },
    "answered_queue": ({"answered", "answered_elsewhere"}, "answered"),
    "blind_transfer_unanswered": ({"answered", "caller_gave_up"}, "answered"),
    "voicemail_left": ({"message_left"}, "message_left"),
    **{
        kind: ({"caller_gave_up"}, "caller_gave_up")
        for kind in (
            "voicemail_greeting_hangup", "short_abandon", "abandoned_ivr", "abandoned_queue",
            "abandoned_ringing", "internal_abandoned", "outbound_caller_gave_up",
        )
    },
    **{
        kind: ({"timeout"}, "timeout")
        for kind in (
            "missed_ring_timeout", "missed_queue_timeout", "missed_no_agents", "outbound_no_answer"
        )
    },
    "missed_busy_or_rejected": ({"busy_or_rejected"}, "busy_or_rejected"),
    "outbound_busy": ({"busy_or_rejected"}, "busy_or_rejected"),
    "missed_closed": ({"closed"}, "closed"),
    "deflected_exit_key": ({"transferred_out"}, "transferred_out"),
    "deflected_forwarded_external": ({"forwarded_out"}, "forwarded_out"),
    "deflected_callback_requested": ({"callback"}, "callback"),
    "failed": ({"failed"}, "failed"),
    "outbound_failed": ({"failed"}, "failed"),
}  # fmt: skip


def test_every_kind_has_an_expected_reading() -> None:
    assert set(EXPECTED_READINGS) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_call_log_results_read_as_the_ground_truth(kind: str) -> None:
    allowed, required = EXPECTED_READINGS[kind]
    for call in calls_of(kind):
        assert call.call_log, f"{kind}: no call-log record"
        readings = {record_reading(e.render("https://x", view="Detailed")) for e in call.call_log}
        assert readings <= allowed, (kind, readings)
        assert required in readings, (kind, readings)
