"""The events' verdict weighed against the call log, and outcomes from the call log alone.

`reconcile` takes the verdict the telephony events give (`decide`) and the session's call-log
view (`calllog.read_call_log`). Where both say the same final result (answered or not, message
left or not, who ended the call) the events' richer verdict stands (`agreed`); where they
disagree the call log's result wins and the events' verdict is kept in the evidence
(`events_suggest:<category>`, `call_log_corrected`). A session whose first events never arrived
(`missing_start_events`) is never called unanswered on events alone: such a verdict becomes
`unknown` until the call log settles it.

`log_verdict` turns a call-log result into a category, with the stage and timings taken from the
events when there are any and from the records otherwise; `outcome_from_call_log` builds a whole
outcome for a session that has records and no events (`call_log_only`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from classifiers.calllog import CallLogView, LogItem, LogResult, strongest
from classifiers.construct import construct
from classifiers.decide import (
    ABANDON_BY_STAGE,
    NO_ANSWER_CATEGORIES,
    Verdict,
    abandon_verdict,
    not_final_verdict,
    snake_case,
    start_events_missing,
)
from classifiers.events import to_utc
from classifiers.facts import CallFacts
from classifiers.outcome import (
    RULES_VERSION,
    Category,
    Direction,
    LegOutcome,
    LegOutcomeKind,
    Outcome,
    Reconciliation,
    Source,
    Stage,
    Thresholds,
)
from classifiers.timing import seconds

MISSING_START = "missing_start_events"
NO_EVENTS = "no_webhook_events"
# "nobody answered" verdicts that missing first events could have hidden an answer from
_UNANSWERED_ON_EVENTS = NO_ANSWER_CATEGORIES | {
    Category.ABANDONED_VOICEMAIL,
    Category.VOICEMAIL_LEFT,
}
_COARSE_UNANSWERED = frozenset(
    {
        LogResult.GAVE_UP,
        LogResult.NOT_ANSWERED,
        LogResult.BUSY_REJECTED,
        LogResult.CLOSED,
        LogResult.FORWARDED,
        LogResult.CALLBACK,
        LogResult.FAILED,
        LogResult.UNANSWERED,
    }
)


@dataclass(slots=True)
class Settled:
    """A session's verdict after reconciliation, and where its data came from."""

    verdict: Verdict
    reconciliation: Reconciliation
    sources: list[Source]
    direction: Direction
    log: CallLogView | None = None
    missing_start: bool = False
    log_times: bool = False  # timings of abandon and end come from the call log


def event_result(verdict: Verdict) -> LogResult:
    """The events' verdict in the call log's terms, to compare the two."""
    category, reason = verdict.category, verdict.reason
    if category in (Category.ANSWERED, Category.ABANDONED_HOLD, Category.OUTBOUND_CONNECTED):
        return LogResult.CONNECTED
    if category is Category.VOICEMAIL_LEFT:
        return LogResult.VOICEMAIL_LEFT
    if category.is_abandoned:
        return LogResult.GAVE_UP
    if category is Category.MISSED:
        if reason == "busy_or_rejected":
            return LogResult.BUSY_REJECTED
        return LogResult.CLOSED if reason == "closed" else LogResult.NOT_ANSWERED
    if category is Category.OUTBOUND_UNANSWERED:
        if reason == "caller_gave_up":
            return LogResult.GAVE_UP
        return LogResult.BUSY_REJECTED if reason in ("busy", "rejected") else LogResult.NOT_ANSWERED
    if category is Category.DEFLECTED:
        return LogResult.CALLBACK if reason == "callback_requested" else LogResult.FORWARDED
    if category in (Category.FAILED, Category.OUTBOUND_FAILED):
        return LogResult.FAILED
    if category is Category.IN_PROGRESS:
        return LogResult.IN_PROGRESS
    return LogResult.UNKNOWN


def agree(events: LogResult, log: LogResult) -> bool:
    """Whether the call log's result agrees with the events' (it may say less, never other)."""
    if events is log:
        return True
    if log is LogResult.ANSWERED_ELSEWHERE:
        return events is LogResult.CONNECTED
    if log is LogResult.CONNECTED:
        return events is LogResult.FORWARDED  # a forwarded call answered outside, Simple view
    if log is LogResult.UNANSWERED:
        return events in _COARSE_UNANSWERED
    return False


def refines(events: LogResult, log: LogResult) -> bool:
    """Whether the call log adds what the events cannot show, without contradicting them: a
    callback request looks like a queue abandon in the events."""
    return log is LogResult.CALLBACK and events is LogResult.GAVE_UP


