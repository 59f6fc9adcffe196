"""Recompute call outcomes from stored events and call-log records, one claim at a time.

Every touched session is rebuilt from ALL of its stored events and call-log records, so
duplicates, reordering and late events or records converge to the same outcome. A session with
records and no events gets its outcome from the call log alone; a record that carries only the
older `sessionId` joins the session whose events carry it. An outcome row is written only when
its content changed; a change bumps `revision`, `updated_at` and takes the next number of the
change counter that the dashboard poll follows. The caller owns the transaction (a worker job or
a CLI chunk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from asyncpg import InterfaceError, PostgresError
from pydantic import ValidationError
from sqlalchemy import exc as sqlalchemy_exc
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers import (
    CATEGORY_LABELS,
    RULES_VERSION,
    Category,
    Direction,
    DirectoryEntry,
    Evidence,
    Outcome,
    OwnedVoicemail,
    ParseError,
    PartyEvent,
    Reconciliation,
    Source,
    Stage,
    Thresholds,
    classify_call_log,
    classify_events,
    party_events_from_envelope,
)
from classifiers.classify import session_names
from classifiers.evidence import voicemail_evidence
from classifiers.payloads import CallLogRecord
from classifiers.recovery import DEFAULT_RECOVERY_WINDOW
from classifiers.timing import shifted
from service.calllog import queries as calllog_queries
from service.calllog.expectation import NO_CALL_LOG, CallLogExpectation
from service.db.errors import is_refused_value
from service.processing import queries
from service.processing.recovery import caller_key_of, refresh_recoveries
from service.ringcentral import queries as ringcentral_queries
from service.rollups import queries as rollup_queries

log = structlog.get_logger(__name__)

VOICEMAIL_LOOKBACK = timedelta(hours=2)
VOICEMAIL_LOOKAHEAD = timedelta(hours=2)
STORAGE_FIELDS = frozenset({"revision", "updated_at"})
# The processor runs in the service's event loop: between this many sessions it lets the webhook
# and the API run, so a claim of hundreds of sessions never holds them up for its whole length.
YIELD_EVERY_SESSIONS = 16
YIELD_EVERY_RECORDS = 64
# Call-log records taken per claim by default: a claim's writes run without a pause, so a smaller
# share of records keeps each pause of the webhook short while a backfill is taken in (inline; a
# processor with a process of its own takes as many records as events).
RECORDS_PER_CLAIM = 200


@dataclass(frozen=True, slots=True)
class ProcessingContext:
    """What one processing job classifies with; `now` is read once, at the job's boundary."""

    now: datetime
    thresholds: Thresholds
    directory: Mapping[str, DirectoryEntry]
    call_log: CallLogExpectation = NO_CALL_LOG
    recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW
    # recompute the recoveries around every session, changed or not (`callsift reclassify`)
    refresh_recoveries: bool = False


@dataclass(frozen=True, slots=True)
class ClaimStats:
    events: int = 0
    records: int = 0
    sessions: int = 0
    changed: int = 0
    corrections: int = 0
    failures: int = 0
    oldest_received_at: datetime | None = None
    full: bool = False  # a claim came back full: more is probably waiting
    left_held: int = 0  # events and records left queued: another claim held their session

    @property
    def claimed(self) -> int:
        return max(self.events, self.records)


@dataclass(slots=True)
class Recomputed:
    changed: int = 0
    corrections: int = 0  # outcomes that became `call_log_corrected`
    failures: int = 0  # sessions the classifier failed on (stored as `classification_failed`)


