"""Telephony-session notifications -> flat party events, the classifier's only input shape.

A RingCentral notification carries one (sometimes several) party snapshots. This module turns
each snapshot into a `PartyEvent`: a plain slotted object with the few fields the rules read,
status codes normalised case-insensitively (`VoiceMail`/`Voicemail`, `VoiceMailScreening`/
`VMScreening`), reasons kept raw beside a normalised `ReasonKind`, and times in UTC.

Two ways in, with the same result:
- `party_events(notification)` from a validated `TelephonySessionNotification` model;
- `party_events_from_envelope(raw)` straight from the decoded JSON (no pydantic validation),
  for callers that re-read stored events on every classification and cannot afford validation.

`parse_notification` accepts arbitrary JSON (text, bytes or decoded) and returns either the
validated model or a `ParseError`; no exception escapes it for bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from classifiers.payloads import (
    TelephonySessionNotification,
    is_telephony_event,
)


class StatusCode(StrEnum):
    """Party status codes (`CallStatusInfo.code`), spelled as in the OpenAPI spec."""

    SETUP = "Setup"
    PROCEEDING = "Proceeding"
    ANSWERED = "Answered"
    HOLD = "Hold"
    PARKED = "Parked"
    VOICEMAIL = "VoiceMail"
    VOICEMAIL_SCREENING = "VoiceMailScreening"
    FAX_RECEIVE = "FaxReceive"
    TDS = "Tds"
    DISCONNECTED = "Disconnected"
    GONE = "Gone"
    OTHER = "Other"  # a code we do not know; the raw string is kept on the event


_Kind = TypeVar("_Kind", bound=StrEnum)

_STATUS_BY_KEY: dict[str, StatusCode] = {
    code.value.lower(): code for code in StatusCode if code is not StatusCode.OTHER
}
_STATUS_BY_KEY["vmscreening"] = StatusCode.VOICEMAIL_SCREENING
_STATUS_EXACT: dict[str, StatusCode] = {code.value: code for code in StatusCode}
del _STATUS_EXACT[StatusCode.OTHER.value]  # "Other" is no RingCentral code: keep it raw

TERMINAL_STATUSES = frozenset({StatusCode.DISCONNECTED, StatusCode.GONE})
VOICEMAIL_STATUSES = frozenset({StatusCode.VOICEMAIL, StatusCode.VOICEMAIL_SCREENING})
ON_HOLD_STATUSES = frozenset({StatusCode.HOLD, StatusCode.PARKED})


def _matched(
    raw: str | None, exact: Mapping[str, _Kind], lowered: Mapping[str, _Kind], *, absent: _Kind
) -> _Kind | None:
    """`raw` looked up as written, then case-insensitively; `absent` when there is none, None
    when it is not in the tables."""
    if not raw:
        return absent
    found = exact.get(raw)
    return found if found is not None else lowered.get(raw.lower())


def status_from_code(code: str | None) -> StatusCode:
    """The status for a raw `status.code`, matched case-insensitively; unknown -> OTHER."""
    status = _matched(code, _STATUS_EXACT, _STATUS_BY_KEY, absent=StatusCode.OTHER)
    return StatusCode.OTHER if status is None else status


class ReasonKind(StrEnum):
    """What a `status.reason` means for the outcome. The raw reason is always kept too."""

    NONE = "none"  # no reason or `Cancelled`: an ordinary hang-up
    HANDOFF = "handoff"  # the call moved on: transfers, IVR redirects, park, conference
    ANSWERED_ELSEWHERE = "answered_elsewhere"  # Pickup, AgentAnswered
    NO_ANSWER = "no_answer"  # Timeout, NoAnswer
    BUSY_OR_REJECTED = "busy_or_rejected"  # TargetBusy, Rejected, CallReplied
    CLOSED = "closed"  # CallFinished
    EXIT_KEY = "exit_key"  # DtmfTransfer
    FAILURE = "failure"  # InvalidNumber, InternalError, NoSuchUser, ...
    VOICEMAIL = "voicemail"  # Voicemail
    OTHER = "other"  # undocumented or unknown (kept raw, a data gap; never decisive on its own)


# Reasons as RingCentral spells them (SPEC `CallStatusInfo.reason`, plus values seen in the field),
# read as RingCentral documents them (docs/outcomes.md section 12, "Status reasons").
# `AgentDropped`, `CallDropped` (in the spec, never described) and `Undefined` (seen in the field,
# which RingCentral staff could not explain) have no documented reading: OTHER, never guessed at.
_REASONS_EXACT: dict[str, ReasonKind] = {
    "Cancelled": ReasonKind.NONE,
    "BlindTransfer": ReasonKind.HANDOFF,
    "RccTransfer": ReasonKind.HANDOFF,
    "AttendedTransfer": ReasonKind.HANDOFF,
    "CallerInputRedirect": ReasonKind.HANDOFF,
    "CallRedirected": ReasonKind.HANDOFF,
    "CallFlip": ReasonKind.HANDOFF,
    "CallSwitch": ReasonKind.HANDOFF,
    "ParkLocation": ReasonKind.HANDOFF,
    "CallPark": ReasonKind.HANDOFF,
    "TakeOver": ReasonKind.HANDOFF,
    "Supervising": ReasonKind.HANDOFF,
    "Conference": ReasonKind.HANDOFF,
    "Pickup": ReasonKind.ANSWERED_ELSEWHERE,
    "AgentAnswered": ReasonKind.ANSWERED_ELSEWHERE,
    "Timeout": ReasonKind.NO_ANSWER,
    "NoAnswer": ReasonKind.NO_ANSWER,
    "TargetBusy": ReasonKind.BUSY_OR_REJECTED,
    "Rejected": ReasonKind.BUSY_OR_REJECTED,
    "CallReplied": ReasonKind.BUSY_OR_REJECTED,
    "CallFinished": ReasonKind.CLOSED,
    "DtmfTransfer": ReasonKind.EXIT_KEY,
    "InvalidNumber": ReasonKind.FAILURE,
    "InternalError": ReasonKind.FAILURE,
    "NoSuchUser": ReasonKind.FAILURE,
    "DestinationBlocked": ReasonKind.FAILURE,
    "NotEnoughFunds": ReasonKind.FAILURE,
    "InternationalDisabled": ReasonKind.FAILURE,
    "Voicemail": ReasonKind.VOICEMAIL,
}
_REASONS = {name.lower(): kind for name, kind in _REASONS_EXACT.items()}


def reason_kind(reason: str | None) -> ReasonKind:
    """The meaning of a raw `status.reason`, matched case-insensitively."""
    kind = _matched(reason, _REASONS_EXACT, _REASONS, absent=ReasonKind.NONE)
    return ReasonKind.OTHER if kind is None else kind


@dataclass(slots=True)
class PartyEvent:
    """One party snapshot of one notification, flattened for the rules."""

    uuid: str
    telephony_session_id: str
    sequence: int
    event_time: datetime  # timezone-aware, UTC
    ts: float  # event_time as POSIX seconds, for arithmetic
    party_id: str
    extension_id: str | None
    direction: str  # "inbound" / "outbound" from the party's own view, or "" if absent
    status: StatusCode
    status_raw: str
    reason: str | None
    reason_kind: ReasonKind
    missed_call: bool
    queue_call: bool
    from_number: str | None
    from_extension_id: str | None
    to_number: str | None
    to_name: str | None
    to_extension_id: str | None
    queue_name: str | None  # `uiCallInfo` QueueName value
    session_id: str | None  # the older `sessionId` (call-log records may carry only this one)
    origin: str | None = None  # `origin.type` of the session (`Call`, `RingOut`, ...), as sent


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why some input could not be read as a telephony-session notification."""

    message: str


