"""Pydantic models of the RingCentral payloads callsift consumes: the one place they are declared.

Covers the notification envelope RingCentral POSTs to a webhook, the telephony-session event body
and its parties, voicemail (message-store) notifications, subscription renewal reminders and
call-log records. Field names follow RingCentral's camelCase on the wire and snake_case in Python.

The models are deliberately tolerant: RingCentral adds fields and enum values over time, so every
model keeps unknown fields (``extra="allow"``), enumerations are plain strings (status codes and
reasons are open-ended), and only the fields without which an event means nothing are required.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

TELEPHONY_SESSIONS_SUFFIX = "/telephony/sessions"
SUBSCRIPTION_REMINDER_PREFIX = "/restapi/v1.0/subscription/"


class RCModel(BaseModel):
    """Base for RingCentral payloads: camelCase aliases, unknown fields kept, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        frozen=True,
    )


class CallParticipant(RCModel):
    """`from` / `to` of a party (`CallPartyShortInfo`, plus the `deviceId` real events carry)."""

    phone_number: str | None = None
    name: str | None = None
    extension_id: str | None = None
    device_id: str | None = None


class PeerId(RCModel):
    """Where a party went when it left for another session (`Gone`, attended transfer)."""

    session_id: str | None = None
    telephony_session_id: str | None = None
    party_id: str | None = None


class PartyStatus(RCModel):
    """`status` of a party. `code` and `reason` are kept exactly as sent (case varies)."""

    code: str = ""
    reason: str | None = None
    description: str | None = None
    rcc: bool | None = None
    peer_id: PeerId | None = None
    park_data: str | None = None
    mobile_pickup_data: dict[str, Any] | None = None


class UiCallInfoRecord(RCModel):
    type: str | None = None
    value: str | None = None


class UiCallInfo(RCModel):
    primary: UiCallInfoRecord | None = None
    additional: UiCallInfoRecord | None = None


class PartyOwner(RCModel):
    """`owner` of a party in a REST session snapshot (`CallParty`): whose party it is."""

    account_id: str | None = None
    extension_id: str | None = None


class Party(RCModel):
    """One party of a telephony session (`TelephonySessionsEventPartyInfo`; a REST snapshot's
    `CallParty` names the extension under `owner` instead of `extensionId`)."""

    id: str
    account_id: str | None = None
    extension_id: str | None = None
    direction: str | None = None
    from_: CallParticipant | None = Field(
        default=None, validation_alias=AliasChoices("from", "from_"), serialization_alias="from"
    )
    to: CallParticipant | None = None
    status: PartyStatus = PartyStatus()
    missed_call: bool | None = None
    stand_alone: bool | None = None
    muted: bool | None = None
    queue_call: bool | None = None
    park: dict[str, Any] | None = None
    conference_role: str | None = None
    recordings: list[dict[str, Any]] | None = None
    ui_call_info: UiCallInfo | None = None
    owner: PartyOwner | None = None


class Origin(RCModel):
    type: str | None = None


class TelephonySessionBody(RCModel):
    """Body of a telephony-session notification (`TelephonySessionsEventBody`)."""

    sequence: int
    telephony_session_id: str
    event_time: datetime
    session_id: str | None = None
    server_id: str | None = None
    origin: Origin | None = None
    parties: list[Party] = []


class Envelope(RCModel):
    """What RingCentral POSTs to a webhook address, with the body left as raw JSON."""

    uuid: str
    event: str
    timestamp: datetime | None = None
    subscription_id: str | None = None
    owner_id: str | None = None
    body: Any = None


class TelephonySessionNotification(Envelope):
    """An envelope whose `event` is an account- or extension-level telephony-sessions filter."""

    body: TelephonySessionBody


class MessageAttachment(RCModel):
    id: str | int | None = None
    uri: str | None = None
    type: str | None = None
    content_type: str | None = None
    vm_duration: float | None = None


class MessageParty(RCModel):
    phone_number: str | None = None
    extension_number: str | None = None
    extension_id: str | None = None
    name: str | None = None