async def process_new_events(
    connection: AsyncConnection,
    *,
    context: ProcessingContext,
    claim_size: int,
    records_limit: int | None = None,
    leave_held: bool = False,
) -> ClaimStats:
    """Claim up to `claim_size` unprocessed events and `records_limit` call-log records (by
    default as many, at most RECORDS_PER_CLAIM; marked done when the caller commits), recompute
    the sessions they touch. With `leave_held`, a session another transaction is recomputing is
    not waited for: what the claim holds of it stays queued for a later claim (PostgreSQL)."""
    claimed = await queries.claim_unprocessed(connection, claim_size) if claim_size else []
    if records_limit is None:
        records_limit = min(claim_size, RECORDS_PER_CLAIM)
    records = (
        await calllog_queries.claim_unprocessed(connection, records_limit) if records_limit else []
    )
    if not claimed and not records:
        return ClaimStats()
    claimed_count, records_count = len(claimed), len(records)
    sessions_of_event: dict[int, set[str]] = {}
    for event in claimed:
        if event.kind == "telephony" and event.telephony_session_id:
            sessions_of_event[event.id] = {event.telephony_session_id}
        elif event.kind == "voicemail" and event.extension_id and event.event_time:
            sessions_of_event[event.id] = set(
                await queries.sessions_awaiting_voicemail(
                    connection,
                    event.extension_id,
                    started_from=shifted(event.event_time, -VOICEMAIL_LOOKAHEAD),
                    started_to=shifted(event.event_time, VOICEMAIL_LOOKBACK),
                )
            )
    session_of_record = await _sessions_of_records(connection, records)
    sessions = {*session_of_record.values()}.union(*sessions_of_event.values())
    held = await queries.lock_free_sessions(connection, sessions) if leave_held else set()
    if held:
        sessions -= held
        claimed = [e for e in claimed if held.isdisjoint(sessions_of_event.get(e.id, ()))]
        records = [r for r in records if session_of_record[r] not in held]
    # Before the recomputation, which takes the change numbers' lock (held until commit). The
    # extensions' rows are shared by claims, so they are touched under that lock, not before it.
    await queries.mark_processed(connection, [event.id for event in claimed])
    await calllog_queries.mark_processed(connection, records)
    recomputed = await recompute(connection, sessions, context=context, locked=leave_held)
    await _note_subscription_activity(connection, claimed, context.now)
    return ClaimStats(
        events=len(claimed),
        records=len(records),
        sessions=len(sessions),
        changed=recomputed.changed,
        corrections=recomputed.corrections,
        failures=recomputed.failures,
        oldest_received_at=min((event.received_at for event in claimed), default=None),
        full=bool(claimed or records)
        and (claimed_count >= claim_size or records_count >= records_limit),
        left_held=claimed_count - len(claimed) + records_count - len(records),
    )


async def _sessions_of_records(
    connection: AsyncConnection, records: list[calllog_queries.ClaimedRecord]
) -> dict[calllog_queries.ClaimedRecord, str]:
    """The session each new or changed record belongs to: its `telephonySessionId`, else the
    session whose events carry its older `sessionId`, else its own key (`session:<id>`)."""
    legacy = {r.session_id for r in records if not r.telephony_session_id and r.session_id}
    linked = await calllog_queries.sessions_by_legacy_id(connection, legacy)
    sessions: dict[calllog_queries.ClaimedRecord, str] = {}
    for record in records:
        if record.telephony_session_id:
            sessions[record] = record.telephony_session_id
        elif record.session_id and record.session_id in linked:
            sessions[record] = linked[record.session_id]
        else:
            sessions[record] = record.session_key
    return sessions


async def recompute_sessions(
    connection: AsyncConnection, session_ids: Collection[str], *, context: ProcessingContext
) -> int:
    """Reclassify sessions from all their events and records; how many outcomes changed."""
    return (await recompute(connection, session_ids, context=context)).changed


