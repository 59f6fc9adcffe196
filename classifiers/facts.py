"""The facts the rules decide on, derived once per classification from a timeline.

- the human answer: the first `Answered` of a person party (or, for outbound calls, of our
  caller's party; of the far end's on a two-legged call, `classifiers.origins`) that stayed
  connected at least `min_talk_s`; the caller's own `Answered` on an inbound or internal call
  only means RingCentral picked up the route and never counts;
- the voicemail span: from the first `VoiceMail`/`VoiceMailScreening` status (or a Disconnected
  with reason `Voicemail`) to the caller's hang-up or the voicemail party leaving;
- the caller's end, and where every party stood at that moment (the stage).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from classifiers.events import (
    ON_HOLD_STATUSES,
    TERMINAL_STATUSES,
    VOICEMAIL_STATUSES,
    PartyEvent,
    ReasonKind,
    StatusCode,
)
from classifiers.origins import is_two_leg
from classifiers.outcome import Direction, Evidence, Stage, Thresholds
from classifiers.roles import CallShape, Role
from classifiers.timeline import PartyTrack, Timeline

_ANSWERED = frozenset({StatusCode.ANSWERED})

# Where a caller is, by the status of a party holding the call; the first found wins.
_STAGE_PRIORITY = (
    Stage.CONNECTED,
    Stage.HOLD,
    Stage.VOICEMAIL,
    Stage.QUEUE,
    Stage.RINGING,
    Stage.IVR,
    Stage.UNKNOWN,
)


@dataclass(frozen=True, slots=True)
class Answer:
    party: PartyTrack
    event: PartyEvent


@dataclass(frozen=True, slots=True)
class VoicemailSpan:
    party: PartyTrack
    start: float
    end: float


@dataclass
class CallFacts:
    """Everything the decision, the legs and the timings need about one session. What is
    derived from the fields (the callees, the end, where the caller was then) is computed once,
    on first use, and kept."""

    timeline: Timeline
    shape: CallShape
    thresholds: Thresholds
    evidence: Evidence
    answers: list[Answer]  # every qualifying answer, first one first
    voicemail: VoicemailSpan | None
    caller_end: PartyEvent | None  # the caller party's Disconnected/Gone, when observed

    @property
    def answer(self) -> Answer | None:
        return self.answers[0] if self.answers else None

    @property
    def direction(self) -> Direction:
        return self.shape.direction

    @cached_property
    def callees(self) -> list[PartyTrack]:
        return self.shape.callees(self.timeline)

    def role(self, party: PartyTrack) -> Role:
        return self.shape.role(party)

    @cached_property
    def end_event(self) -> PartyEvent | None:
        """When the call ended: the caller's hang-up if seen, else the last party's end."""
        if self.caller_end is not None:
            return self.caller_end
        if self.timeline.all_ended:
            return max((party.last for party in self.timeline.parties), key=_time_order)
        return None

    def position(self, party: PartyTrack, status: StatusCode | None) -> Stage:
        """Where the caller is while `party` holds the call in `status`. An `Answered` that is
        no human answer (a routing party, talk under `min_talk_s`) does not connect anyone."""
        if status is StatusCode.OTHER:
            return Stage.UNKNOWN  # a missing or unknown status says nothing of where it was
        role = self.role(party)
        if status in ON_HOLD_STATUSES or role is Role.PARK:
            return Stage.HOLD
        if status in VOICEMAIL_STATUSES:
            return Stage.VOICEMAIL
        if role is Role.EXTERNAL:
            if status is StatusCode.ANSWERED:
                return Stage.CONNECTED
            return Stage.RINGING if status is StatusCode.PROCEEDING else Stage.UNKNOWN
        if status is StatusCode.ANSWERED and self.answered_by(party):
            return Stage.CONNECTED
        if role is Role.QUEUE or party.queue_call:
            return Stage.QUEUE
        if role is Role.PERSON:
            return Stage.RINGING
        if role is Role.ROUTING:
            return Stage.IVR
        return Stage.UNKNOWN

    def answered_by(self, party: PartyTrack) -> bool:
        return any(answer.party is party for answer in self.answers)

    def active_callees_before(self, sequence: int) -> list[PartyTrack]:
        return [party for party in self.callees if party.active_before(sequence)]

    @cached_property
    def end_stage(self) -> Stage:
        """Where the caller was when the call ended (or is now, while it lasts)."""
        caller = self.shape.caller
        if self.caller_end is not None and caller is not None:
            sequence = self.caller_end.sequence
            active = self.active_callees_before(sequence)
            if active:
                return _best_stage(self.position(p, p.status_before(sequence)) for p in active)
            last = self.last_ended_callee(before=sequence)
            if last is None:
                return self.caller_position(caller.status_before(sequence))
        elif not self.timeline.all_ended:
            active = [party for party in self.callees if not party.ended]
            if active:
                return _best_stage(self.position(p, p.last.status) for p in active)
            return self.caller_position(caller.last.status if caller is not None else None)
        else:
            last = self.last_ended_callee()
        if last is None or last.end_event is None:
            return Stage.UNKNOWN
        return self.stage_at_end(last)

    def caller_position(self, status: StatusCode | None) -> Stage:
        """Where an outbound call is, from our caller's own party (the only one seen)."""
        if self.direction is not Direction.OUTBOUND:
            return Stage.UNKNOWN
        if status is StatusCode.ANSWERED:
            # a two-legged call's own first leg answering connects nobody
            return Stage.UNKNOWN if is_two_leg(self.timeline.origin) else Stage.CONNECTED
        if status in ON_HOLD_STATUSES:
            return Stage.HOLD
        if status is StatusCode.PROCEEDING:
            return Stage.RINGING
        return Stage.UNKNOWN

    def stage_at_end(self, party: PartyTrack) -> Stage:
        """Where the caller was when `party` ended (a party handed on from hold or park was
        connected: the caller went on to the transfer target)."""
        end = party.end_event
        if end is None:
            return self.position(party, party.last.status)
        status = party.status_before(end.sequence)
        handed_on = end.status is StatusCode.GONE or end.reason_kind is ReasonKind.HANDOFF
        if handed_on and status in ON_HOLD_STATUSES:
            status = StatusCode.ANSWERED
        return self.position(party, status)

    def last_ended_callee(self, before: int | None = None) -> PartyTrack | None:
        """The callee whose end came last (before `before`, if given)."""
        best: PartyTrack | None = None
        for party in self.callees:
            end = party.end_event
            if end is None or (before is not None and end.sequence >= before):
                continue
            if best is None or end.sequence > best.last.sequence:
                best = party
        return best

    def teardown(self, before: int | None = None) -> list[PartyEvent]:
        """Callee ends after the last non-terminal event of the session (before `before`):
        the burst of Disconnected/Gone that closed the call, in sequence order."""
        events = self.timeline.events
        if before is not None:
            events = [event for event in events if event.sequence < before]
        last_active = max(
            (event.sequence for event in events if event.status not in TERMINAL_STATUSES),
            default=None,
        )
        callers = {self.shape.caller.party_id} if self.shape.caller is not None else set()
        return [
            event
            for event in events
            if event.status in TERMINAL_STATUSES
            and event.party_id not in callers
            and (last_active is None or event.sequence > last_active)
        ]

    def track(self, party_id: str) -> PartyTrack:
        for party in self.timeline.parties:
            if party.party_id == party_id:
                return party
        raise KeyError(party_id)

    def first_appearance_after(self, sequence: int) -> bool:
        """Whether some party first appeared after `sequence` (the call moved on to it)."""
        return any(party.first.sequence > sequence for party in self.timeline.parties)

    def ended_with(self, kind: ReasonKind) -> list[PartyTrack]:
        return [
            party
            for party in self.timeline.parties
            if party.end_event is not None and party.end_event.reason_kind is kind
        ]


