"""Read the few fields the ingest path needs from a notification body, without full validation.

The hot path stores the raw body as received; full parsing happens later in the processor. Here
we only find the dedupe key, the subscription, and the session keys the processor indexes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from classifiers.payloads import (
    extension_id_of_event,
    is_message_store_event,
    is_renewal_reminder,
    is_telephony_event,
    is_voicemail_event,
)

INT64_MAX = 2**63 - 1
MAX_ID_LENGTH = 128
# the lengths of the `raw_events` columns these fields are stored in
SUBSCRIPTION_ID_LENGTH = 64
OWNER_ID_LENGTH = 32
EXTENSION_ID_LENGTH = 32
# event times callsift accepts: anything else is no real call, and dates near the ends of the
# calendar break date arithmetic (time windows, UTC conversion)
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_EVENT = datetime(2100, 1, 1, tzinfo=UTC)


class EnvelopeError(ValueError):
    """The body is JSON we cannot store as an event; the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class IngestEnvelope:
    uuid: str
    event: str
    kind: str
    subscription_id: str | None
    owner_id: str | None
    extension_id: str | None
    telephony_session_id: str | None
    sequence: int | None
    party_id: str | None
    event_time: datetime | None

    def row(self, *, payload: str, received_at: datetime) -> dict[str, Any]:
        """The `raw_events` row for this envelope."""
        return {
            "uuid": self.uuid,
            "received_at": received_at,
            "subscription_id": self.subscription_id,
            "owner_id": self.owner_id,
            "extension_id": self.extension_id,
            "event": self.event,
            "kind": self.kind,
            "telephony_session_id": self.telephony_session_id,
            "sequence": self.sequence,
            "party_id": self.party_id,
            "event_time": self.event_time,
            "payload": payload,
        }


def loads(body: bytes) -> Any:
    """Parse JSON, raising EnvelopeError with orjson's message on failure."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        msg = f"body is not valid JSON: {exc}"
        raise EnvelopeError(msg) from exc


def subscription_id_of(document: Any) -> str | None:
    if isinstance(document, dict):
        value = document.get("subscriptionId")
        if isinstance(value, str) and value:
            return value
    return None


def read_envelope(document: Any) -> IngestEnvelope:
    """Extract the stored columns from a parsed notification; EnvelopeError names a bad field."""
    if not isinstance(document, dict):
        msg = "body must be a JSON object (a notification envelope)"
        raise EnvelopeError(msg)
    uuid = _required_string(document, "uuid")
    event = _required_string(document, "event", max_length=512)
    subscription_id = _optional_string(
        document, "subscriptionId", max_length=SUBSCRIPTION_ID_LENGTH
    )
    owner_id = _optional_string(document, "ownerId", max_length=OWNER_ID_LENGTH)
    if is_telephony_event(event):
        return _telephony_envelope(document, uuid, event, subscription_id, owner_id)
    body = document.get("body")
    extension_id = _extension_of(event)
    event_time = None
    if is_voicemail_event(event):
        kind = "voicemail"
        created = body.get("creationTime") if isinstance(body, dict) else None
        event_time = _timestamp(created, "body.creationTime")
    elif is_message_store_event(event) and isinstance(body, dict) and _has_new_voicemail(body):
        # voicemail evidence too (classifiers.evidence): a new message at `lastUpdated`
        kind = "voicemail"
        event_time = _timestamp(body.get("lastUpdated"), "body.lastUpdated")
        mailbox = body.get("extensionId")
        mailbox = str(mailbox) if isinstance(mailbox, str | int) else owner_id
        if extension_id is None and mailbox:
            extension_id = _storable(mailbox, "body.extensionId", EXTENSION_ID_LENGTH)
    else:
        kind = _other_kind(event)
    return IngestEnvelope(
        uuid, event, kind, subscription_id, owner_id, extension_id, None, None, None, event_time
    )


def _has_new_voicemail(body: Any) -> bool:
    """Whether a message-store notification's `changes` count a new voicemail."""
    changes = body.get("changes") if isinstance(body, dict) else None
    if not isinstance(changes, list):
        return False
    return any(
        isinstance(change, dict)
        and str(change.get("type", "")).lower() == "voicemail"
        and isinstance(change.get("newCount"), int)
        and change["newCount"] > 0
        for change in changes
    )