class VoicemailMessage(RCModel):
    """A voicemail message (`/extension/{id}/voicemail` notification body, or a message-store
    record)."""

    id: str | int
    type: str | None = None
    creation_time: datetime | None = None
    from_: MessageParty | None = Field(
        default=None, validation_alias=AliasChoices("from", "from_"), serialization_alias="from"
    )
    to: list[MessageParty] = []
    attachments: list[MessageAttachment] = []
    direction: str | None = None
    message_status: str | None = None

    @property
    def vm_duration_s(self) -> float | None:
        """Length of the recording in seconds, from its audio attachment, if given."""
        durations = [a.vm_duration for a in self.attachments if a.vm_duration is not None]
        return max(durations) if durations else None


class VoicemailNotification(Envelope):
    body: VoicemailMessage


class MessageStoreChange(RCModel):
    """One entry of a message-store notification's `changes` (`MessageChanges`)."""

    type: str | None = None
    new_count: int | None = None
    updated_count: int | None = None
    new_message_ids: list[str | int] = []


class MessageStoreBody(RCModel):
    """Body of a `/message-store` notification (`MessageEventBody`): counts, not messages."""

    extension_id: str | int | None = None
    last_updated: datetime | None = None
    changes: list[MessageStoreChange] = []


class MessageStoreNotification(Envelope):
    body: MessageStoreBody


class CallLogMessage(RCModel):
    id: str | int | None = None
    type: str | None = None
    uri: str | None = None


class CallLogParty(RCModel):
    phone_number: str | None = None
    extension_number: str | None = None
    extension_id: str | None = None
    name: str | None = None


class CallLogDelegate(RCModel):
    """`delegate` of a record: the extension a call came through (the queue, for
    `delegationType: QueueForwarding`)."""

    id: str | int | None = None
    name: str | None = None


class CallLogLeg(RCModel):
    start_time: datetime | None = None
    duration: float | None = None
    duration_ms: int | None = None
    type: str | None = None
    direction: str | None = None
    action: str | None = None
    result: str | None = None
    reason: str | None = None
    leg_type: str | None = None
    master: bool | None = None
    telephony_session_id: str | None = None
    party_id: str | None = None
    from_: CallLogParty | None = Field(
        default=None, validation_alias=AliasChoices("from", "from_"), serialization_alias="from"
    )
    to: CallLogParty | None = None
    extension: dict[str, Any] | None = None
    message: CallLogMessage | None = None
    delegation_type: str | None = None
    delegate: CallLogDelegate | None = None


class CallLogRecord(CallLogLeg):
    """A call-log record (`CallLogRecord`, Simple or Detailed view)."""

    id: str
    session_id: str | None = None
    uri: str | None = None
    last_modified_time: datetime | None = None
    legs: list[CallLogLeg] = []


def is_telephony_event(event: str) -> bool:
    """Whether an envelope's `event` path is a telephony-sessions filter (account or extension)."""
    path = event.split("?", 1)[0]
    return path.endswith(TELEPHONY_SESSIONS_SUFFIX)


def is_voicemail_event(event: str) -> bool:
    """Whether an envelope's `event` path is a voicemail (message-store) notification."""
    path = event.split("?", 1)[0]
    return path.endswith("/voicemail")


def is_message_store_event(event: str) -> bool:
    """Whether an envelope's `event` path is a message-store notification (any query, such as
    `?type=VoiceMail`)."""
    path = event.split("?", 1)[0]
    return path.endswith("/message-store")


def is_renewal_reminder(event: str) -> bool:
    """Whether an envelope's `event` is a subscription renewal reminder filter."""
    return event.startswith(SUBSCRIPTION_REMINDER_PREFIX)


def extension_id_of_event(event: str) -> str | None:
    """The extension id in an event path like `/restapi/v1.0/account/1/extension/2/...`, if any.

    `~` (the subscriber itself) gives None: the path does not name the extension.
    """
    parts = event.split("?", 1)[0].split("/")
    try:
        position = parts.index("extension")
    except ValueError:
        return None
    if position + 1 >= len(parts):
        return None
    extension_id = parts[position + 1]
    return extension_id if extension_id and extension_id != "~" else None
