"""One leg outcome per observed party that has an `extensionId` (our extensions).

A callee leg, first rule that matches:
  answered (this party answered; `transferred` if it then handed the call on)
  -> voicemail_left / abandoned_voicemail (this party took the voicemail)
  -> in_progress (still in the call)
  -> rejected (TargetBusy, Rejected) -> answered_elsewhere (Pickup, AgentAnswered)
  -> missed (Timeout, NoAnswer) -> transferred (a transfer, redirect or exit key; Gone)
  -> answered_elsewhere (it was still ringing when another party answered)
  -> caller_abandoned (the caller hung up while it rang or held the call)
  -> transferred (an IVR or queue that passed the call to a party that came after it)
  -> missed.
A caller's hang-up is never an agent's miss. The caller's own leg (internal and outbound calls)
mirrors the call: answered, voicemail, caller_abandoned, rejected, missed, transferred.
"""

from __future__ import annotations

from classifiers.construct import construct
from classifiers.decide import Verdict
from classifiers.events import ReasonKind, StatusCode
from classifiers.facts import CallFacts
from classifiers.outcome import Category, LegOutcome, LegOutcomeKind
from classifiers.roles import Role
from classifiers.timeline import PartyTrack

_CONNECTED = frozenset({Category.ANSWERED, Category.ABANDONED_HOLD, Category.OUTBOUND_CONNECTED})
_VOICEMAIL = {
    Category.VOICEMAIL_LEFT: LegOutcomeKind.VOICEMAIL_LEFT,
    Category.ABANDONED_VOICEMAIL: LegOutcomeKind.ABANDONED_VOICEMAIL,
}
_REJECTED_REASONS = frozenset({"busy_or_rejected", "busy", "rejected"})


def leg_outcomes(facts: CallFacts, verdict: Verdict) -> list[LegOutcome]:
    legs: list[LegOutcome] = []
    for party in facts.timeline.parties:
        if party.extension_id is None:
            continue
        if facts.role(party) is Role.CALLER:
            kind = _caller_leg(party, verdict)
        else:
            kind = _callee_leg(facts, party, verdict)
        values = {"party_id": party.party_id, "extension_id": party.extension_id, "outcome": kind}
        legs.append(construct(LegOutcome, values))
    return legs


def _handed_on(party: PartyTrack) -> bool:
    end = party.end_event
    return end is not None and (
        end.status is StatusCode.GONE
        or end.reason_kind in (ReasonKind.HANDOFF, ReasonKind.EXIT_KEY)
    )


def _caller_leg(party: PartyTrack, verdict: Verdict) -> LegOutcomeKind:
    if not party.ended:
        return LegOutcomeKind.IN_PROGRESS
    if verdict.category in _CONNECTED:
        return LegOutcomeKind.TRANSFERRED if _handed_on(party) else LegOutcomeKind.ANSWERED
    if verdict.category in _VOICEMAIL:
        return _VOICEMAIL[verdict.category]
    if verdict.caller_hung_up:
        return LegOutcomeKind.CALLER_ABANDONED
    if verdict.reason in _REJECTED_REASONS:
        return LegOutcomeKind.REJECTED
    return LegOutcomeKind.MISSED


def _callee_leg(facts: CallFacts, party: PartyTrack, verdict: Verdict) -> LegOutcomeKind:
    if any(answer.party is party for answer in facts.answers):
        return LegOutcomeKind.TRANSFERRED if _handed_on(party) else LegOutcomeKind.ANSWERED
    if party.reached_voicemail or (
        party.end_event is not None and party.end_event.reason_kind is ReasonKind.VOICEMAIL
    ):
        return _VOICEMAIL.get(verdict.category, LegOutcomeKind.ABANDONED_VOICEMAIL)
    end = party.end_event
    if end is None:
        return LegOutcomeKind.IN_PROGRESS
    by_reason = _BY_REASON.get(end.reason_kind)
    if by_reason is not None:
        return by_reason
    if _handed_on(party):
        return LegOutcomeKind.TRANSFERRED
    answer = facts.answer
    if answer is not None and party.active_before(answer.event.sequence + 1):
        return LegOutcomeKind.ANSWERED_ELSEWHERE
    if _caller_left_while_active(facts, party):
        return LegOutcomeKind.CALLER_ABANDONED
    if verdict.caller_hung_up and len(party.events) == 1 and end.reason_kind is ReasonKind.NONE:
        return LegOutcomeKind.CALLER_ABANDONED  # seen only at its end: the caller's hang-up
    if facts.role(party) in (Role.ROUTING, Role.QUEUE) and facts.first_appearance_after(
        end.sequence
    ):
        return LegOutcomeKind.TRANSFERRED
    return LegOutcomeKind.MISSED


_BY_REASON = {
    ReasonKind.BUSY_OR_REJECTED: LegOutcomeKind.REJECTED,
    ReasonKind.ANSWERED_ELSEWHERE: LegOutcomeKind.ANSWERED_ELSEWHERE,
    ReasonKind.NO_ANSWER: LegOutcomeKind.MISSED,
}


def _caller_left_while_active(facts: CallFacts, party: PartyTrack) -> bool:
    """The caller hung up while this leg held the call: seen directly with the caller's party,
    inferred without it from a missed call ended with no reason."""
    caller_end = facts.caller_end
    if caller_end is not None:
        return party.active_before(caller_end.sequence)
    if facts.shape.caller is not None:
        return False
    end = party.end_event
    return end is not None and end.missed_call and end.reason_kind is ReasonKind.NONE
