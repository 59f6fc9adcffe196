"""The public entry point: telephony notifications (plus evidence) -> one `Outcome` per session.

Pure and deterministic: no I/O, no clock (`now` is an argument), no settings, no logging. The
same set of events gives the same outcome whatever their order, duplication or delivery split.

Pipeline: party events -> `Timeline` (ordered, deduplicated) -> `CallShape` (caller, direction,
roles) -> `CallFacts` (answer, voicemail span, caller's end) -> `Verdict` (category, reason,
stage, evidence, data gaps) -> reconciled with the call log (`Settled`) -> legs and timings ->
`Outcome`. A session with call-log records and no events goes through `classify_call_log`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime

from classifiers.calllog import read_call_log, session_key
from classifiers.construct import construct
from classifiers.decide import Verdict, call_numbers, decide, snake_case
from classifiers.events import (
    ON_HOLD_STATUSES,
    PartyEvent,
    StatusCode,
    party_events,
    to_utc,
)
from classifiers.facts import CallFacts, gather_facts
from classifiers.legs import leg_outcomes
from classifiers.origins import is_service
from classifiers.outcome import (
    RULES_VERSION,
    Category,
    Direction,
    Evidence,
    LegOutcome,
    Outcome,
    Reconciliation,
    Thresholds,
)
from classifiers.payloads import CallLogRecord, TelephonySessionNotification
from classifiers.reconcile import (
    Settled,
    leg_corrections,
    outcome_from_call_log,
    reconcile,
    seconds_between,
)
from classifiers.roles import Role, shape_call
from classifiers.timeline import PartyTrack, build_timeline
from classifiers.timing import Interval, clip, merge, overlap, seconds, total

NO_EVIDENCE = Evidence()
DEFAULT_THRESHOLDS = Thresholds()

_PROCEEDING = frozenset({StatusCode.PROCEEDING})
_CONNECTED_CATEGORIES = frozenset({Category.ANSWERED, Category.OUTBOUND_CONNECTED})
_ANSWERED = frozenset({StatusCode.ANSWERED})


def classify_session(
    notifications: Iterable[TelephonySessionNotification],
    *,
    now: datetime,
    evidence: Evidence = NO_EVIDENCE,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Outcome:
    """Classify one telephony session from its notifications (any views, order, duplicates).

    Raises ValueError if there is no party event, or if the events belong to several sessions.
    """
    events = [event for notification in notifications for event in party_events(notification)]
    return classify_events(events, now=now, evidence=evidence, thresholds=thresholds)


def classify_events(
    events: Iterable[PartyEvent],
    *,
    now: datetime,
    evidence: Evidence = NO_EVIDENCE,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Outcome:
    """`classify_session` for party events already extracted (see `classifiers.events`)."""
    timeline = build_timeline(events)
    shape = shape_call(timeline, evidence.directory)
    facts = gather_facts(timeline, shape, thresholds, evidence)
    verdict = decide(facts, to_utc(now).timestamp())
    log = (
        read_call_log(evidence.call_log, session_names(timeline.events), evidence.directory)
        if evidence.call_log
        else None
    )
    settled = reconcile(facts, verdict, log, awaiting=evidence.awaiting_call_log)
    legs = _legs(facts, settled)  # what each leg did, whatever the session was for
    if settled.verdict.final and is_service(timeline.origin):
        settled = _as_service_call(settled, timeline.origin)
    return _outcome(facts, settled, legs)


def _as_service_call(settled: Settled, origin: str | None) -> Settled:
    """A service session (docs/outcomes.md section 12) keeps what the rules found as evidence
    (`events_suggest:`), its stage and timings; its category says it was no customer call."""
    found = settled.verdict
    evidence = [*found.evidence, f"events_suggest:{found.category.value}"]
    verdict = Verdict(
        Category.SERVICE_CALL, found.stage, snake_case(origin), evidence, found.data_gaps
    )
    return dataclasses.replace(settled, verdict=verdict)


def classify_call_log(
    records: Iterable[CallLogRecord],
    *,
    now: datetime,
    evidence: Evidence = NO_EVIDENCE,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
) -> Outcome:
    """The outcome of a session known only from its call-log records (no telephony event).

    The records must belong to one session (`calllog.session_key`); raises ValueError if there
    are none or they belong to several.
    """
    given = list(records)
    keys = {session_key(record) for record in given}
    if len(keys) != 1:
        problem = "no call-log record" if not keys else "records of several sessions"
        raise ValueError(f"{problem} given to one call-log classification")
    (session_id,) = keys
    log = read_call_log(given, keys, evidence.directory)
    assert log is not None  # every record belongs to the session
    return outcome_from_call_log(log, session_id, now=now, thresholds=thresholds)


def session_names(events: Iterable[PartyEvent]) -> set[str]:
    """The ids a session's call-log records may carry: its `telephonySessionId`, and
    `session:<sessionId>` for records that carry only the older id."""
    names: set[str] = set()
    for event in events:
        names.add(event.telephony_session_id)
        if event.session_id:
            names.add(f"session:{event.session_id}")
    return names


def _outcome(facts: CallFacts, settled: Settled, legs: list[LegOutcome]) -> Outcome:
    timeline = facts.timeline
    verdict = settled.verdict
    log = settled.log
    answer = facts.answer
    end = facts.end_event
    end_ts = end.ts if end is not None else None
    limit = end_ts if end_ts is not None else timeline.last_ts
    answer_ts = answer.event.ts if answer is not None else None
    from_number, to_number = call_numbers(facts)
    talk_s, hold_s = _talk_and_hold(facts, answer_ts, limit)
    vm = facts.voicemail
    abandoned = verdict.category.is_abandoned
    started_at = timeline.started_at
    ended_at = end.event_time if end is not None and verdict.final else None
    time_to_abandon = (
        seconds(end_ts - timeline.first_ts) if abandoned and end_ts is not None else None
    )
    if log is not None and settled.log_times:
        if log.started_at is not None and log.started_at < started_at:
            started_at = log.started_at
        if verdict.final and (ended_at is None or not timeline.all_ended):
            ended_at = log.ended_at
        time_to_abandon = log.duration_s if abandoned else None
    elif abandoned and time_to_abandon is None and log is not None:
        time_to_abandon = seconds_between(started_at, log.ended_at)
    # the first events are missing, or the answer was out of view: how long the caller waited
    # is not known (and must not count towards a service level)
    waits_unknown = settled.missing_start or (
        answer is None and verdict.category in _CONNECTED_CATEGORIES
    )
    values = {
        "telephony_session_id": timeline.telephony_session_id,
        "direction": settled.direction,
        "category": verdict.category,
        "reason": verdict.reason,
        "stage": verdict.stage,
        "is_abandoned": abandoned,
        "final": verdict.final,
        "started_at": started_at,
        "answered_at": answer.event.event_time if answer is not None else None,
        "ended_at": ended_at,
        "ring_s": None if waits_unknown else _ring_s(facts, answer_ts, limit),
        "wait_s": None if waits_unknown else _wait_s(facts, answer_ts, limit),
        "talk_s": talk_s,
        "hold_s": hold_s,
        "voicemail_s": seconds(vm.end - vm.start) if vm is not None else None,
        "time_to_abandon_s": time_to_abandon,
        "queue": _queue_name(facts) or (log.queue if log is not None else None),
        "extension_ids": sorted({p.extension_id for p in timeline.parties if p.extension_id}),
        "from_number": from_number,
        "to_number": to_number,
        "evidence": verdict.evidence,
        "data_gaps": list(dict.fromkeys(verdict.data_gaps)),  # decide and reconcile both add
        "sources": settled.sources,
        "reconciliation": settled.reconciliation,
        "legs": legs,
        "rules_version": RULES_VERSION,
        "thresholds": facts.thresholds.as_dict(),
        "revision": 0,
        "updated_at": None,
    }
    return construct(Outcome, values)


def _legs(facts: CallFacts, settled: Settled) -> list[LegOutcome]:
    """The events' leg outcomes; where the first events are missing or the call log corrected
    the session, an extension's own call-log record says what happened to its leg."""
    legs = leg_outcomes(facts, settled.verdict)
    log = settled.log
    overrule = settled.missing_start or settled.reconciliation is Reconciliation.CALL_LOG_CORRECTED
    if log is None or not overrule:
        return legs
    by_extension = leg_corrections(log, settled.verdict)
    return [
        leg.model_copy(update={"outcome": by_extension[leg.extension_id]})
        if leg.extension_id in by_extension
        else leg
        for leg in legs
    ]


