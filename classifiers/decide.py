"""The decision: which category, reason and stage a session gets. The first rule that matches wins.

Inbound and internal calls (internal calls are judged from the callee's side):
 1. not final: `in_progress`, or `unknown` with `no_final_event` once stale;
 2. a person answered: `answered` (`abandoned_hold` when the caller then hung up on hold and
    `hold_hangup_is_abandon` is on);
 3. voicemail reached: `voicemail_left` or `abandoned_voicemail`, on the strongest evidence
    (a matching voicemail message, then time in voicemail);
 4. an external (PSTN) callee appeared: `deflected` / `exit_key` or `forwarded_external`;
 5. why it ended: the caller hung up (`short_abandon` or `abandoned_<stage>`), or the system
    ended it (`missed`, `deflected` / `exit_key`, `failed`); otherwise `unknown`.
Outbound calls: `outbound_connected`, `outbound_failed`, `outbound_unanswered`.

Who hung up: with the caller's party observed, the caller hung up if callee parties were still
active when the caller's party ended, or if the last callee to end gave no system reason.
Without it (extension views), the last callee party to end decides: a system reason says why,
and `missedCall: true` without one means the caller hung up.

This is what the events alone say; `reconcile` then weighs it against the call log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from classifiers.events import ON_HOLD_STATUSES, PartyEvent, ReasonKind, StatusCode
from classifiers.evidence import match_voicemail
from classifiers.facts import Answer, CallFacts, VoicemailSpan
from classifiers.origins import is_two_leg, origin_notes
from classifiers.outcome import Category, Direction, Stage, Thresholds
from classifiers.roles import Role
from classifiers.timeline import PartyTrack

EMPTY_MESSAGE_S = 1.0  # a voicemail message shorter than this holds nothing (vmDuration is whole s)

_SYSTEM_ENDS = frozenset(
    {
        ReasonKind.FAILURE,
        ReasonKind.NO_ANSWER,
        ReasonKind.BUSY_OR_REJECTED,
        ReasonKind.CLOSED,
        ReasonKind.EXIT_KEY,
    }
)
ABANDON_BY_STAGE = {
    Stage.IVR: Category.ABANDONED_IVR,
    Stage.QUEUE: Category.ABANDONED_QUEUE,
    Stage.RINGING: Category.ABANDONED_RINGING,
}
# Categories that say "nobody answered": wrong if the missing events held an answer.
NO_ANSWER_CATEGORIES = frozenset(
    {
        Category.SHORT_ABANDON,
        Category.ABANDONED_IVR,
        Category.ABANDONED_QUEUE,
        Category.ABANDONED_RINGING,
        Category.MISSED,
        Category.OUTBOUND_UNANSWERED,
    }
)


@dataclass(slots=True)
class Verdict:
    category: Category
    stage: Stage
    reason: str | None = None
    evidence: list[str] = field(default_factory=list)
    data_gaps: list[str] = field(default_factory=list)
    final: bool = True
    caller_hung_up: bool = False  # the caller ended the call before any answer


def decide(facts: CallFacts, now_ts: float) -> Verdict:
    """The verdict for the session, with the view's data gaps and sequence checks applied."""
    timeline = facts.timeline
    if not timeline.all_ended:
        verdict = _not_final(facts, now_ts)
    elif facts.direction is Direction.OUTBOUND:
        verdict = _outbound(facts)
    else:
        verdict = _inbound(facts)
    verdict.data_gaps = _view_gaps(facts) + verdict.data_gaps
    _check_sequence(facts, verdict)
    _note_unreadable(facts, verdict)
    return verdict


def _note_unreadable(facts: CallFacts, verdict: Verdict) -> None:
    """Say what the events carried that the rules cannot read: a party status that is missing
    or unknown, a status reason with no documented meaning, an origin we do not know. None of
    them is ever guessed at; the raw values are kept in the evidence."""
    evidence, gaps = origin_notes(facts.timeline.origin)
    for event in facts.timeline.events:
        if event.status is StatusCode.OTHER:
            if event.status_raw:
                gaps.append("party_status_unknown")
                evidence.append(f"party_status:{event.party_id}={event.status_raw}")
            else:
                gaps.append("party_status_missing")
        if event.reason_kind is ReasonKind.OTHER:
            gaps.append("status_reason_unknown")
            evidence.append(f"party_reason:{event.party_id}={event.reason}")
    verdict.evidence.extend(item for item in evidence if item not in verdict.evidence)
    verdict.data_gaps.extend(gaps)