def to_utc(moment: datetime) -> datetime:
    """`moment` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_notification(raw: Any) -> TelephonySessionNotification | ParseError:
    """Validate arbitrary JSON (str, bytes or decoded) as a telephony-session notification."""
    if isinstance(raw, str | bytes | bytearray | memoryview):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return ParseError(f"not JSON: {exc}")
    if isinstance(raw, TelephonySessionNotification):
        return raw
    if not isinstance(raw, Mapping):
        return ParseError(f"not a notification envelope: a JSON {type(raw).__name__}")
    event = raw.get("event")
    if not isinstance(event, str) or not is_telephony_event(event):
        return ParseError(f"not a telephony-session notification: event={event!r:.120}")
    try:
        return TelephonySessionNotification.model_validate(raw)
    except ValidationError as exc:
        return ParseError(f"bad telephony-session notification: {_first_error(exc)}")
    except (TypeError, ValueError, RecursionError) as exc:  # pathological input (deep nesting)
        return ParseError(f"bad telephony-session notification: {exc}")


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def party_events(notification: TelephonySessionNotification) -> list[PartyEvent]:
    """The party events of a validated notification (one per party it carries)."""
    body = notification.body
    event_time = to_utc(body.event_time)
    ts = event_time.timestamp()
    uuid, session_id, sequence = notification.uuid, body.telephony_session_id, body.sequence
    legacy_id = body.session_id or None
    origin = (body.origin.type or None) if body.origin is not None else None
    events: list[PartyEvent] = []
    for party in body.parties:
        status = party.status
        code = status.code
        reason = status.reason
        from_ = party.from_
        to = party.to
        ui = party.ui_call_info
        primary = ui.primary if ui is not None else None
        owner = party.owner
        extension_id = party.extension_id or (owner.extension_id if owner is not None else None)
        # Positional arguments, in PartyEvent's field order: this runs for every event of every
        # re-classification, and keyword arguments cost half again as much.
        events.append(
            PartyEvent(
                uuid,
                session_id,
                sequence,
                event_time,
                ts,
                party.id,
                extension_id or None,
                _direction(party.direction),
                _STATUS_EXACT.get(code) or status_from_code(code),
                code,
                reason,
                _REASONS_EXACT.get(reason) or reason_kind(reason) if reason else ReasonKind.NONE,
                party.missed_call is True,
                party.queue_call is True,
                from_.phone_number if from_ is not None else None,
                (from_.extension_id or None) if from_ is not None else None,
                to.phone_number if to is not None else None,
                to.name if to is not None else None,
                (to.extension_id or None) if to is not None else None,
                _queue_name(primary.type, primary.value) if primary is not None else None,
                legacy_id,
                origin,
            )
        )
    return events


_DIRECTIONS = {"Inbound": "inbound", "Outbound": "outbound"}


def _direction(direction: object) -> str:
    if not isinstance(direction, str):
        return ""
    return _DIRECTIONS.get(direction) or direction.lower()


def _queue_name(kind: object, value: object) -> str | None:
    if isinstance(kind, str) and kind.lower() == "queuename" and isinstance(value, str):
        return value or None
    return None


def party_events_from_envelope(raw: object) -> list[PartyEvent] | ParseError:
    """The party events of a decoded notification, read without pydantic validation.

    Gives the same events as `party_events(TelephonySessionNotification.model_validate(raw))`
    for well-formed input; malformed fields become None/defaults, and a notification without a
    session id, sequence, event time or party ids is a `ParseError`.
    """
    if not isinstance(raw, Mapping):
        return ParseError(f"not a notification envelope: a {type(raw).__name__}")
    body = raw.get("body")
    if not isinstance(body, dict):
        return ParseError("no notification body")
    session_id = body.get("telephonySessionId")
    sequence = _as_int(body.get("sequence"))
    event_time = _as_datetime(body.get("eventTime"))
    parties = body.get("parties", [])
    if not isinstance(session_id, str) or not session_id:
        return ParseError("body.telephonySessionId missing")
    if sequence is None:
        return ParseError("body.sequence missing or not an integer")
    if event_time is None:
        return ParseError("body.eventTime missing or not a date-time")
    if not isinstance(parties, list):
        return ParseError("body.parties is not a list")
    uuid = raw.get("uuid")
    uuid = uuid if isinstance(uuid, str) else ""
    legacy_id = _as_str(body.get("sessionId")) or None
    origin = _as_str(_mapping(body.get("origin")).get("type")) or None
    ts = event_time.timestamp()
    events: list[PartyEvent] = []
    for party in parties:
        if not isinstance(party, dict) or not isinstance(party.get("id"), str):
            return ParseError("a party without an id")
        event = _event_from_mapping(party, uuid, session_id, sequence, event_time, ts, legacy_id)
        event.origin = origin
        events.append(event)
    return events


def _event_from_mapping(
    party: dict[str, Any],
    uuid: str,
    session_id: str,
    sequence: int,
    event_time: datetime,
    ts: float,
    legacy_id: str | None,
) -> PartyEvent:
    status = _mapping(party.get("status"))
    from_ = _mapping(party.get("from"))
    to = _mapping(party.get("to"))
    primary = _mapping(_mapping(party.get("uiCallInfo")).get("primary"))
    code = _as_str(status.get("code")) or ""
    reason = _as_str(status.get("reason"))
    # Positional arguments in PartyEvent's field order (see `party_events`).
    return PartyEvent(
        uuid,
        session_id,
        sequence,
        event_time,
        ts,
        party["id"],
        _as_str(party.get("extensionId"))
        or _as_str(_mapping(party.get("owner")).get("extensionId"))
        or None,
        _direction(party.get("direction")),
        status_from_code(code),
        code,
        reason,
        reason_kind(reason),
        party.get("missedCall") is True,
        party.get("queueCall") is True,
        _as_str(from_.get("phoneNumber")),
        _as_str(from_.get("extensionId")) or None,
        _as_str(to.get("phoneNumber")),
        _as_str(to.get("name")),
        _as_str(to.get("extensionId")) or None,
        _queue_name(primary.get("type"), primary.get("value")),
        legacy_id,
    )


_EMPTY: Mapping[str, Any] = {}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else _EMPTY


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _as_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _as_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return to_utc(datetime.fromisoformat(value))
    except ValueError:
        return None
