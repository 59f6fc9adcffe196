"""Offline classification of notification dumps, for the `callsift classify` command.

Input is JSON Lines, one notification envelope per line exactly as RingCentral POSTs it.
Telephony-session lines are grouped by `telephonySessionId` and classified; `/voicemail` and
`/message-store` lines become voicemail evidence (`classifiers.evidence`); any other envelope
(presence, renewal reminders, ...) is read and skipped, with the reason in
`ClassifiedLines.skipped`; blank lines are ignored. Two other shapes people hold are read too
(`ClassifiedLines.notes` says so):
- a notification inside the mobile-push wrapper RingCentral's docs print (`{pn_apns: {event,
  body, ...}}`): the notification inside is read;
- a REST session snapshot (`GET /telephony/sessions/{id}`: `{id, creationTime, origin,
  parties}`, the party's extension under `owner`): read as one event at `creationTime` (the
  only time it carries), numbered in the order the snapshots of a session are given.
Call-log records join the session they are about (by `telephonySessionId`, else by the older
`sessionId` of its events); records of a session with no events give an outcome of their own.

The loaders read the optional evidence files from their content (this package does no I/O):
- call log: a JSON array of records, a call-log API response `{records: [...]}` (or an array of
  such responses), or JSON Lines of records;
- directory: RingCentral's extension list `{records: [{id, name, type}]}`, or a plain JSON object
  mapping an extension id to its kind (or to `{type|kind, name}`).
They raise ValueError with a message saying what is wrong and where.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from classifiers.calllog import session_key, sessions_of
from classifiers.classify import (
    DEFAULT_THRESHOLDS,
    classify_call_log,
    classify_events,
    session_names,
)
from classifiers.events import ParseError, parse_notification, party_events
from classifiers.evidence import is_voicemail_evidence, voicemail_evidence
from classifiers.outcome import (
    DirectoryEntry,
    Evidence,
    Outcome,
    OwnedVoicemail,
    Thresholds,
)
from classifiers.payloads import (
    CallLogRecord,
    TelephonySessionNotification,
    is_renewal_reminder,
    is_telephony_event,
)
from classifiers.snapshots import (
    SNAPSHOT_UUID_PREFIX,
    is_session_snapshot,
    notification_from_snapshot,
)


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line that was read and left out: what it was (`kind`) and why."""

    line: int
    kind: str
    why: str


@dataclass(slots=True)
class ClassifiedLines:
    """Outcomes ordered by `started_at` then session id; errors and notes as (1-based line,
    message); lines read but left out in `skipped`."""

    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    lines_read: int = 0


@dataclass(slots=True)
class _Session:
    first_line: int
    notifications: list[TelephonySessionNotification] = field(default_factory=list)


def classify_lines(
    lines: Iterable[str | bytes],
    *,
    now: datetime,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    directory: Mapping[str, DirectoryEntry] | None = None,
    call_log: Sequence[CallLogRecord] = (),
) -> ClassifiedLines:
    """Classify every telephony session found in JSON Lines of notification envelopes."""
    result = ClassifiedLines()
    sessions: dict[str, _Session] = {}
    voicemails: list[OwnedVoicemail] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        error = _read_line(line, number, sessions, voicemails, result)
        if error is None:
            result.lines_read += 1
        else:
            result.errors.append((number, error))
    log_index = _index_by_session(call_log)
    linked: set[str] = set()  # the names of every session with events
    for session_id, session in sessions.items():
        events = [event for item in session.notifications for event in party_events(item)]
        names = session_names(events) or {session_id}
        linked.update(names)
        evidence = Evidence(
            voicemails=_mailbox_messages(voicemails, session.notifications),
            call_log=_records_about(names, log_index, call_log),
            directory=directory or {},
        )
        try:
            outcome = classify_events(events, now=now, evidence=evidence, thresholds=thresholds)
        except ValueError as exc:
            result.errors.append((session.first_line, f"session {session_id}: {exc}"))
            continue
        result.outcomes.append(outcome)
    only_logged: dict[str, list[CallLogRecord]] = {}
    for record in call_log:
        key = session_key(record)
        if key not in linked:
            only_logged.setdefault(key, []).append(record)
    log_evidence = Evidence(directory=directory or {})
    for records in only_logged.values():
        result.outcomes.append(
            classify_call_log(records, now=now, evidence=log_evidence, thresholds=thresholds)
        )
    result.outcomes.sort(key=_outcome_order)
    return result