def _not_final(facts: CallFacts, now_ts: float) -> Verdict:
    return not_final_verdict(facts.timeline.last_ts, now_ts, facts.end_stage, facts.thresholds)


def not_final_verdict(
    last_heard_ts: float | None, now_ts: float, stage: Stage, thresholds: Thresholds
) -> Verdict:
    """A call with no final word yet: `in_progress`, or `unknown` (`no_final_event`) once nothing
    has been heard of it for `session_stale_after_s`; never stale if that time is not known."""
    if last_heard_ts is not None and now_ts - last_heard_ts > thresholds.session_stale_after_s:
        return Verdict(Category.UNKNOWN, stage, data_gaps=["no_final_event"])
    return Verdict(Category.IN_PROGRESS, stage, final=False)


def _view_gaps(facts: CallFacts) -> list[str]:
    if facts.shape.caller is None:
        return ["caller_party_not_observed"]
    if not facts.callees:
        return ["callee_party_not_observed"]
    return []


# --- inbound and internal ----------------------------------------------------------------------


def _inbound(facts: CallFacts) -> Verdict:
    if facts.answer is not None:
        return _answered(facts, facts.answer)
    if facts.voicemail is not None:
        return _voicemail(facts, facts.voicemail)
    external = [party for party in facts.callees if facts.role(party) is Role.EXTERNAL]
    if external:
        return _forwarded(facts, external[0])
    if facts.caller_end is not None:
        return _caller_view_end(facts, facts.caller_end)
    return _callee_view_end(facts)


def _answered(facts: CallFacts, answer: Answer) -> Verdict:
    stage = facts.end_stage
    evidence = [f"human_answer:{answer.party.party_id}"]
    if facts.thresholds.hold_hangup_is_abandon and _caller_left_on_hold(facts):
        evidence.append("caller_hung_up_on_hold")
        return Verdict(Category.ABANDONED_HOLD, Stage.HOLD, evidence=evidence)
    return Verdict(Category.ANSWERED, stage, evidence=evidence)


def _caller_left_on_hold(facts: CallFacts) -> bool:
    """The caller hung up while held or parked (inferred from the held party's end if the
    caller's own party is not observed)."""
    caller_end = facts.caller_end
    if caller_end is not None:
        return any(
            party.status_before(caller_end.sequence) in ON_HOLD_STATUSES
            or facts.role(party) is Role.PARK
            for party in facts.active_callees_before(caller_end.sequence)
        )
    if facts.shape.caller is not None:
        return False
    last = facts.last_ended_callee()
    end = last.end_event if last is not None else None
    if end is None or end.status is StatusCode.GONE or end.reason_kind is not ReasonKind.NONE:
        return False
    return facts.end_stage is Stage.HOLD


def _voicemail(facts: CallFacts, span: VoicemailSpan) -> Verdict:
    """Message left or not, on the strongest evidence the events have: a voicemail message,
    then the time spent in voicemail (the call log, stronger still, comes in `reconcile`)."""
    evidence = [f"voicemail_status:{span.party.party_id}"]
    verdict = _voicemail_by_message(facts, span, evidence)
    return verdict or _voicemail_by_time(facts, span, evidence)


def _voicemail_by_message(
    facts: CallFacts, span: VoicemailSpan, evidence: list[str]
) -> Verdict | None:
    mailboxes = {
        party.extension_id
        for party in facts.timeline.parties
        if party.extension_id is not None and party.reached_voicemail
    }
    if span.party.extension_id is not None:
        mailboxes.add(span.party.extension_id)
    match = match_voicemail(
        facts.evidence.voicemails,
        mailboxes=mailboxes,
        caller_number=call_numbers(facts)[0],
        voicemail_start=span.start,
        voicemail_end=span.end,
    )
    if match is None:
        return None
    duration = match.vm_duration_s
    evidence = [*evidence, f"voicemail_message:vm_duration={_number(duration)}"]
    if duration is not None and duration < EMPTY_MESSAGE_S:
        return Verdict(Category.ABANDONED_VOICEMAIL, Stage.VOICEMAIL, "empty_message", evidence)
    return Verdict(Category.VOICEMAIL_LEFT, Stage.VOICEMAIL, evidence=evidence)