def _status_intervals(
    parties: Iterable[PartyTrack], statuses: frozenset[StatusCode], until: float
) -> list[Interval]:
    intervals: list[Interval] = [
        (start, end)
        for party in parties
        for status, start, end in party.spans(until)
        if status in statuses
    ]
    return merge(intervals)


def _ring_parties(facts: CallFacts) -> list[PartyTrack]:
    if facts.direction is Direction.OUTBOUND:
        return list(facts.timeline.parties)
    return facts.shape.with_role(facts.timeline, Role.PERSON)


def _ring_s(facts: CallFacts, answer_ts: float | None, limit: float) -> float | None:
    """Time someone was being rung before the answer (or until the call ended)."""
    rings = _status_intervals(_ring_parties(facts), _PROCEEDING, limit)
    if not rings:
        return None
    upto = answer_ts if answer_ts is not None else limit
    return seconds(total(clip(rings, facts.timeline.first_ts, upto)))


def _wait_s(facts: CallFacts, answer_ts: float | None, limit: float) -> float:
    """Time before a person answered, voicemail began or the call ended; for queue calls,
    counted from when the call entered the queue."""
    timeline = facts.timeline
    queue_entries = [
        party.first.ts
        for party in timeline.parties
        if party.queue_call or facts.role(party) is Role.QUEUE
    ]
    start = min(queue_entries) if queue_entries else timeline.first_ts
    if answer_ts is not None:
        stop = answer_ts
    elif facts.voicemail is not None and facts.direction is not Direction.OUTBOUND:
        stop = facts.voicemail.start
    else:
        stop = limit
    return seconds(stop - start)


def _talk_parties(facts: CallFacts) -> list[PartyTrack]:
    return [answer.party for answer in facts.answers]


def _talk_and_hold(
    facts: CallFacts, answer_ts: float | None, limit: float
) -> tuple[float | None, float | None]:
    """Connected time minus hold, and hold/park time, from the answer to the end."""
    if answer_ts is None:
        return None, None
    talk = clip(_status_intervals(_talk_parties(facts), _ANSWERED, limit), answer_ts, limit)
    hold = clip(
        _status_intervals(facts.timeline.parties, ON_HOLD_STATUSES, limit), answer_ts, limit
    )
    return seconds(total(talk) - overlap(talk, hold)), seconds(total(hold))


def _queue_name(facts: CallFacts) -> str | None:
    for party in facts.timeline.parties:
        if party.queue_name:
            return party.queue_name
    for party in facts.shape.with_role(facts.timeline, Role.QUEUE):
        entry = facts.evidence.directory.get(party.extension_id or "")
        name = entry.name if entry is not None and entry.name else party.to_name
        if name:
            return name
    return None