def _index_by_session(call_log: Sequence[CallLogRecord]) -> dict[str, list[int]]:
    """Session name -> the positions in the call log of the records about that session."""
    index: dict[str, list[int]] = {}
    for position, record in enumerate(call_log):
        for name in sessions_of(record):
            index.setdefault(name, []).append(position)
    return index


def _records_about(
    names: set[str], index: Mapping[str, list[int]], call_log: Sequence[CallLogRecord]
) -> list[CallLogRecord]:
    """The records about the session known by `names`, once each, in call-log order."""
    positions = sorted({position for name in names for position in index.get(name, ())})
    return [call_log[position] for position in positions]


def _read_line(
    line: str | bytes,
    number: int,
    sessions: dict[str, _Session],
    voicemails: list[OwnedVoicemail],
    result: ClassifiedLines,
) -> str | None:
    """File one line's envelope where it belongs; the error message if it cannot be read."""
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    if not isinstance(raw, dict):
        return "not a notification envelope (no `event`)"
    if not isinstance(raw.get("event"), str):
        unwrapped = _unwrapped(raw)
        if unwrapped is not None:
            raw = unwrapped
            result.notes.append((number, f"read the notification inside its {WRAPPER} wrapper"))
        elif is_session_snapshot(raw):
            sequence = sum(1 for _ in _snapshots_of(sessions, raw.get("id"))) + 1
            converted = notification_from_snapshot(raw, sequence)
            if isinstance(converted, ParseError):
                return converted.message
            raw = converted
            result.notes.append((number, "read a REST session snapshot as one event"))
        else:
            return "not a notification envelope (no `event`)"
    event: str = raw["event"]
    if is_telephony_event(event):
        parsed = parse_notification(raw)
        if not isinstance(parsed, TelephonySessionNotification):
            return parsed.message
        session_id = parsed.body.telephony_session_id
        sessions.setdefault(session_id, _Session(number)).notifications.append(parsed)
    elif is_voicemail_evidence(event):
        try:
            found = voicemail_evidence(raw)
        except ValueError as exc:
            return str(exc)
        if not found:
            why = "a message-store change with no new voicemail in it"
            result.skipped.append(Skipped(number, "message-store", why))
        voicemails.extend(found)
    else:
        kind, why = _other_kind(event)
        result.skipped.append(Skipped(number, kind, why))
    return None


WRAPPER = "mobile-push (`pn_apns`)"


def _unwrapped(raw: dict[str, Any]) -> dict[str, Any] | None:
    """The notification inside RingCentral's mobile-push (APNs) delivery shape, as its docs print
    it: `{uuid, subscriptionId, ownerId, pn_apns: {aps, uuid, event, timestamp, ..., body}}`."""
    inner = raw.get("pn_apns")
    if isinstance(inner, dict) and isinstance(inner.get("event"), str):
        return {key: value for key, value in inner.items() if key != "aps"}
    return None


def _snapshots_of(sessions: dict[str, _Session], session_id: object) -> Iterable[object]:
    session = sessions.get(session_id) if isinstance(session_id, str) else None
    if session is None:
        return ()
    return (n for n in session.notifications if n.uuid.startswith(SNAPSHOT_UUID_PREFIX))


def _other_kind(event: str) -> tuple[str, str]:
    """What a notification callsift does not classify is, and why it is left out."""
    path = event.split("?", 1)[0]
    if path.endswith("/presence"):
        return (
            "presence",
            "presence says only that an extension's phone rang or was busy, not what happened "
            "to the call: callsift classifies telephony-session events (`/telephony/sessions`)",
        )
    if is_renewal_reminder(event):
        return "reminder", "a subscription renewal reminder carries no call"
    return "other", f"not a telephony-session, voicemail or message-store notification ({path})"