def _voicemail_by_time(facts: CallFacts, span: VoicemailSpan, evidence: list[str]) -> Verdict:
    spent = span.end - span.start
    minimum = facts.thresholds.vm_min_message_s
    if spent >= minimum:
        evidence = [*evidence, f"voicemail_time={spent:.3f}s"]
        return Verdict(Category.VOICEMAIL_LEFT, Stage.VOICEMAIL, evidence=evidence)
    evidence = [*evidence, f"voicemail_time={spent:.3f}s<{_number(minimum)}s"]
    return Verdict(Category.ABANDONED_VOICEMAIL, Stage.VOICEMAIL, "during_greeting", evidence)


def _forwarded(facts: CallFacts, external: PartyTrack) -> Verdict:
    exits = facts.ended_with(ReasonKind.EXIT_KEY)
    reason = "exit_key" if exits else "forwarded_external"
    evidence = [f"external_party:{external.party_id}"]
    evidence += [f"party_reason:{party.party_id}={party.last.reason}" for party in exits]
    return Verdict(Category.DEFLECTED, facts.end_stage, reason, evidence)


def _caller_view_end(facts: CallFacts, caller_end: PartyEvent) -> Verdict:
    """Why the call ended, seen with the caller's party."""
    if caller_end.reason_kind in _SYSTEM_ENDS:
        return _system_end(facts, caller_end, facts.end_stage)
    if not facts.callees:
        return Verdict(Category.UNKNOWN, Stage.UNKNOWN, evidence=["caller_party_ended"])
    if facts.active_callees_before(caller_end.sequence):
        return _caller_hung_up(facts, caller_end.ts, ["caller_party_disconnected_first"])
    decided = _teardown_verdict(facts, facts.teardown(before=caller_end.sequence))
    if decided is not None:
        return decided
    last = facts.last_ended_callee(before=caller_end.sequence)
    if last is not None and last.last.reason_kind is ReasonKind.OTHER:
        return _unexplained_end(facts, last)
    after = [f"caller_party_disconnected_after:{last.party_id}"] if last is not None else []
    return _caller_hung_up(facts, caller_end.ts, after)


def _unexplained_end(facts: CallFacts, party: PartyTrack) -> Verdict:
    """A callee ended with a reason we do not know: kept as evidence, never guessed at."""
    evidence = [f"party_reason:{party.party_id}={party.last.reason}"]
    stage = facts.stage_at_end(party)
    return Verdict(Category.UNKNOWN, stage, evidence=evidence, data_gaps=["end_cause_unknown"])


def _callee_view_end(facts: CallFacts) -> Verdict:
    """Why the call ended, seen only through callee parties (extension-level views)."""
    decided = _teardown_verdict(facts, facts.teardown())
    if decided is not None:
        return decided
    last = facts.last_ended_callee()
    if last is None or last.end_event is None:
        return Verdict(Category.UNKNOWN, Stage.UNKNOWN, data_gaps=["end_cause_unknown"])
    end = last.end_event
    stage = facts.stage_at_end(last)
    if end.reason_kind is ReasonKind.HANDOFF or end.status is StatusCode.GONE:
        evidence = [f"party_reason:{last.party_id}={end.reason}"]
        gaps = ["transfer_target_not_observed"]
        return Verdict(Category.UNKNOWN, stage, evidence=evidence, data_gaps=gaps)
    if end.reason_kind is ReasonKind.OTHER:
        return _unexplained_end(facts, last)
    if end.missed_call:
        evidence = [f"missed_call_without_system_reason:{last.party_id}"]
        return _caller_hung_up(facts, end.ts, evidence)
    return Verdict(Category.UNKNOWN, stage, data_gaps=["end_cause_unknown"])


def _teardown_verdict(facts: CallFacts, teardown: list[PartyEvent]) -> Verdict | None:
    """The system's reason for closing the call, if the closing burst of ends gives one:
    the latest system reason wins; a pickup means someone out of view answered."""
    for end in reversed(teardown):
        if end.reason_kind in _SYSTEM_ENDS:
            return _system_end(facts, end, facts.stage_at_end(facts.track(end.party_id)))
    for end in reversed(teardown):
        if end.reason_kind is ReasonKind.ANSWERED_ELSEWHERE:
            return _answered_unseen(end)
    return None