def reconcile(
    facts: CallFacts, verdict: Verdict, log: CallLogView | None, *, awaiting: bool
) -> Settled:
    """The session's verdict from its events and its call log (see the module docstring)."""
    missing_start = start_events_missing(facts)
    if missing_start:
        verdict.data_gaps.append(MISSING_START)
    sources = [Source.WEBHOOK, Source.CALL_LOG] if log is not None else [Source.WEBHOOK]
    if log is None or not log.settles:
        pending = log.result is LogResult.IN_PROGRESS if log is not None else awaiting
        state = Reconciliation.AWAITING_CALL_LOG if pending else Reconciliation.EVENTS_ONLY
        if log is not None:
            verdict.evidence.extend(log.evidence())
        if missing_start and verdict.category in _UNANSWERED_ON_EVENTS:
            verdict = _unsettled(verdict)
        return Settled(verdict, state, sources, facts.direction, log, missing_start)
    direction = facts.direction
    if facts.shape.caller is None and log.direction is not direction:
        direction = log.direction  # without the caller's party the events only guessed it
    elif verdict.final and agree(event_result(verdict), log.result):
        settled = _agreed(facts, verdict, log, missing_start)
        return Settled(
            settled, Reconciliation.AGREED, sources, direction, log, missing_start, missing_start
        )
    corrected = log_verdict(log, direction, facts.thresholds, facts=facts, events=verdict)
    if verdict.final and refines(event_result(verdict), log.result):
        corrected.evidence = [*verdict.evidence, *log.evidence(), *corrected.evidence]
        corrected.data_gaps = [*verdict.data_gaps, *corrected.data_gaps]
        return Settled(corrected, Reconciliation.AGREED, sources, direction, log, missing_start)
    corrected.evidence = [
        *verdict.evidence,
        f"events_suggest:{verdict.category.value}",
        *log.evidence(),
        *corrected.evidence,
    ]
    corrected.data_gaps = [*verdict.data_gaps, *corrected.data_gaps]
    times_from_log = missing_start or not verdict.final
    return Settled(
        corrected,
        Reconciliation.CALL_LOG_CORRECTED,
        sources,
        direction,
        log,
        missing_start,
        times_from_log,
    )


def _unsettled(verdict: Verdict) -> Verdict:
    evidence = [*verdict.evidence, f"events_suggest:{verdict.category.value}"]
    return Verdict(Category.UNKNOWN, verdict.stage, None, evidence, verdict.data_gaps)


def _agreed(facts: CallFacts, verdict: Verdict, log: CallLogView, missing_start: bool) -> Verdict:
    """The events' verdict, with the call log's evidence; when the first events are missing an
    abandon is timed by the call log (the events started late)."""
    verdict.evidence.extend(log.evidence())
    if not missing_start:
        return verdict
    if verdict.caller_hung_up and facts.direction is not Direction.OUTBOUND:
        retimed = _gave_up(log, facts.thresholds, _stage(log, facts, verdict), facts=facts)
        retimed.evidence = verdict.evidence
        retimed.data_gaps = verdict.data_gaps
        return retimed
    if verdict.stage is Stage.UNKNOWN:
        verdict.stage = log.stage()  # where the call was is in the events that were lost
    return verdict


def log_verdict(
    log: CallLogView,
    direction: Direction,
    thresholds: Thresholds,
    *,
    facts: CallFacts | None = None,
    events: Verdict | None = None,
) -> Verdict:
    """The category the call log's result gives, placed with the events' stage when known."""
    result = log.result
    stage = _stage(log, facts, events)
    outbound = direction is Direction.OUTBOUND
    gaps: list[str] = []
    if result in (LogResult.CONNECTED, LogResult.ANSWERED_ELSEWHERE):
        category = Category.OUTBOUND_CONNECTED if outbound else Category.ANSWERED
        if facts is not None and facts.answer is None:
            gaps.append("answering_party_not_observed")
        connected = stage if stage in (Stage.CONNECTED, Stage.HOLD) else Stage.CONNECTED
        return Verdict(category, connected, data_gaps=gaps)
    if outbound:
        return _outbound(log)
    if result is LogResult.VOICEMAIL_LEFT:
        return Verdict(Category.VOICEMAIL_LEFT, Stage.VOICEMAIL)
    if result is LogResult.CALLBACK:
        return Verdict(Category.DEFLECTED, stage, "callback_requested")
    if result is LogResult.FORWARDED:
        return Verdict(Category.DEFLECTED, stage, log.forwarded or "forwarded_external")
    if result in (LogResult.GAVE_UP, LogResult.UNANSWERED):
        return _gave_up(log, thresholds, stage, facts=facts)
    if result is LogResult.CLOSED:
        return Verdict(Category.MISSED, stage, "closed")
    if result is LogResult.BUSY_REJECTED:
        return Verdict(Category.MISSED, stage, "busy_or_rejected")
    if result is LogResult.NOT_ANSWERED:
        return Verdict(Category.MISSED, stage, _no_answer_reason(log, stage))
    if result is LogResult.FAILED:
        return Verdict(Category.FAILED, stage, _failure_reason(log.deciding))
    return Verdict(Category.UNKNOWN, stage, data_gaps=["end_cause_unknown"])