async def recompute(
    connection: AsyncConnection,
    session_ids: Collection[str],
    *,
    context: ProcessingContext,
    locked: bool = False,
) -> Recomputed:
    """Reclassify sessions from all their stored events and call-log records (locking them
    first, unless the caller holds their locks already)."""
    if not session_ids:
        return Recomputed()
    if not locked:
        await queries.lock_sessions(connection, session_ids)
    payloads = await queries.session_payloads(connection, session_ids)
    events: dict[str, list[PartyEvent]] = {}
    for count, (session_id, raw) in enumerate(payloads.items(), start=1):
        events[session_id] = _party_events(session_id, raw)
        if count % YIELD_EVERY_SESSIONS == 0:
            await asyncio.sleep(0)
    logs = await _call_log_evidence(connection, events)
    voicemails = await _voicemail_evidence(connection, events.values())
    stored = await queries.stored_outcomes(connection, [*session_ids, *logs.merged])
    changes: list[_Change] = []
    failures = 0
    for count, (session_id, session_events) in enumerate(events.items(), start=1):
        if count % YIELD_EVERY_SESSIONS == 0:
            await asyncio.sleep(0)
        records = logs.by_session.get(session_id, [])
        try:
            outcome = _classify(session_events, records, voicemails, context)
        except Exception as exc:  # one session's data must never stop the others
            log.warning("processor.classification_failed", session=session_id, error=repr(exc))
            failures += 1
            outcome = failed_outcome(session_id, session_events, exc, context)
        if outcome is None:
            continue
        document = outcome_document(outcome, directory=context.directory)
        previous = stored.get(session_id)
        if previous is None or previous.document != document:
            changes.append(
                _Change(
                    outcome,
                    document,
                    _last_heard(session_events, outcome, context.now),
                    previous,
                    _legacy_session_id(session_events, records),
                )
            )
    merged = [key for key in logs.merged if key in stored]
    if merged:
        log.info("processor.merged_call_log_only_sessions", sessions=merged)
        await queries.delete_outcomes(connection, merged)
        await rollup_queries.mark_dirty(connection, [stored[key].started_at for key in merged])
    if changes:
        await _write_changes(connection, changes, context.now)
    written = {change.outcome.telephony_session_id for change in changes}
    refreshed = {*merged, *written, *(session_ids if context.refresh_recoveries else ())}
    await refresh_recoveries(
        connection, refreshed, window=context.recovery_window, now=context.now, written=written
    )
    corrections = sum(
        change.outcome.reconciliation is Reconciliation.CALL_LOG_CORRECTED
        for change in changes
        if (
            change.previous is None
            or change.previous.reconciliation != change.outcome.reconciliation.value
        )
    )
    return Recomputed(changed=len(changes), corrections=corrections, failures=failures)


def _classify(
    session_events: list[PartyEvent],
    records: list[CallLogRecord],
    voicemails: list[OwnedVoicemail],
    context: ProcessingContext,
) -> Outcome | None:
    """The session's outcome from its events and records, or None when it has neither."""
    if session_events:
        last_heard = max(event.event_time for event in session_events)
        evidence = Evidence(
            voicemails=_relevant(voicemails, session_events),
            call_log=records,
            directory=context.directory,
            awaiting_call_log=not records and context.call_log.awaiting(last_heard),
        )
        return classify_events(
            session_events, now=context.now, evidence=evidence, thresholds=context.thresholds
        )
    if not records:
        return None
    return classify_call_log(
        records,
        now=context.now,
        evidence=Evidence(directory=context.directory),
        thresholds=context.thresholds,
    )


CLASSIFICATION_FAILED = "classification_failed"


def failed_outcome(
    session_id: str,
    session_events: list[PartyEvent],
    error: BaseException,
    context: ProcessingContext,
    *,
    from_events: bool | None = None,
    started_at: datetime | None = None,
) -> Outcome:
    """What is stored for a session the classifier failed on: `unknown` with the reason and gap
    `classification_failed` and the error in the evidence, so that
    `/v1/calls?reason=classification_failed` lists it and `callsift reclassify` tries it again
    (after a fix of the rules)."""
    times = [event.event_time for event in session_events]
    if started_at is not None:
        times.append(started_at)
    webhook = bool(session_events) if from_events is None else from_events
    extensions = sorted({e.extension_id for e in session_events if e.extension_id})
    values: dict[str, Any] = {
        "telephony_session_id": session_id,
        "direction": Direction.INBOUND,
        "category": Category.UNKNOWN,
        "reason": CLASSIFICATION_FAILED,
        "stage": Stage.UNKNOWN,
        "is_abandoned": False,
        "final": True,
        "started_at": min(times) if times else None,
        "answered_at": None,
        "ended_at": None,
        "ring_s": None,
        "wait_s": None,
        "talk_s": None,
        "hold_s": None,
        "voicemail_s": None,
        "time_to_abandon_s": None,
        "queue": None,
        "extension_ids": extensions,
        "from_number": None,
        "to_number": None,
        "evidence": [f"error:{type(error).__name__}: {str(error)[:200]}"],
        "data_gaps": [CLASSIFICATION_FAILED],
        "sources": [Source.WEBHOOK] if webhook else [Source.CALL_LOG],
        "reconciliation": Reconciliation.EVENTS_ONLY if webhook else Reconciliation.CALL_LOG_ONLY,
        "legs": [],
        "rules_version": RULES_VERSION,
        "thresholds": context.thresholds.as_dict(),
    }
    return Outcome.model_validate(values)