def _caller_hung_up(facts: CallFacts, end_ts: float, evidence: list[str]) -> Verdict:
    waited = end_ts - facts.timeline.first_ts
    return abandon_verdict(waited, facts.end_stage, facts.thresholds, evidence)


def abandon_verdict(
    waited_s: float | None, stage: Stage, thresholds: Thresholds, evidence: Sequence[str] = ()
) -> Verdict:
    """The caller hung up before any answer, after `waited_s` (None: not known): a short abandon
    if that was quick, else abandoned at its stage; `unknown` at a stage no abandon fits."""
    found = list(evidence)
    limit = thresholds.short_abandon_s
    if waited_s is not None and waited_s < limit:
        found.append(f"short_abandon={waited_s:.3f}s<{_number(limit)}s")
        return Verdict(Category.SHORT_ABANDON, stage, evidence=found, caller_hung_up=True)
    category = ABANDON_BY_STAGE.get(stage)
    if category is None:
        return Verdict(Category.UNKNOWN, stage, evidence=found, data_gaps=["end_cause_unknown"])
    return Verdict(category, stage, evidence=found, caller_hung_up=True)


def _system_end(facts: CallFacts, end: PartyEvent, stage: Stage) -> Verdict:
    """The system ended the call: a failure, a timeout, busy/rejected, closed or an exit key."""
    evidence = [f"party_reason:{end.party_id}={end.reason}"]
    kind = end.reason_kind
    if kind is ReasonKind.FAILURE:
        return Verdict(Category.FAILED, stage, snake_case(end.reason), evidence)
    if kind is ReasonKind.EXIT_KEY:
        return Verdict(Category.DEFLECTED, stage, "exit_key", evidence)
    if kind is ReasonKind.BUSY_OR_REJECTED:
        return Verdict(Category.MISSED, stage, "busy_or_rejected", evidence)
    if kind is ReasonKind.CLOSED:
        return Verdict(Category.MISSED, stage, "closed", evidence)
    return Verdict(Category.MISSED, stage, _no_answer_reason(facts, end, stage), evidence)


def _no_answer_reason(facts: CallFacts, end: PartyEvent, stage: Stage) -> str:
    if stage is not Stage.QUEUE:
        return "ring_timeout"
    party = facts.track(end.party_id)
    agents_rang = any(p.queue_call for p in facts.timeline.parties)
    if facts.role(party) is Role.QUEUE and (end.reason or "").lower() == "noanswer":
        return "queue_timeout" if agents_rang else "no_agents"
    return "queue_timeout"


def _answered_unseen(end: PartyEvent) -> Verdict:
    """Our party ended because someone else picked the call up, out of our view."""
    evidence = [f"party_reason:{end.party_id}={end.reason}"]
    gaps = ["answering_party_not_observed"]
    return Verdict(Category.ANSWERED, Stage.CONNECTED, evidence=evidence, data_gaps=gaps)


# --- outbound ----------------------------------------------------------------------------------


def _outbound(facts: CallFacts) -> Verdict:
    answer = facts.answer
    if answer is not None:
        evidence = [f"connected:{answer.party.party_id}"]
        return Verdict(Category.OUTBOUND_CONNECTED, facts.end_stage, evidence=evidence)
    if is_two_leg(facts.timeline.origin) and not facts.callees:
        # only the user's own first leg is in view: whether the far end answered is not known
        return Verdict(Category.UNKNOWN, Stage.UNKNOWN, evidence=_own_leg_evidence(facts))
    rang = any(party.rang for party in facts.timeline.parties)
    stage = Stage.RINGING if rang else Stage.UNKNOWN
    ends = sorted(
        (party.end_event for party in facts.timeline.parties if party.end_event is not None),
        key=lambda event: (event.sequence, event.party_id),
    )
    for end in ends:
        if end.reason_kind is ReasonKind.FAILURE:
            evidence = [f"party_reason:{end.party_id}={end.reason}"]
            return Verdict(Category.OUTBOUND_FAILED, stage, snake_case(end.reason), evidence)
    return _outbound_unanswered(facts, ends, stage)


