"""Voicemail messages as evidence beside the telephony events (call-log records: `calllog`).

A voicemail message has no session id, so it is matched to a call by mailbox (the extension whose
party reached voicemail), caller number and time: its `creationTime` (when the recording ended)
must fall between the start of voicemail and `VOICEMAIL_MATCH_AFTER_S` after it ended.

Two notifications carry them: `/voicemail` (the message itself: sender, creation time, length)
and `/message-store` (only that the mailbox got new messages of a type, and when: a new
`VoiceMail` there is a message of unknown sender and length, created at `lastUpdated`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from classifiers.events import to_utc
from classifiers.outcome import OwnedVoicemail
from classifiers.payloads import (
    MessageStoreNotification,
    VoicemailMessage,
    VoicemailNotification,
    extension_id_of_event,
    is_message_store_event,
    is_voicemail_event,
)

VOICEMAIL_MATCH_BEFORE_S = 60.0  # a message created this long before voicemail began still matches
VOICEMAIL_MATCH_AFTER_S = 600.0  # ... and this long after the voicemail span ended


@dataclass(frozen=True, slots=True)
class VoicemailMatch:
    message: VoicemailMessage
    vm_duration_s: float | None


def match_voicemail(
    voicemails: Iterable[OwnedVoicemail],
    *,
    mailboxes: set[str],
    caller_number: str | None,
    voicemail_start: float,
    voicemail_end: float,
) -> VoicemailMatch | None:
    """The message that best fits the call's voicemail span, or None.

    A message matches when its mailbox is one of `mailboxes` (or unknown), its sender number
    equals the caller's (when both are known) and it was created inside the time window. Of
    several, the one created closest to the end of the voicemail span wins.
    """
    best: tuple[float, str, VoicemailMatch] | None = None
    caller_digits = _digits(caller_number)
    for owned in voicemails:
        message = owned.message
        if owned.extension_id is not None and owned.extension_id not in mailboxes:
            continue
        if message.type is not None and message.type.lower() != "voicemail":
            continue
        if message.creation_time is None:
            continue
        created = to_utc(message.creation_time).timestamp()
        if not voicemail_start - VOICEMAIL_MATCH_BEFORE_S <= created:
            continue
        if created > voicemail_end + VOICEMAIL_MATCH_AFTER_S:
            continue
        sender = message.from_.phone_number if message.from_ is not None else None
        sender_digits = _digits(sender)
        if caller_digits and sender_digits and caller_digits != sender_digits:
            continue
        key = (abs(created - voicemail_end), str(message.id))
        candidate = VoicemailMatch(message, message.vm_duration_s)
        if best is None or key < best[:2]:
            best = (key[0], key[1], candidate)
    return best[2] if best is not None else None


def _digits(number: str | None) -> str:
    return "".join(char for char in number if char.isdigit()) if number else ""


def is_voicemail_evidence(event: str) -> bool:
    """Whether an envelope's `event` path can carry voicemail evidence."""
    return is_voicemail_event(event) or is_message_store_event(event)


def voicemail_evidence(raw: Mapping[str, Any], mailbox: str | None = None) -> list[OwnedVoicemail]:
    """The voicemail messages a `/voicemail` or `/message-store` notification is evidence of
    (a message-store notification without a new `VoiceMail` gives none). The mailbox is
    `mailbox` if given, else the extension in the event path, the body's, or `ownerId`.

    Raises ValueError, saying which field is wrong, for a malformed notification.
    """
    event = raw.get("event")
    if not isinstance(event, str) or not is_voicemail_evidence(event):
        raise ValueError(f"not a voicemail or message-store notification: event={event!r:.120}")
    try:
        if is_voicemail_event(event):
            notification = VoicemailNotification.model_validate(raw)
            owner = mailbox or extension_id_of_event(event) or notification.owner_id
            return [OwnedVoicemail(owner, notification.body)]
        store = MessageStoreNotification.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        kind = "voicemail" if is_voicemail_event(event) else "message-store"
        raise ValueError(f"bad {kind} notification: {where}: {first['msg']}") from None
    body = store.body
    extension = body.extension_id
    owner = (
        mailbox
        or extension_id_of_event(event)
        or (str(extension) if extension is not None else None)
        or store.owner_id
    )
    found: list[OwnedVoicemail] = []
    for change in body.changes:
        if (change.type or "").lower() != "voicemail" or not (change.new_count or 0) > 0:
            continue
        ids = change.new_message_ids or [f"message-store:{store.uuid}"]
        for message_id in ids:
            message = VoicemailMessage(
                id=message_id, type="VoiceMail", creation_time=body.last_updated
            )
            found.append(OwnedVoicemail(owner, message))
    return found