def _time_order(event: PartyEvent) -> tuple[float, int]:
    return (event.ts, event.sequence)


def _best_stage(stages: Iterable[Stage]) -> Stage:
    found = set(stages)
    for stage in _STAGE_PRIORITY:
        if stage in found:
            return stage
    return Stage.UNKNOWN


def gather_facts(
    timeline: Timeline,
    shape: CallShape,
    thresholds: Thresholds,
    evidence: Evidence,
) -> CallFacts:
    caller = shape.caller
    caller_end = caller.end_event if caller is not None else None
    return CallFacts(
        timeline=timeline,
        shape=shape,
        thresholds=thresholds,
        evidence=evidence,
        answers=_answers(timeline, shape, thresholds),
        voicemail=_voicemail_span(timeline, shape, caller_end),
        caller_end=caller_end,
    )


def _talk_parties(timeline: Timeline, shape: CallShape) -> list[PartyTrack]:
    """Parties whose `Answered` means a person is talking: on an outbound call our caller's
    (its *Answered* follows the far end's), unless the call is two-legged (RingOut, ...), where
    our caller's *Answered* is only the user taking the first leg: then the far end's."""
    if shape.direction is Direction.OUTBOUND:
        if shape.caller is not None and not is_two_leg(timeline.origin):
            return [shape.caller]
        return shape.with_role(timeline, Role.EXTERNAL)
    return shape.with_role(timeline, Role.PERSON)


def _answers(timeline: Timeline, shape: CallShape, thresholds: Thresholds) -> list[Answer]:
    answers: list[Answer] = []
    for party in _talk_parties(timeline, shape):
        answered = party.first_with(_ANSWERED)
        if answered is None:
            continue
        end = _end_after(party, answered.sequence)
        if end is None or end.ts - answered.ts >= thresholds.min_talk_s:
            answers.append(Answer(party, answered))
    answers.sort(key=lambda answer: (answer.event.sequence, answer.party.party_id))
    return answers


def _end_after(party: PartyTrack, sequence: int) -> PartyEvent | None:
    for event in party.events:
        if event.sequence > sequence and event.status in TERMINAL_STATUSES:
            return event
    return None


def _voicemail_span(
    timeline: Timeline, shape: CallShape, caller_end: PartyEvent | None
) -> VoicemailSpan | None:
    start: tuple[PartyEvent, PartyTrack] | None = None
    for party in timeline.parties:
        if party is shape.caller:
            continue
        for event in party.events:
            reached = event.status in VOICEMAIL_STATUSES or (
                event.status is StatusCode.DISCONNECTED
                and event.reason_kind is ReasonKind.VOICEMAIL
            )
            if reached:
                if start is None or event.sequence < start[0].sequence:
                    start = (event, party)
                break
    if start is None:
        return None
    event, party = start
    end = timeline.last_ts
    for later in party.events:
        if later.sequence > event.sequence and later.status not in VOICEMAIL_STATUSES:
            end = later.ts
            break
    if caller_end is not None and caller_end.sequence > event.sequence:
        end = min(end, caller_end.ts)
    return VoicemailSpan(party, event.ts, max(end, event.ts))