def _other_kind(event: str) -> str:
    return "reminder" if is_renewal_reminder(event) else "other"


def _telephony_envelope(
    document: dict[str, Any],
    uuid: str,
    event: str,
    subscription_id: str | None,
    owner_id: str | None,
) -> IngestEnvelope:
    body = document.get("body")
    if not isinstance(body, dict):
        msg = "field 'body' must be an object in a telephony-session notification"
        raise EnvelopeError(msg)
    session_id = _required_string(body, "telephonySessionId", prefix="body.")
    sequence = body.get("sequence")
    if (
        isinstance(sequence, bool)
        or not isinstance(sequence, int)
        or not 0 <= sequence <= INT64_MAX
    ):
        msg = "field 'body.sequence' must be a non-negative 64-bit integer"
        raise EnvelopeError(msg)
    event_time = _timestamp(body.get("eventTime"), "body.eventTime")
    parties = body.get("parties")
    party_id = None
    if isinstance(parties, list) and parties and isinstance(parties[0], dict):
        party_id = _optional_string(parties[0], "id", prefix="body.parties[0].")
    return IngestEnvelope(
        uuid,
        event,
        "telephony",
        subscription_id,
        owner_id,
        _extension_of(event),
        session_id,
        sequence,
        party_id,
        event_time,
    )


def _required_string(
    document: dict[str, Any], field: str, *, max_length: int = MAX_ID_LENGTH, prefix: str = ""
) -> str:
    value = document.get(field)
    if not isinstance(value, str) or not value:
        msg = f"field '{prefix}{field}' is missing or not a non-empty string"
        raise EnvelopeError(msg)
    return _storable(value, f"{prefix}{field}", max_length)


def _optional_string(
    document: dict[str, Any], field: str, *, max_length: int = MAX_ID_LENGTH, prefix: str = ""
) -> str | None:
    value = document.get(field)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        msg = f"field '{prefix}{field}' must be a string of at most {max_length} characters"
        raise EnvelopeError(msg)
    return _storable(value, f"{prefix}{field}", max_length) or None


def _storable(value: str, field: str, max_length: int) -> str:
    """`value` if its column can hold it: at most `max_length` characters, no NUL (PostgreSQL
    text cannot hold one)."""
    if len(value) > max_length:
        msg = f"field '{field}' is longer than {max_length} characters"
        raise EnvelopeError(msg)
    if "\x00" in value:
        msg = f"field '{field}' contains a NUL character"
        raise EnvelopeError(msg)
    return value


def storable_or_none(value: str | None, max_length: int) -> str | None:
    """`value` if a column of `max_length` can hold it, else None (for quarantined bodies,
    which are kept whatever their fields hold)."""
    if value is None or len(value) > max_length or "\x00" in value:
        return None
    return value


def _extension_of(event: str) -> str | None:
    extension_id = extension_id_of_event(event)
    if extension_id is None:
        return None
    return _storable(extension_id, "event (its extension id)", EXTENSION_ID_LENGTH)


def _timestamp(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        msg = f"field '{field}' is missing or not an ISO 8601 string"
        raise EnvelopeError(msg)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        msg = f"field '{field}' is not an ISO 8601 timestamp: {value[:40]!r}"
        raise EnvelopeError(msg) from exc
    if parsed.tzinfo is None:
        msg = f"field '{field}' has no time zone: {value[:40]!r}"
        raise EnvelopeError(msg)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_EVENT <= utc < LATEST_EVENT:
        msg = (
            f"field '{field}' is outside {EARLIEST_EVENT.year}-{LATEST_EVENT.year - 1}: "
            f"{value[:40]!r}"
        )
        raise EnvelopeError(msg)
    return utc