def _last_heard(session_events: list[PartyEvent], outcome: Outcome, now: datetime) -> datetime:
    """When the session was last heard of: its latest event, else its call log's end or start
    (else now)."""
    if session_events:
        return max(event.event_time for event in session_events)
    return outcome.ended_at or outcome.started_at or now


@dataclass(slots=True)
class _CallLogEvidence:
    by_session: dict[str, list[CallLogRecord]]
    merged: list[str]  # outcomes from the call log alone whose events have arrived since


async def _call_log_evidence(
    connection: AsyncConnection, events: dict[str, list[PartyEvent]]
) -> _CallLogEvidence:
    """The call-log records of each session: its own, and those carrying only an older
    `sessionId` of its events (a `session:<id>` outcome made from them before the events came
    is merged into the session)."""
    names = {key: session_names(found) if found else {key} for key, found in events.items()}
    legacy_of: dict[str, str] = {}
    for key, found in names.items():
        for name in found:
            if name.startswith("session:"):
                legacy_of[name.removeprefix("session:")] = key
    rows = await calllog_queries.records_for(
        connection, session_keys=events.keys(), legacy_ids=legacy_of.keys()
    )
    by_session: dict[str, list[CallLogRecord]] = {}
    merged: set[str] = set()
    for count, row in enumerate(rows, start=1):
        if count % YIELD_EVERY_RECORDS == 0:
            await asyncio.sleep(0)
        target = row.session_key if row.session_key in events else None
        if row.session_id is not None and not row.telephony_session_id:
            owner = legacy_of.get(row.session_id)
            if owner is not None and owner != row.session_key:
                target = owner
                merged.add(row.session_key)
        if target is None:
            continue
        try:
            by_session.setdefault(target, []).append(CallLogRecord.model_validate_json(row.payload))
        except ValidationError as exc:
            log.warning("processor.unreadable_call_log_record", record_id=row.record_id,
                        error=str(exc.errors()[0]["msg"]))  # fmt: skip
    return _CallLogEvidence(by_session, sorted(merged))


def is_poison(error: BaseException) -> bool:
    """Whether a failed claim failed for what it held (a value the database refuses, a date our
    arithmetic cannot hold), so that the rows are worth isolating. A database that is down,
    timed out, rolled back (deadlock, serialization) or lacks its schema fails every row alike:
    that is waited for, and nothing is set aside."""
    if is_refused_value(error):
        return True
    database_side = sqlalchemy_exc.SQLAlchemyError | PostgresError | InterfaceError
    return not isinstance(error, database_side | OSError | TimeoutError)


@dataclass(frozen=True, slots=True)
class SetAside:
    event_id: int | None
    session_id: str | None
    at: datetime | None  # the set-aside event's time


async def set_aside_oldest(
    connection: AsyncConnection,
    *,
    context: ProcessingContext,
    error: BaseException,
    take_event: bool,
) -> SetAside:
    """The oldest unprocessed event (or else queued call-log record), which failed even alone:
    mark it done so everything after it is processed; its session is then stored as
    `classification_failed` with the error (`callsift reclassify` tries it again)."""
    events = await queries.claim_unprocessed(connection, 1) if take_event else []
    records = [] if take_event else await calllog_queries.claim_unprocessed(connection, 1)
    await queries.mark_processed(connection, [event.id for event in events])
    await calllog_queries.mark_processed(connection, records)
    event = events[0] if events else None
    record = records[0] if records else None
    session_id = (event.telephony_session_id if event else None) or (
        record.session_key if record else None
    )
    log.error(
        "processor.set_aside",
        event_id=event.id if event else None,
        record_id=record.record_id if record else None,
        session=session_id,
        error=repr(error),
    )
    return SetAside(
        event.id if event else None,
        session_id,
        event.event_time if event else None,
    )