def _outbound_unanswered(facts: CallFacts, ends: list[PartyEvent], stage: Stage) -> Verdict:
    """No answer, busy or rejected by the reasons given; with none, whoever left first."""
    for end in ends:
        evidence = [f"party_reason:{end.party_id}={end.reason}"]
        if end.reason_kind is ReasonKind.NO_ANSWER:
            return Verdict(Category.OUTBOUND_UNANSWERED, stage, "no_answer", evidence)
        if end.reason_kind is ReasonKind.BUSY_OR_REJECTED:
            reason = "busy" if (end.reason or "").lower() == "targetbusy" else "rejected"
            return Verdict(Category.OUTBOUND_UNANSWERED, stage, reason, evidence)
    caller = facts.shape.caller
    if caller is not None and ends and ends[0].party_id == caller.party_id:
        evidence = ["caller_party_disconnected_first"]
        return Verdict(
            Category.OUTBOUND_UNANSWERED, stage, "caller_gave_up", evidence, caller_hung_up=True
        )
    evidence = ["far_party_disconnected_first"] if caller is not None else []
    return Verdict(Category.OUTBOUND_UNANSWERED, stage, "no_answer", evidence)


def _own_leg_evidence(facts: CallFacts) -> list[str]:
    caller = facts.shape.caller
    answered = caller is not None and StatusCode.ANSWERED in caller.statuses
    return [f"first_leg_answered:{caller.party_id}"] if caller is not None and answered else []


# --- sequence checks ---------------------------------------------------------------------------


def _check_sequence(facts: CallFacts, verdict: Verdict) -> None:
    """Report missing sequence numbers in a view that should see every event, and refuse to
    call a session unanswered when the missing events could have held the answer."""
    if not _sees_every_party(facts) or not facts.timeline.has_sequence_gap:
        return
    verdict.data_gaps.append("sequence_gap")
    end = facts.caller_end
    before = end.sequence if end is not None else None
    if facts.answer is not None or not _gap_before(facts, before):
        return
    verdict.data_gaps.append("answer_events_missing")
    if verdict.category in NO_ANSWER_CATEGORIES:
        verdict.evidence.append(f"events_suggest:{verdict.category.value}")
        verdict.category = Category.UNKNOWN
        verdict.reason = None
        verdict.caller_hung_up = False


FIRST_SEQUENCE_MAX = 3  # RingCentral numbers a session's events from 2 (some views from 1)
_START_STATUSES = frozenset({StatusCode.SETUP, StatusCode.PROCEEDING})


def start_events_missing(facts: CallFacts) -> bool:
    """Whether the session's first events never reached us: a party first seen already past
    ringing (Answered, Hold, VoiceMail, Disconnected, ...), or, in a view that sees every party,
    a first sequence number well after the session's start."""
    timeline = facts.timeline
    if any(party.first.status not in _START_STATUSES for party in timeline.parties):
        return True
    first_sequence = min(event.sequence for event in timeline.events)
    return _sees_every_party(facts) and first_sequence > FIRST_SEQUENCE_MAX


def _sees_every_party(facts: CallFacts) -> bool:
    """Account-level views deliver external parties; internal calls seen from both ends."""
    if any(party.extension_id is None for party in facts.timeline.parties):
        return True
    return (
        facts.direction is Direction.INTERNAL
        and facts.shape.caller is not None
        and bool(facts.callees)
    )


def _gap_before(facts: CallFacts, sequence: int | None) -> bool:
    sequences = {event.sequence for event in facts.timeline.events}
    if sequence is not None:
        sequences = {value for value in sequences if value <= sequence}
    return len(sequences) < max(sequences) - min(sequences) + 1


# --- small helpers -----------------------------------------------------------------------------


def call_numbers(facts: CallFacts) -> tuple[str | None, str | None]:
    """The caller's number and the number dialled."""
    caller = facts.shape.caller
    source = caller if caller is not None else facts.timeline.parties[0]
    return source.from_number, source.to_number


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake_case(value: str | None) -> str | None:
    """`InvalidNumber` -> `invalid_number`, `Call Failed` -> `call_failed`."""
    if not value:
        return None
    words = _CAMEL_BOUNDARY.sub("_", value.strip())
    return re.sub(r"[^0-9a-zA-Z]+", "_", words).strip("_").lower() or None


def _number(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:g}"
