"""The tricky rules, one small synthetic call at a time (see docs/outcomes.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from classifiers import (
    Category,
    Direction,
    DirectoryEntry,
    LegOutcomeKind,
    Outcome,
    OwnedVoicemail,
    Stage,
    Thresholds,
    classify_session,
)
from classifiers.payloads import VoicemailMessage
from fixtures.builder import (
    ACCOUNT_VIEW,
    ALICE,
    BOB,
    IVR,
    QUEUE,
    CallBuilder,
    agent,
    callee,
    far_party,
    our_caller,
    pstn_caller,
)
from fixtures.calls import reach_queue, ring_alice
from tests.classifiers.helpers import classify_call, notifications

START = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)


def _call(name: str) -> CallBuilder:
    return CallBuilder(name, START)


def _legs(outcome: Outcome) -> dict[str, LegOutcomeKind]:
    return {leg.extension_id or "": leg.outcome for leg in outcome.legs}


# --- answers -----------------------------------------------------------------------------------


def test_the_callers_own_answered_is_not_a_human_answer() -> None:
    b = _call("caller-answered-only")
    caller, ivr = pstn_caller(), callee(2, IVR)
    b.at(0.0, caller, "Setup")
    b.at(0.03, ivr, "Setup")
    b.at(0.15, caller, "Answered")  # RingCentral picked up the route (the IVR), nobody talked
    b.at(40.0, caller, "Disconnected")
    b.at(40.02, ivr, "Disconnected")
    outcome = classify_call(b)
    assert outcome.category is Category.ABANDONED_IVR
    assert outcome.answered_at is None
    assert outcome.talk_s is None


@pytest.mark.parametrize(
    ("talk", "min_talk_s", "category"),
    [
        (0.3, 0.5, Category.ABANDONED_RINGING),
        (0.49, 0.5, Category.ABANDONED_RINGING),
        (0.5, 0.5, Category.ANSWERED),
        (2.0, 0.5, Category.ANSWERED),
        (2.0, 3.0, Category.ABANDONED_RINGING),
    ],
)
def test_talk_shorter_than_min_talk_is_not_an_answer(
    talk: float, min_talk_s: float, category: Category
) -> None:
    b = _call(f"short-talk-{talk}-{min_talk_s}")
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(10.0, alice, "Answered")
    b.at(10.0 + talk, alice, "Disconnected")
    b.at(10.0 + talk + 0.02, caller, "Disconnected")
    outcome = classify_call(b, thresholds=Thresholds(min_talk_s=min_talk_s))
    assert outcome.category is category
    assert (outcome.answered_at is not None) == (category is Category.ANSWERED)


def test_a_queue_or_ivr_party_answering_is_not_a_person_when_the_directory_says_so() -> None:
    b = _call("ivr-answered-directory")
    caller, ivr = pstn_caller(), callee(2, IVR)
    b.at(0.0, caller, "Setup")
    b.at(0.03, ivr, "Setup")
    b.at(0.1, ivr, "Answered")
    b.at(30.0, caller, "Disconnected")
    b.at(30.02, ivr, "Disconnected")
    with_directory = classify_call(b, directory={IVR: DirectoryEntry("IvrMenu", "Main IVR")})
    without = classify_call(b)
    assert with_directory.category is Category.ABANDONED_IVR
    assert without.category is Category.ANSWERED  # unknown kind that answered: taken for a person


# --- routing parties: IVR and queue ------------------------------------------------------------


def _setup_only_callee(name: str, extension: str, *, hangup_at: float) -> CallBuilder:
    b = _call(name)
    caller, routing = pstn_caller(), callee(2, extension)
    b.at(0.0, caller, "Setup")
    b.at(0.03, routing, "Setup")
    b.at(0.15, caller, "Answered")
    b.at(hangup_at, caller, "Disconnected")
    b.at(hangup_at + 0.02, routing, "Disconnected")
    return b


def test_a_party_that_stays_in_setup_is_an_ivr_unless_the_directory_says_otherwise() -> None:
    b = _setup_only_callee("setup-only", IVR, hangup_at=20.0)
    assert classify_call(b).category is Category.ABANDONED_IVR
    as_queue = classify_call(b, directory={IVR: DirectoryEntry("Department")})
    as_user = classify_call(b, directory={IVR: DirectoryEntry("User")})
    assert (as_queue.category, as_queue.stage) == (Category.ABANDONED_QUEUE, Stage.QUEUE)
    assert (as_user.category, as_user.stage) == (Category.ABANDONED_RINGING, Stage.RINGING)


def test_the_queue_party_ends_without_reason_when_an_agent_accepts() -> None:
    b = _call("queue-accept")
    caller, queue, alice, bob = pstn_caller(), callee(2, QUEUE), agent(3, ALICE), agent(4, BOB)
    b.at(0.0, caller, "Setup")
    b.at(1.0, queue, "Setup")
    b.at(1.2, caller, "Answered")
    b.at(5.0, alice, "Proceeding")
    b.at(5.0, bob, "Proceeding")
    b.at(12.0, alice, "Answered")
    b.at(12.01, queue, "Disconnected")
    b.at(12.02, bob, "Disconnected", reason="Pickup", missed=True)
    b.at(60.0, caller, "Disconnected")
    b.at(60.01, alice, "Disconnected")
    outcome = classify_call(b)
    assert outcome.category is Category.ANSWERED
    assert outcome.queue == "Sales Queue"
    assert outcome.wait_s == 11.0  # time in queue: from the queue party's Setup to the answer
    assert outcome.ring_s == 7.0
    assert _legs(outcome) == {
        QUEUE: LegOutcomeKind.ANSWERED_ELSEWHERE,
        ALICE: LegOutcomeKind.ANSWERED,
        BOB: LegOutcomeKind.ANSWERED_ELSEWHERE,
    }


def test_an_agent_that_timed_out_before_a_colleague_answered_missed_it() -> None:
    b = _call("queue-rotation")
    caller, queue = reach_queue(b)
    alice, bob = agent(3, ALICE), agent(4, BOB)
    b.at(1.0, alice, "Proceeding")
    b.at(21.0, alice, "Disconnected", reason="Timeout", missed=True)
    b.at(21.1, bob, "Proceeding")
    b.at(30.0, caller, "Disconnected")
    b.at(30.02, bob, "Disconnected", missed=True)
    b.at(30.04, queue, "Disconnected")
    outcome = classify_call(b)
    assert (outcome.category, outcome.stage) == (Category.ABANDONED_QUEUE, Stage.QUEUE)
    assert _legs(outcome) == {
        QUEUE: LegOutcomeKind.CALLER_ABANDONED,
        ALICE: LegOutcomeKind.MISSED,
        BOB: LegOutcomeKind.CALLER_ABANDONED,
    }
    agents_only = classify_call(b, (ALICE, BOB))  # the last agent's own end decides
    assert agents_only.category is Category.ABANDONED_QUEUE


# --- who hung up, seen from an extension -------------------------------------------------------


@pytest.mark.parametrize(
    ("missed", "reason", "category", "leg"),
    [
        (True, None, Category.ABANDONED_RINGING, LegOutcomeKind.CALLER_ABANDONED),
        (True, "Cancelled", Category.ABANDONED_RINGING, LegOutcomeKind.CALLER_ABANDONED),
        (False, None, Category.UNKNOWN, LegOutcomeKind.MISSED),
        (True, "Timeout", Category.MISSED, LegOutcomeKind.MISSED),
        (True, "NoAnswer", Category.MISSED, LegOutcomeKind.MISSED),
        (True, "TargetBusy", Category.MISSED, LegOutcomeKind.REJECTED),
        (True, "Pickup", Category.ANSWERED, LegOutcomeKind.ANSWERED_ELSEWHERE),
        (True, "SomethingNew", Category.UNKNOWN, LegOutcomeKind.MISSED),
    ],
)
def test_extension_view_infers_the_callers_hang_up_from_the_callee_party(
    missed: bool, reason: str | None, category: Category, leg: LegOutcomeKind
) -> None:
    b = _call(f"ext-view-{missed}-{reason}")
    alice = callee(2, ALICE)
    b.at(0.0, alice, "Setup")
    b.at(0.1, alice, "Proceeding")
    b.at(20.0, alice, "Disconnected", reason=reason, missed=missed)
    outcome = classify_call(b, (ALICE,))
    assert outcome.category is category
    assert "caller_party_not_observed" in outcome.data_gaps
    assert _legs(outcome) == {ALICE: leg}


def test_a_voicemail_status_is_not_a_caller_hang_up_in_the_extension_view() -> None:
    b = _call("ext-view-voicemail")
    alice = callee(2, ALICE)
    b.at(0.0, alice, "Setup")
    b.at(0.1, alice, "Proceeding")
    b.at(20.0, alice, "Voicemail", missed=True)  # spelled as the developer guide spells it
    b.at(45.0, alice, "Disconnected", missed=True)
    outcome = classify_call(b, (ALICE,))
    assert (outcome.category, outcome.stage) == (Category.VOICEMAIL_LEFT, Stage.VOICEMAIL)
    assert outcome.voicemail_s == 25.0


# --- short abandons ----------------------------------------------------------------------------


def _queue_hangup(name: str, hangup_at: float) -> CallBuilder:
    b = _call(name)
    caller, queue = reach_queue(b)
    alice = agent(3, ALICE)
    b.at(1.0, alice, "Proceeding")
    b.at(hangup_at, caller, "Disconnected")
    b.at(hangup_at + 0.01, alice, "Disconnected", missed=True)
    b.at(hangup_at + 0.02, queue, "Disconnected")
    return b


@pytest.mark.parametrize(
    ("hangup_at", "short_abandon_s", "category"),
    [
        (3.0, 5.0, Category.SHORT_ABANDON),
        (4.99, 5.0, Category.SHORT_ABANDON),
        (5.0, 5.0, Category.ABANDONED_QUEUE),
        (3.0, 0.0, Category.ABANDONED_QUEUE),  # 0 disables short abandons
        (8.0, 10.0, Category.SHORT_ABANDON),
    ],
)
def test_short_abandon_keeps_the_stage(
    hangup_at: float, short_abandon_s: float, category: Category
) -> None:
    b = _queue_hangup(f"short-{hangup_at}-{short_abandon_s}", hangup_at)
    outcome = classify_call(b, thresholds=Thresholds(short_abandon_s=short_abandon_s))
    assert outcome.category is category
    assert outcome.stage is Stage.QUEUE
    assert outcome.is_abandoned
    assert outcome.time_to_abandon_s == hangup_at


# --- hold --------------------------------------------------------------------------------------


def _hangup_on(status: str, name: str) -> CallBuilder:
    b = _call(name)
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(5.0, alice, "Answered")
    b.at(20.0, alice, status)
    b.at(50.0, caller, "Disconnected")
    b.at(50.02, alice, "Disconnected")
    return b


@pytest.mark.parametrize("status", ["Hold", "Parked"])
def test_hold_hang_up_is_an_abandon_only_with_the_toggle(status: str) -> None:
    b = _hangup_on(status, f"hold-toggle-{status}")
    default = classify_call(b)
    toggled = classify_call(b, thresholds=Thresholds(hold_hangup_is_abandon=True))
    assert (default.category, default.stage, default.is_abandoned) == (
        Category.ANSWERED,
        Stage.HOLD,
        False,
    )
    assert (toggled.category, toggled.stage, toggled.is_abandoned) == (
        Category.ABANDONED_HOLD,
        Stage.HOLD,
        True,
    )
    assert toggled.hold_s == 30.0
    assert toggled.talk_s == 15.0


def test_hanging_up_after_unhold_is_not_a_hold_abandon() -> None:
    b = _call("unheld")
    caller, alice = ring_alice(b)
    b.at(5.0, alice, "Answered")
    b.at(20.0, alice, "Hold")
    b.at(30.0, alice, "Answered")  # unhold: Answered again, not a second answer
    b.at(50.0, caller, "Disconnected")
    b.at(50.02, alice, "Disconnected")
    outcome = classify_call(b, thresholds=Thresholds(hold_hangup_is_abandon=True))
    assert (outcome.category, outcome.stage) == (Category.ANSWERED, Stage.CONNECTED)
    assert outcome.answered_at == b.time(5.0)
    assert (outcome.talk_s, outcome.hold_s) == (35.0, 10.0)


def test_an_agent_hanging_up_a_held_call_is_not_a_caller_abandon() -> None:
    b = _call("agent-hangs-up-on-hold")
    caller, alice = ring_alice(b)
    b.at(5.0, alice, "Answered")
    b.at(20.0, alice, "Hold")
    b.at(30.0, alice, "Disconnected")  # the agent's party goes first
    b.at(30.02, caller, "Disconnected")
    outcome = classify_call(b, thresholds=Thresholds(hold_hangup_is_abandon=True))
    assert outcome.category is Category.ANSWERED


# --- voicemail evidence ------------------------------------------------------------------------


def _voicemail_call(name: str, *, in_voicemail: float) -> CallBuilder:
    b = _call(name)
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(20.0, alice, "VoiceMail", missed=True)
    b.at(20.0 + in_voicemail, caller, "Disconnected")
    b.at(20.0 + in_voicemail + 0.05, alice, "Disconnected", missed=True)
    return b


def _message(
    b: CallBuilder, *, vm_duration: int, mailbox: str = ALICE, **changes: str
) -> OwnedVoicemail:
    raw = b.voicemail_notification(mailbox, created_offset=40.0, vm_duration=vm_duration)["body"]
    if "sender" in changes:
        raw["from"]["phoneNumber"] = changes["sender"]
    return OwnedVoicemail(mailbox, VoicemailMessage.model_validate(raw))


def _log(b: CallBuilder, *, with_message: bool, result: str = "Voicemail") -> dict[str, object]:
    return b.call_log_record(
        ALICE, result=result, reason="Accepted", duration_s=40, with_message=with_message
    )


@pytest.mark.parametrize(
    ("in_voicemail", "vm_duration", "log", "category", "reason", "decided_by"),
    [
        # call-log message > voicemail message > time in voicemail
        (30.0, 0, "message", Category.VOICEMAIL_LEFT, None, "call_log:message="),
        (3.0, None, "message", Category.VOICEMAIL_LEFT, None, "call_log:message="),
        (3.0, None, "result", Category.VOICEMAIL_LEFT, None, "call_log:result=Voicemail"),
        (30.0, 0, None, Category.ABANDONED_VOICEMAIL, "empty_message", "voicemail_message:"),
        (3.0, 20, None, Category.VOICEMAIL_LEFT, None, "voicemail_message:vm_duration=20"),
        (3.0, None, None, Category.ABANDONED_VOICEMAIL, "during_greeting", "voicemail_time="),
        (30.0, None, None, Category.VOICEMAIL_LEFT, None, "voicemail_time="),
        (
            3.0,
            None,
            "no-message",
            Category.ABANDONED_VOICEMAIL,
            "during_greeting",
            "voicemail_time=",
        ),
    ],
)
def test_voicemail_evidence_strength_order(
    in_voicemail: float,
    vm_duration: int | None,
    log: str | None,
    category: Category,
    reason: str | None,
    decided_by: str,
) -> None:
    b = _voicemail_call(f"vm-{in_voicemail}-{vm_duration}-{log}", in_voicemail=in_voicemail)
    voicemails = [] if vm_duration is None else [_message(b, vm_duration=vm_duration)]
    records = {
        None: [],
        "message": [_log(b, with_message=True)],
        "result": [_log(b, with_message=False)],
        "no-message": [_log(b, with_message=False, result="Missed")],
    }[log]
    outcome = classify_call(b, voicemails=voicemails, call_log=records)
    assert (outcome.category, outcome.reason, outcome.stage) == (category, reason, Stage.VOICEMAIL)
    assert any(item.startswith(decided_by) for item in outcome.evidence), outcome.evidence


@pytest.mark.parametrize(
    "mismatch",
    ["other-mailbox", "other-caller", "too-late", "too-early"],
)
def test_a_voicemail_message_of_another_call_is_not_evidence(mismatch: str) -> None:
    b = _voicemail_call(f"vm-mismatch-{mismatch}", in_voicemail=3.0)
    message = _message(
        b,
        vm_duration=25,
        mailbox=BOB if mismatch == "other-mailbox" else ALICE,
        **({"sender": "+13125550000"} if mismatch == "other-caller" else {}),
    )
    if mismatch in ("too-late", "too-early"):
        shift = timedelta(hours=1) if mismatch == "too-late" else timedelta(minutes=-5)
        created = message.message.creation_time
        assert created is not None
        message = OwnedVoicemail(
            message.extension_id,
            message.message.model_copy(update={"creation_time": created + shift}),
        )
    outcome = classify_call(b, voicemails=[message])
    assert (outcome.category, outcome.reason) == (Category.ABANDONED_VOICEMAIL, "during_greeting")


# --- stale sessions ----------------------------------------------------------------------------


def _ringing_forever() -> CallBuilder:
    b = _call("ringing-forever")
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    return b


@pytest.mark.parametrize(
    ("after", "stale_after", "category", "final"),
    [
        (60.0, 4 * 3600.0, Category.IN_PROGRESS, False),
        (4 * 3600.0, 4 * 3600.0, Category.IN_PROGRESS, False),
        (4 * 3600.0 + 1, 4 * 3600.0, Category.UNKNOWN, True),
        (120.0, 60.0, Category.UNKNOWN, True),
    ],
)
def test_a_stale_session_is_closed_as_unknown(
    after: float, stale_after: float, category: Category, final: bool
) -> None:
    b = _ringing_forever()
    outcome = classify_call(
        b, now=b.time(0.2 + after), thresholds=Thresholds(session_stale_after_s=stale_after)
    )
    assert (outcome.category, outcome.final) == (category, final)
    assert ("no_final_event" in outcome.data_gaps) == final
    assert outcome.ended_at is None
    assert _legs(outcome) == {ALICE: LegOutcomeKind.IN_PROGRESS}


@pytest.mark.parametrize("silent_for", [1.0, 3600.0, 4 * 3600.0 + 1, 30 * 24 * 3600.0])
def test_a_call_cut_off_counts_no_time_after_its_last_event(silent_for: float) -> None:
    """A call whose events stopped (callsift or the demo was stopped mid-call, or the webhooks
    were lost) is timed up to the last event heard, open or closed as stale: never the
    silence after it as talk or hold."""
    b = _call("cut-off-on-hold")
    _, alice = ring_alice(b)
    b.at(5.0, alice, "Answered")
    b.at(20.0, alice, "Hold")
    b.at(30.0, alice, "Answered")
    b.at(40.0, alice, "Hold")  # the last event heard
    outcome = classify_call(b, now=b.time(40.0 + silent_for))
    assert (outcome.talk_s, outcome.hold_s) == (25.0, 10.0)
    assert outcome.ended_at is None
    stale = silent_for > Thresholds().session_stale_after_s
    assert (outcome.category, outcome.final) == (
        (Category.UNKNOWN, True) if stale else (Category.IN_PROGRESS, False)
    )


def test_a_stale_session_is_settled_by_its_call_log_record() -> None:
    b = _ringing_forever()
    record = b.call_log_record(ALICE, result="Accepted", reason="Accepted", duration_s=90)
    outcome = classify_call(b, now=b.time(10 * 3600), call_log=[record])
    assert outcome.category is Category.ANSWERED
    assert "no_final_event" in outcome.data_gaps
    assert "call_log:result=Accepted" in outcome.evidence


# --- outbound, direction and misc ---------------------------------------------------------------


def test_outbound_calls_get_the_outbound_family() -> None:
    b = _call("outbound-busy-account")
    alice = our_caller(1, ALICE)
    b.at(0.0, alice, "Setup")
    b.at(1.0, alice, "Proceeding")
    b.at(3.0, alice, "Disconnected", reason="TargetBusy")
    outcome = classify_call(b)
    assert outcome.direction is Direction.OUTBOUND
    assert (outcome.category, outcome.reason) == (Category.OUTBOUND_UNANSWERED, "busy")
    assert not outcome.is_abandoned


def test_events_of_several_sessions_or_none_at_all_are_refused() -> None:
    first, second = _ringing_forever(), _call("another")
    second.at(0.0, pstn_caller(), "Setup")
    mixed = notifications(first, ACCOUNT_VIEW) + notifications(second, ACCOUNT_VIEW)
    with pytest.raises(ValueError, match="several telephony sessions"):
        classify_session(mixed, now=first.time(60))
    with pytest.raises(ValueError, match="at least one"):
        classify_session([], now=first.time(60))


def test_a_gap_before_the_end_of_an_account_view_withholds_the_verdict() -> None:
    b = _call("gap")
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(9.0, alice, "Answered")
    b.at(40.0, caller, "Disconnected")
    b.at(40.02, alice, "Disconnected")
    complete = classify_session(notifications(b), now=b.time(100))
    lost = [n for n in notifications(b) if n.body.sequence != 6]  # the answer was not delivered
    gap = classify_session(lost, now=b.time(100))
    assert complete.category is Category.ANSWERED
    assert gap.category is Category.UNKNOWN
    assert {"sequence_gap", "answer_events_missing"} <= set(gap.data_gaps)
    assert "events_suggest:abandoned_ringing" in gap.evidence


def test_an_extension_view_defers_to_a_call_log_that_says_someone_answered() -> None:
    b = _call("transfer-target-view")
    caller, alice, bob = pstn_caller(), callee(2, ALICE), callee(3, BOB)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(5.0, alice, "Answered")
    b.at(30.0, alice, "Disconnected", reason="BlindTransfer")
    b.at(30.1, bob, "Setup")
    b.at(30.2, bob, "Proceeding")
    b.at(45.0, caller, "Disconnected")
    b.at(45.01, bob, "Disconnected", missed=True)
    record = b.call_log_record(ALICE, result="Accepted", reason="Accepted", duration_s=45)
    events_only = classify_call(b, (BOB,))
    with_log = classify_call(b, (BOB,), call_log=[record])
    assert events_only.category is Category.ABANDONED_RINGING
    assert with_log.category is Category.ANSWERED
    assert "answering_party_not_observed" in with_log.data_gaps
    assert "events_suggest:abandoned_ringing" in with_log.evidence
    assert _legs(with_log) == {BOB: LegOutcomeKind.CALLER_ABANDONED}


# --- status reasons RingCentral never explained, origins (issue 17) ----------------------------


@pytest.mark.parametrize("reason", ["AgentDropped", "CallDropped", "Undefined", "SomethingNew"])
def test_an_undocumented_reason_ending_the_call_is_never_read_as_a_hang_up(reason: str) -> None:
    """Seen from the user's extension, a `missedCall` end with no reason means the caller hung
    up; with a reason RingCentral never explained it is unknown, the reason kept."""
    b = _call(f"undocumented-reason-{reason}")
    alice = callee(2, ALICE)
    b.at(0.05, alice, "Setup")
    b.at(0.2, alice, "Proceeding")
    b.at(30.0, alice, "Disconnected", reason=reason, missed=True)
    outcome = classify_session(notifications(b, (ALICE,)), now=START + timedelta(hours=1))
    assert outcome.category is Category.UNKNOWN
    assert {"end_cause_unknown", "status_reason_unknown"} <= set(outcome.data_gaps)
    assert f"party_reason:p-{b.hex}-2={reason}" in outcome.evidence


@pytest.mark.parametrize("reason", ["Supervising", "Conference"])
def test_gone_to_supervision_or_a_conference_after_an_answer_stays_answered(reason: str) -> None:
    b = _call(f"gone-{reason}")
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(5.0, alice, "Answered")
    b.at(60.0, alice, "Gone", reason=reason)
    b.at(61.0, caller, "Disconnected")
    outcome = classify_call(b)
    assert outcome.category is Category.ANSWERED
    assert "status_reason_unknown" not in outcome.data_gaps
    assert _legs(outcome)[ALICE] is LegOutcomeKind.TRANSFERRED


@pytest.mark.parametrize(
    ("origin", "category", "gaps"),
    [
        ("Call", Category.OUTBOUND_CONNECTED, set()),
        ("Zoom", Category.OUTBOUND_CONNECTED, set()),
        ("SomethingNew", Category.OUTBOUND_CONNECTED, {"origin_unknown"}),
        ("VerificationCall", Category.SERVICE_CALL, set()),
        ("Conference", Category.SERVICE_CALL, set()),
        ("RingOut", Category.OUTBOUND_UNANSWERED, set()),
        ("CallOut", Category.OUTBOUND_UNANSWERED, set()),
        ("RingMe", Category.OUTBOUND_UNANSWERED, set()),
    ],
)
def test_the_origin_decides_how_our_callers_answer_reads(
    origin: str, category: Category, gaps: set[str]
) -> None:
    """Our caller's party answers, the far end rings and hangs up without answering: an ordinary
    outbound call is connected (our party's Answered follows the far end's), a two-legged one is
    not (it was the user taking her own leg), a service session is kept aside."""
    b = _call(f"origin-{origin}")
    b.origin = origin
    alice, far = our_caller(1, ALICE), far_party(2, ALICE)
    b.at(0.0, alice, "Setup")
    b.at(0.5, alice, "Proceeding")
    b.at(4.0, alice, "Answered")
    b.at(4.3, far, "Proceeding")
    b.at(30.0, far, "Disconnected", reason="Timeout")
    b.at(30.1, alice, "Disconnected")
    outcome = classify_call(b)
    assert outcome.category is category
    assert gaps <= set(outcome.data_gaps)
    assert ("origin_unknown" in outcome.data_gaps) == bool(gaps)
    assert (f"origin:{origin}" in outcome.evidence) == (origin != "Call")
    assert outcome.is_abandoned is False