def _mailbox_messages(
    voicemails: list[OwnedVoicemail], notifications: list[TelephonySessionNotification]
) -> list[OwnedVoicemail]:
    """The messages that could belong to the session: its extensions' mailboxes (or unknown)."""
    extensions = {
        party.extension_id for notification in notifications for party in notification.body.parties
    }
    return [vm for vm in voicemails if vm.extension_id is None or vm.extension_id in extensions]


def _outcome_order(outcome: Outcome) -> tuple[float, str]:
    started = outcome.started_at.timestamp() if outcome.started_at is not None else float("inf")
    return (started, outcome.telephony_session_id)


def _first_error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}"


# --- evidence files ----------------------------------------------------------------------------


def load_call_log(content: str | bytes) -> list[CallLogRecord]:
    """Call-log records from a JSON array, an API response, or JSON Lines of records."""
    if not content.strip():
        raise ValueError("call-log file is empty")
    try:
        data: Any = orjson.loads(content)
        items = _call_log_items(data, "call log")
    except orjson.JSONDecodeError:
        items = []
        for number, line in enumerate(_lines(content), start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"call log line {number} is not JSON: {exc}") from None
            items.extend(_call_log_items(value, f"call log line {number}"))
    records: list[CallLogRecord] = []
    for index, item in enumerate(items, start=1):
        try:
            records.append(CallLogRecord.model_validate(item))
        except ValidationError as exc:
            raise ValueError(f"call-log record {index}: {_first_error(exc)}") from None
    return records


def _call_log_items(data: Any, where: str) -> list[Any]:
    if isinstance(data, dict):
        if "records" in data:
            records = data["records"]
            if not isinstance(records, list):
                raise ValueError(f"{where}: `records` is not a list")
            return list(records)
        return [data]
    if isinstance(data, list):
        items: list[Any] = []
        for element in data:
            if isinstance(element, dict) and "records" in element:
                items.extend(_call_log_items(element, where))
            elif isinstance(element, dict):
                items.append(element)
            else:
                raise ValueError(
                    f"{where}: expected record objects, found a JSON value {element!r:.60}"
                )
        return items
    raise ValueError(f"{where}: expected a JSON array or object, found {type(data).__name__}")


def _lines(content: str | bytes) -> list[str | bytes]:
    return list(content.splitlines())


def load_directory(content: str | bytes) -> dict[str, DirectoryEntry]:
    """Extension id -> directory entry, from an extension list or an id -> kind object."""
    try:
        data: Any = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"directory is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("directory must be a JSON object ({records: [...]} or id -> kind)")
    if "records" in data:
        records = data["records"]
        if not isinstance(records, list):
            raise ValueError("directory: `records` is not a list")
        return dict(_directory_record(record, index) for index, record in enumerate(records, 1))
    return {str(key): _directory_value(key, value) for key, value in data.items()}


def _directory_record(record: Any, index: int) -> tuple[str, DirectoryEntry]:
    if not isinstance(record, dict):
        raise ValueError(f"directory record {index} is not an object")
    extension_id = record.get("id")
    kind = record.get("type")
    if not isinstance(extension_id, str | int) or isinstance(extension_id, bool):
        raise ValueError(f"directory record {index} has no `id`")
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"directory record {index} (id {extension_id}) has no `type`")
    name = record.get("name")
    return str(extension_id), DirectoryEntry(kind, name if isinstance(name, str) else None)


def _directory_value(key: str, value: Any) -> DirectoryEntry:
    if isinstance(value, str) and value:
        return DirectoryEntry(value)
    if isinstance(value, dict):
        kind = value.get("type", value.get("kind"))
        name = value.get("name")
        if isinstance(kind, str) and kind:
            return DirectoryEntry(kind, name if isinstance(name, str) else None)
    raise ValueError(f"directory entry {key!r}: expected a kind string or {{type, name}}")