def _stage(log: CallLogView, facts: CallFacts | None, events: Verdict | None) -> Stage:
    if log.voicemail_reached or (facts is not None and facts.voicemail is not None):
        return Stage.VOICEMAIL
    if events is not None and events.stage is not Stage.UNKNOWN:
        return events.stage
    return log.stage()


def _outbound(log: CallLogView) -> Verdict:
    result = log.result
    if result is LogResult.FAILED:
        return Verdict(Category.OUTBOUND_FAILED, Stage.UNKNOWN, _failure_reason(log.deciding))
    if result is LogResult.GAVE_UP:
        return Verdict(
            Category.OUTBOUND_UNANSWERED, Stage.RINGING, "caller_gave_up", caller_hung_up=True
        )
    if result in (LogResult.BUSY_REJECTED, LogResult.CLOSED):
        busy = log.deciding is not None and _is_busy(log.deciding)
        return Verdict(Category.OUTBOUND_UNANSWERED, Stage.RINGING, "busy" if busy else "rejected")
    if result in (LogResult.NOT_ANSWERED, LogResult.UNANSWERED):
        return Verdict(Category.OUTBOUND_UNANSWERED, Stage.RINGING, "no_answer")
    return Verdict(Category.UNKNOWN, Stage.UNKNOWN, data_gaps=["end_cause_unknown"])


def _is_busy(item: LogItem) -> bool:
    return "busy" in item.raw_result.lower() or "busy" in (item.raw_reason or "").lower()


def _gave_up(
    log: CallLogView, thresholds: Thresholds, stage: Stage, *, facts: CallFacts | None
) -> Verdict:
    """The caller hung up before an answer: in voicemail without a message, quickly (short
    abandon), on hold (`abandoned_hold` when so configured), or where the call was."""
    if stage not in (Stage.VOICEMAIL, Stage.HOLD, *ABANDON_BY_STAGE):
        stage = log.stage()
    if stage is Stage.VOICEMAIL:
        return _abandoned_voicemail(facts, thresholds)
    verdict = abandon_verdict(log.duration_s, stage, thresholds)
    if verdict.category is not Category.UNKNOWN:
        return verdict
    if stage is Stage.HOLD and thresholds.hold_hangup_is_abandon:
        return Verdict(Category.ABANDONED_HOLD, Stage.HOLD, caller_hung_up=True)
    # held (or connected) by the events' account, yet not answered: where the call log places it
    placed = log.stage()
    return abandon_verdict(
        None, placed if placed in ABANDON_BY_STAGE else Stage.RINGING, thresholds
    )


def _abandoned_voicemail(facts: CallFacts | None, thresholds: Thresholds) -> Verdict:
    """No message was left: the caller spent long enough in voicemail to leave one (an empty
    message), or hung up during the greeting."""
    spent = _voicemail_seconds(facts)
    long_enough = spent is not None and spent >= thresholds.vm_min_message_s
    reason = "empty_message" if long_enough else "during_greeting"
    return Verdict(Category.ABANDONED_VOICEMAIL, Stage.VOICEMAIL, reason, caller_hung_up=True)


def _voicemail_seconds(facts: CallFacts | None) -> float | None:
    if facts is None or facts.voicemail is None:
        return None
    return facts.voicemail.end - facts.voicemail.start


def _no_answer_reason(log: CallLogView, stage: Stage) -> str:
    if stage is not Stage.QUEUE:
        return "ring_timeout"
    agents = any(item.delegate_queue for item in log.items)
    return "queue_timeout" if agents else "no_agents"


def _failure_reason(item: LogItem | None) -> str | None:
    if item is None:
        return None
    reason = item.raw_reason
    if reason and reason.strip().lower() not in ("accepted", "connected", "unknown"):
        return snake_case(reason)
    return snake_case(item.raw_result)


# --- outcomes from the call log alone -----------------------------------------------------------


