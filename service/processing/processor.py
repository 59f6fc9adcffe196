"""Recompute call outcomes from stored events, in batches (DESIGN.md section 2).

Every touched session is rebuilt from ALL of its stored events, so duplicates, reordering and late
events converge to the same outcome. An outcome row is written only when its content changed; a
change bumps `revision`, `updated_at` and takes the next number of the change counter that the
dashboard poll follows. The caller owns the transaction (a worker job or a CLI chunk).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers import (
    DirectoryEntry,
    Evidence,
    Outcome,
    OwnedVoicemail,
    ParseError,
    PartyEvent,
    Thresholds,
    classify_events,
    party_events_from_envelope,
)
from classifiers.payloads import VoicemailNotification
from service.processing import queries
from service.ringcentral import queries as ringcentral_queries

log = structlog.get_logger(__name__)

VOICEMAIL_LOOKBACK = timedelta(hours=2)
VOICEMAIL_LOOKAHEAD = timedelta(hours=2)
STORAGE_FIELDS = frozenset({"revision", "updated_at"})
# The processor runs in the service's event loop: between this many sessions it lets the webhook
# and the API run, so a batch of hundreds of sessions never holds them up for its whole length.
YIELD_EVERY_SESSIONS = 16


@dataclass(frozen=True, slots=True)
class ProcessingContext:
    """What one processing job classifies with; `now` is read once, at the job's boundary."""

    now: datetime
    thresholds: Thresholds
    directory: Mapping[str, DirectoryEntry]


@dataclass(frozen=True, slots=True)
class BatchStats:
    events: int = 0
    sessions: int = 0
    changed: int = 0
    oldest_received_at: datetime | None = None


async def process_new_events(
    connection: AsyncConnection, *, context: ProcessingContext, batch_size: int
) -> BatchStats:
    """Claim up to `batch_size` unprocessed events (marked done in the same statement, final
    when the caller commits), recompute what they touch."""
    claimed = await queries.claim_unprocessed(connection, batch_size)
    if not claimed:
        return BatchStats()
    sessions = {
        event.telephony_session_id
        for event in claimed
        if event.kind == "telephony" and event.telephony_session_id
    }
    for event in claimed:
        if event.kind == "voicemail" and event.extension_id and event.event_time:
            sessions.update(
                await queries.sessions_awaiting_voicemail(
                    connection,
                    event.extension_id,
                    started_from=event.event_time - VOICEMAIL_LOOKAHEAD,
                    started_to=event.event_time + VOICEMAIL_LOOKBACK,
                )
            )
    changed = await recompute_sessions(connection, sessions, context=context)
    await _note_subscription_activity(connection, claimed, context.now)
    await queries.mark_processed(connection, [event.id for event in claimed], context.now)
    return BatchStats(
        events=len(claimed),
        sessions=len(sessions),
        changed=changed,
        oldest_received_at=min(event.received_at for event in claimed),
    )


async def recompute_sessions(
    connection: AsyncConnection, session_ids: Collection[str], *, context: ProcessingContext
) -> int:
    """Reclassify sessions from all their stored events; returns how many outcomes changed."""
    if not session_ids:
        return 0
    await queries.lock_sessions(connection, session_ids)
    payloads = await queries.session_payloads(connection, session_ids)
    events: dict[str, list[PartyEvent]] = {}
    for count, (session_id, raw) in enumerate(payloads.items(), start=1):
        events[session_id] = _party_events(session_id, raw)
        if count % YIELD_EVERY_SESSIONS == 0:
            await asyncio.sleep(0)
    voicemails = await _voicemail_evidence(connection, events.values())
    stored = await queries.stored_outcomes(connection, session_ids)
    changes: list[tuple[Outcome, str, datetime, queries.StoredOutcome | None]] = []
    for count, (session_id, session_events) in enumerate(events.items(), start=1):
        if count % YIELD_EVERY_SESSIONS == 0:
            await asyncio.sleep(0)
        if not session_events:
            continue
        evidence = Evidence(
            voicemails=_relevant(voicemails, session_events), directory=context.directory
        )
        outcome = classify_events(
            session_events, now=context.now, evidence=evidence, thresholds=context.thresholds
        )
        document = outcome_document(outcome)
        previous = stored.get(session_id)
        if previous is None or previous.document != document:
            last_event_at = max(event.event_time for event in session_events)
            changes.append((outcome, document, last_event_at, previous))
    if changes:
        await _write_changes(connection, changes, context.now)
    return len(changes)


async def close_stale_sessions(
    connection: AsyncConnection, *, context: ProcessingContext, limit: int
) -> int:
    """Reclassify open sessions silent for longer than the stale threshold (they close as
    `unknown` with `no_final_event`); returns how many outcomes changed."""
    before = context.now - timedelta(seconds=context.thresholds.session_stale_after_s)
    stale = await queries.open_sessions_silent_since(connection, before, limit)
    return await recompute_sessions(connection, stale, context=context)


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


def outcome_document(outcome: Outcome) -> str:
    """The stored JSON of an outcome: everything the classifier decided, keys sorted."""
    content = outcome.model_dump(mode="json", exclude=set(STORAGE_FIELDS))
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()


async def _write_changes(
    connection: AsyncConnection,
    changes: list[tuple[Outcome, str, datetime, queries.StoredOutcome | None]],
    now: datetime,
) -> None:
    first_seq = await queries.take_change_seqs(connection, len(changes))
    rows: list[dict[str, Any]] = []
    legs: list[dict[str, Any]] = []
    for offset, (outcome, document, last_event_at, previous) in enumerate(changes):
        rows.append(
            _outcome_row(outcome, document, last_event_at, previous, now, first_seq + offset)
        )
        legs.extend(
            {
                "telephony_session_id": outcome.telephony_session_id,
                "party_id": leg.party_id,
                "extension_id": leg.extension_id,
                "outcome": leg.outcome.value,
                "started_at": outcome.started_at,
            }
            for leg in outcome.legs
        )
    await queries.upsert_outcomes(connection, rows)
    await queries.replace_legs(
        connection, [change[0].telephony_session_id for change in changes], legs
    )


def _outcome_row(
    outcome: Outcome,
    document: str,
    last_event_at: datetime,
    previous: queries.StoredOutcome | None,
    now: datetime,
    change_seq: int,
) -> dict[str, Any]:
    return {
        "telephony_session_id": outcome.telephony_session_id,
        "direction": outcome.direction.value,
        "category": outcome.category.value,
        "reason": outcome.reason,
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
        "queue": outcome.queue,
        "from_number": outcome.from_number,
        "to_number": outcome.to_number,
        "rules_version": outcome.rules_version,
        "document": document,
        "revision": previous.revision + 1 if previous else 1,
        "created_at": previous.created_at if previous else now,
        "updated_at": now,
        "change_seq": change_seq,
        "last_event_at": last_event_at,
    }


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
        created_from=earliest - VOICEMAIL_LOOKAHEAD,
        created_to=latest + VOICEMAIL_LOOKBACK,
    )
    voicemails = []
    for extension_id, payload in rows:
        try:
            notification = VoicemailNotification.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("processor.unreadable_voicemail", error=str(exc.errors()[0]["msg"]))
            continue
        voicemails.append(OwnedVoicemail(extension_id=extension_id, message=notification.body))
    return voicemails


def _relevant(
    voicemails: list[OwnedVoicemail], session_events: list[PartyEvent]
) -> list[OwnedVoicemail]:
    extensions = {event.extension_id for event in session_events if event.extension_id}
    return [voicemail for voicemail in voicemails if voicemail.extension_id in extensions]