async def record_failure(
    connection: AsyncConnection,
    aside: SetAside,
    *,
    context: ProcessingContext,
    error: BaseException,
) -> None:
    """Store the `classification_failed` outcome of a session that was set aside."""
    assert aside.session_id is not None
    session_id = aside.session_id
    stored = await queries.stored_outcomes(connection, [session_id])
    outcome = failed_outcome(
        session_id,
        [],
        error,
        context,
        from_events=aside.event_id is not None,
        started_at=aside.at,
    )
    change = _Change(
        outcome,
        outcome_document(outcome, directory=context.directory),
        context.now,
        stored.get(session_id),
        None,
    )
    await _write_changes(connection, [change], context.now)


async def close_stale_sessions(
    connection: AsyncConnection, *, context: ProcessingContext, limit: int
) -> int:
    """Reclassify open sessions silent for longer than the stale threshold (they close as
    `unknown` with `no_final_event`); returns how many outcomes changed."""
    before = context.now - timedelta(seconds=context.thresholds.session_stale_after_s)
    stale = await queries.open_sessions_silent_since(connection, before, limit)
    return (await recompute(connection, stale, context=context)).changed


async def settle_awaiting_sessions(
    connection: AsyncConnection, *, context: ProcessingContext, limit: int
) -> Recomputed:
    """Reclassify sessions still waiting for a call-log record that the sync has read past
    without finding one (they become `events_only`)."""
    before = context.call_log.settled_before(context.now)
    if before is None:
        return Recomputed()
    waiting = await queries.sessions_awaiting_call_log(connection, before, limit)
    return await recompute(connection, waiting, context=context)


async def _note_subscription_activity(
    connection: AsyncConnection, claimed: list[queries.ClaimedEvent], now: datetime
) -> None:
    """Renewal reminders make their subscription due; every event moves its extension's
    last-event time (shown in the extension health)."""
    reminders = [event.id for event in claimed if event.kind == "reminder"]
    if reminders:
        subscription_ids = await ringcentral_queries.recent_reminder_subscriptions(
            connection, reminders
        )
        await ringcentral_queries.request_renewal(connection, subscription_ids, now)
    last_seen: dict[str, datetime] = {}
    for event in claimed:
        if event.extension_id:
            seen = last_seen.get(event.extension_id)
            last_seen[event.extension_id] = (
                max(seen, event.received_at) if seen else event.received_at
            )
    await ringcentral_queries.touch_last_event(connection, last_seen)


def outcome_document(outcome: Outcome, *, directory: Mapping[str, DirectoryEntry]) -> str:
    """The stored JSON of an outcome, keys sorted: everything the classifier decided, and what
    people read it by: `category_label`, the directory's `names` of its extensions and each
    leg's `name` (as the directory had them when the outcome was last written)."""
    content = outcome.model_dump(mode="json", exclude=set(STORAGE_FIELDS))
    content["category_label"] = CATEGORY_LABELS[outcome.category]
    names = {}
    for extension_id in {*outcome.extension_ids, *(leg.extension_id for leg in outcome.legs)}:
        entry = directory.get(extension_id) if extension_id else None
        name = entry.display_name if entry is not None else None
        if extension_id and name:
            names[extension_id] = name
    content["names"] = names
    for leg in content["legs"]:
        leg["name"] = names.get(leg["extension_id"])
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True, slots=True)
class _Change:
    """An outcome to store: it is new, or its content changed."""

    outcome: Outcome
    document: str
    last_event_at: datetime
    previous: queries.StoredOutcome | None
    legacy_session_id: str | None


async def _write_changes(
    connection: AsyncConnection, changes: list[_Change], now: datetime
) -> None:
    legs = [
        {
            "telephony_session_id": change.outcome.telephony_session_id,
            "party_id": _column(leg.party_id, 128),
            "extension_id": _column(leg.extension_id, 32),
            "outcome": leg.outcome.value,
            "started_at": change.outcome.started_at,
        }
        for change in changes
        for leg in change.outcome.legs
    ]
    await queries.replace_legs(
        connection,
        [change.outcome.telephony_session_id for change in changes if change.previous is not None],
        legs,
    )
    # the stats rollups of the quarters the calls were and are in are stale from this commit on
    await rollup_queries.mark_dirty(
        connection,
        [change.outcome.started_at for change in changes]
        + [change.previous.started_at for change in changes if change.previous is not None],
    )
    rows = [_outcome_row(change, now) for change in changes]
    # Last: the change numbers' row stays locked until commit, and other claims wait for it.
    first_seq = await queries.take_change_seqs(connection, len(changes))
    for offset, row in enumerate(rows):
        row["change_seq"] = first_seq + offset
    await queries.upsert_outcomes(connection, rows)


