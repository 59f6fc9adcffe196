"""Opaque cursors: base64url text that clients pass back unchanged.

A calls cursor is the position of the last row of a page, `(started_at, telephony_session_id)`:
the next page starts strictly after it in the newest-first order, so rows inserted meanwhile never
shift or repeat a page. A changes cursor is the last change number a poller has seen.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from service.api import bounds

CALLS_TAG = "c1"
CHANGES_TAG = "a1"
MAX_CHANGE_SEQ = 2**63 - 1  # a BIGINT


class BadCursor(ValueError):
    """The text is not a cursor this service handed out."""


@dataclass(frozen=True, slots=True)
class CallsCursor:
    started_at: datetime
    telephony_session_id: str


def _encode(payload: list[object]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _decode(text: str, tag: str) -> list[object]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise BadCursor(text) from exc
    if not isinstance(payload, list) or not payload or payload[0] != tag:
        raise BadCursor(text)
    return payload[1:]


def encode_calls_cursor(cursor: CallsCursor) -> str:
    moment = cursor.started_at.astimezone(UTC).isoformat()
    return _encode([CALLS_TAG, moment, cursor.telephony_session_id])


def decode_calls_cursor(text: str) -> CallsCursor:
    fields = _decode(text, CALLS_TAG)
    if len(fields) != 2 or not all(isinstance(field, str) for field in fields):
        raise BadCursor(text)
    moment, session_id = str(fields[0]), str(fields[1])
    try:
        started_at = datetime.fromisoformat(moment)
    except ValueError as exc:
        raise BadCursor(text) from exc
    if started_at.tzinfo is None or "\x00" in session_id:
        raise BadCursor(text)
    try:
        started_at = started_at.astimezone(UTC)
    except OverflowError as exc:
        raise BadCursor(text) from exc
    if not bounds.within(started_at):
        raise BadCursor(text)
    return CallsCursor(started_at=started_at, telephony_session_id=session_id)


def encode_changes_cursor(change_seq: int) -> str:
    return _encode([CHANGES_TAG, change_seq])


def decode_changes_cursor(text: str) -> int:
    fields = _decode(text, CHANGES_TAG)
    value = fields[0] if len(fields) == 1 else None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CHANGE_SEQ:
        raise BadCursor(text)
    return value