def outcome_from_call_log(
    log: CallLogView, session_id: str, *, now: datetime, thresholds: Thresholds
) -> Outcome:
    """The outcome of a session known only from its call-log records."""
    if log.final:
        verdict = log_verdict(log, log.direction, thresholds)
    else:
        now_ts = to_utc(now).timestamp()
        verdict = not_final_verdict(_last_heard_ts(log), now_ts, log.stage(), thresholds)
    abandoned = verdict.category.is_abandoned
    duration = log.duration_s
    unanswered = verdict.category not in (Category.ANSWERED, Category.OUTBOUND_CONNECTED)
    values = {
        "telephony_session_id": session_id,
        "direction": log.direction,
        "category": verdict.category,
        "reason": verdict.reason,
        "stage": verdict.stage,
        "is_abandoned": abandoned,
        "final": verdict.final,
        "started_at": log.started_at,
        "answered_at": None,
        "ended_at": log.ended_at if verdict.final else None,
        "ring_s": None,
        "wait_s": duration if unanswered and verdict.final else None,
        "talk_s": None,
        "hold_s": None,
        "voicemail_s": None,
        "time_to_abandon_s": duration if abandoned else None,
        "queue": log.queue,
        "extension_ids": list(log.extension_ids),
        "from_number": log.from_number,
        "to_number": log.to_number,
        "evidence": [*log.evidence(), *verdict.evidence],
        "data_gaps": list(dict.fromkeys([NO_EVENTS, *verdict.data_gaps])),
        "sources": [Source.CALL_LOG],
        "reconciliation": Reconciliation.CALL_LOG_ONLY,
        "legs": log_legs(log, verdict),
        "rules_version": RULES_VERSION,
        "thresholds": thresholds.as_dict(),
        "revision": 0,
        "updated_at": None,
    }
    return construct(Outcome, values)


def _last_heard_ts(log: CallLogView) -> float | None:
    """The latest moment the records account for (start plus duration so far)."""
    if log.started_at is None:
        return None
    return log.started_at.timestamp() + (log.duration_s or 0.0)


_LEG_BY_RESULT = {
    LogResult.IN_PROGRESS: LegOutcomeKind.IN_PROGRESS,
    LogResult.CONNECTED: LegOutcomeKind.ANSWERED,
    LogResult.ANSWERED_ELSEWHERE: LegOutcomeKind.ANSWERED_ELSEWHERE,
    LogResult.VOICEMAIL_LEFT: LegOutcomeKind.VOICEMAIL_LEFT,
    LogResult.FORWARDED: LegOutcomeKind.TRANSFERRED,
    LogResult.GAVE_UP: LegOutcomeKind.CALLER_ABANDONED,
    LogResult.UNANSWERED: LegOutcomeKind.CALLER_ABANDONED,
    LogResult.BUSY_REJECTED: LegOutcomeKind.REJECTED,
}


def log_legs(log: CallLogView, verdict: Verdict) -> list[LegOutcome]:
    """One leg per extension's record: what that record says happened to its extension."""
    legs: dict[str, LegOutcome] = {}
    for record_id, (owner, party_id, kind) in _record_legs(log, verdict).items():
        party = party_id or f"record:{record_id}"
        legs[party] = construct(
            LegOutcome, {"party_id": party, "extension_id": owner, "outcome": kind}
        )
    return list(legs.values())


def leg_corrections(log: CallLogView, verdict: Verdict) -> dict[str, LegOutcomeKind]:
    """Extension id -> what its own call-log record says happened to its leg."""
    return {owner: kind for owner, _, kind in _record_legs(log, verdict).values()}


def _record_legs(
    log: CallLogView, verdict: Verdict
) -> dict[str, tuple[str, str | None, LegOutcomeKind]]:
    found: dict[str, tuple[str, str | None, LegOutcomeKind]] = {}
    for record in log.records:
        items = [item for item in log.items if item.record_id == record.id]
        owner = items[0].owner_extension_id if items else None
        if owner is None:
            continue
        mine = [item for item in items if not item.forwarded_out] or items
        kind = _LEG_BY_RESULT.get(strongest(item.result for item in mine), LegOutcomeKind.MISSED)
        if kind is LegOutcomeKind.CALLER_ABANDONED and (
            verdict.category is Category.ABANDONED_VOICEMAIL
        ):
            kind = LegOutcomeKind.ABANDONED_VOICEMAIL
        if any(item.forwarded_out for item in items) and kind is not LegOutcomeKind.ANSWERED:
            kind = LegOutcomeKind.TRANSFERRED
        found[record.id] = (owner, record.party_id, kind)
    return found


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return seconds(to_utc(end).timestamp() - to_utc(start).timestamp())