def _outcome_row(change: _Change, now: datetime) -> dict[str, Any]:
    """The outcome's row, but for its `change_seq` (taken last: see `_write_changes`)."""
    outcome, previous = change.outcome, change.previous
    return {
        "telephony_session_id": outcome.telephony_session_id,
        "direction": outcome.direction.value,
        "category": outcome.category.value,
        "reason": _column(outcome.reason, 64),
        "stage": outcome.stage.value,
        "is_abandoned": outcome.is_abandoned,
        "ever_abandoned": outcome.is_abandoned
        or (previous is not None and previous.ever_abandoned),
        "final": outcome.final,
        "started_at": outcome.started_at,
        "answered_at": outcome.answered_at,
        "ended_at": outcome.ended_at,
        "ring_s": outcome.ring_s,
        "wait_s": outcome.wait_s,
        "talk_s": outcome.talk_s,
        "hold_s": outcome.hold_s,
        "voicemail_s": outcome.voicemail_s,
        "time_to_abandon_s": outcome.time_to_abandon_s,
        "queue": _column(outcome.queue, 255),
        "from_number": _column(outcome.from_number, 64),
        "to_number": _column(outcome.to_number, 64),
        "rules_version": outcome.rules_version,
        "document": change.document,
        "revision": previous.revision + 1 if previous else 1,
        "created_at": previous.created_at if previous else now,
        "updated_at": now,
        "last_event_at": change.last_event_at,
        "sources": ",".join(source.value for source in outcome.sources),
        "reconciliation": outcome.reconciliation.value,
        "session_id": change.legacy_session_id,
        "caller_key": caller_key_of(outcome),
    }


def _column(value: str | None, length: int) -> str | None:
    """A value as its column can hold it: without NUL (PostgreSQL refuses it) and cut to the
    column's length. The outcome's document keeps the value as it was."""
    if value is None:
        return None
    return value.replace("\x00", "")[:length]


def _legacy_session_id(events: list[PartyEvent], records: list[CallLogRecord]) -> str | None:
    """The session's older `sessionId`, by which records that carry only it find the session."""
    found = next((event.session_id for event in events if event.session_id), None)
    if found is None:
        found = next((record.session_id for record in records if record.session_id), None)
    return _column(found, 64) if found else None


def _party_events(session_id: str, payloads: list[str]) -> list[PartyEvent]:
    events: list[PartyEvent] = []
    for payload in payloads:
        parsed = party_events_from_envelope(orjson.loads(payload))
        if isinstance(parsed, ParseError):
            log.warning("processor.unreadable_event", session=session_id, error=parsed.message)
            continue
        events.extend(parsed)
    return events


async def _voicemail_evidence(
    connection: AsyncConnection, sessions: Iterable[list[PartyEvent]]
) -> list[OwnedVoicemail]:
    extension_ids: set[str] = set()
    earliest: datetime | None = None
    latest: datetime | None = None
    for session_events in sessions:
        for event in session_events:
            if event.extension_id:
                extension_ids.add(event.extension_id)
            earliest = min(earliest, event.event_time) if earliest else event.event_time
            latest = max(latest, event.event_time) if latest else event.event_time
    if not extension_ids or earliest is None or latest is None:
        return []
    rows = await queries.voicemail_payloads(
        connection,
        extension_ids,
        created_from=shifted(earliest, -VOICEMAIL_LOOKAHEAD),
        created_to=shifted(latest, VOICEMAIL_LOOKBACK),
    )
    voicemails: list[OwnedVoicemail] = []
    for extension_id, payload in rows:
        try:
            voicemails.extend(voicemail_evidence(orjson.loads(payload), extension_id))
        except (ValueError, TypeError) as exc:  # orjson's decode error is a ValueError
            log.warning("processor.unreadable_voicemail", error=str(exc))
    return voicemails


def _relevant(
    voicemails: list[OwnedVoicemail], session_events: list[PartyEvent]
) -> list[OwnedVoicemail]:
    extensions = {event.extension_id for event in session_events if event.extension_id}
    return [voicemail for voicemail in voicemails if voicemail.extension_id in extensions]
