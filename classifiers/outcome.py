"""The classifier's contract: thresholds and evidence in, one `Outcome` per telephony session out.

Names here are contracts (categories, stages, leg outcomes, outcome fields; docs/outcomes.md):
the database, the HTTP API, the CLI and dashboards all depend on them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from classifiers.payloads import CallLogRecord, VoicemailMessage

RULES_VERSION = "3"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class Category(StrEnum):
    ANSWERED = "answered"
    VOICEMAIL_LEFT = "voicemail_left"
    ABANDONED_VOICEMAIL = "abandoned_voicemail"
    SHORT_ABANDON = "short_abandon"
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    ABANDONED_RINGING = "abandoned_ringing"
    ABANDONED_HOLD = "abandoned_hold"
    MISSED = "missed"
    DEFLECTED = "deflected"
    FAILED = "failed"
    UNKNOWN = "unknown"
    IN_PROGRESS = "in_progress"
    OUTBOUND_CONNECTED = "outbound_connected"
    OUTBOUND_UNANSWERED = "outbound_unanswered"
    OUTBOUND_FAILED = "outbound_failed"
    # a session of RingCentral's own services or a conference bridge (`origin.type`
    # GreetingsRecording, VerificationCall, TestCall, Conference): kept, never offered
    SERVICE_CALL = "service_call"

    @property
    def is_abandoned(self) -> bool:
        return self in ABANDONED_CATEGORIES


# What each category means, in a supervisor's words (the dashboard and the CSV show these).
CATEGORY_LABELS: dict[Category, str] = {
    Category.ANSWERED: "answered",
    Category.VOICEMAIL_LEFT: "left a voicemail",
    Category.ABANDONED_VOICEMAIL: "hung up in voicemail without a message",
    Category.SHORT_ABANDON: "hung up within seconds",
    Category.ABANDONED_IVR: "hung up in the IVR menu",
    Category.ABANDONED_QUEUE: "hung up waiting in the queue",
    Category.ABANDONED_RINGING: "hung up while ringing",
    Category.ABANDONED_HOLD: "hung up on hold",
    Category.MISSED: "missed: ended unanswered",
    Category.DEFLECTED: "sent elsewhere (forwarded or exit key)",
    Category.FAILED: "failed to connect",
    Category.UNKNOWN: "unknown",
    Category.IN_PROGRESS: "in progress",
    Category.OUTBOUND_CONNECTED: "outbound, connected",
    Category.OUTBOUND_UNANSWERED: "outbound, not answered",
    Category.OUTBOUND_FAILED: "outbound, failed",
    Category.SERVICE_CALL: "service call, not a customer",
}

ABANDONED_CATEGORIES = frozenset(
    {
        Category.ABANDONED_VOICEMAIL,
        Category.SHORT_ABANDON,
        Category.ABANDONED_IVR,
        Category.ABANDONED_QUEUE,
        Category.ABANDONED_RINGING,
        Category.ABANDONED_HOLD,
    }
)


class Stage(StrEnum):
    IVR = "ivr"
    QUEUE = "queue"
    RINGING = "ringing"
    VOICEMAIL = "voicemail"
    HOLD = "hold"
    CONNECTED = "connected"
    UNKNOWN = "unknown"


class Source(StrEnum):
    """Where an outcome's data came from."""

    WEBHOOK = "webhook"
    CALL_LOG = "call_log"


class Reconciliation(StrEnum):
    """How the telephony events and the call log agreed on a session (docs/outcomes.md 8)."""

    AGREED = "agreed"  # both sources, same final result
    CALL_LOG_CORRECTED = "call_log_corrected"  # both, they disagreed: the call log won
    EVENTS_ONLY = "events_only"  # events, and no call-log record is expected (or it says nothing)
    CALL_LOG_ONLY = "call_log_only"  # a call-log record, and no telephony event
    AWAITING_CALL_LOG = "awaiting_call_log"  # events; the call-log record is still to come


class LegOutcomeKind(StrEnum):
    ANSWERED = "answered"
    MISSED = "missed"
    CALLER_ABANDONED = "caller_abandoned"
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    REJECTED = "rejected"
    VOICEMAIL_LEFT = "voicemail_left"
    ABANDONED_VOICEMAIL = "abandoned_voicemail"
    TRANSFERRED = "transferred"
    IN_PROGRESS = "in_progress"


class ExtensionKind(StrEnum):
    """RingCentral extension types that matter for classification (directory `type`)."""

    USER = "User"
    DEPARTMENT = "Department"  # a call queue
    IVR_MENU = "IvrMenu"
    ANNOUNCEMENT = "Announcement"
    VOICEMAIL = "Voicemail"
    SHARED_LINES_GROUP = "SharedLinesGroup"
    PAGING_ONLY = "PagingOnly"
    PARK_LOCATION = "ParkLocation"
    LIMITED = "Limited"
    SITE = "Site"
    OTHER = "Other"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Tunable rules. Each outcome stores the values it was classified with."""

    short_abandon_s: float = 5.0
    vm_min_message_s: float = 10.0
    min_talk_s: float = 0.5
    sla_s: float = 20.0
    hold_hangup_is_abandon: bool = False
    session_stale_after_s: float = 4 * 3600.0

    def as_dict(self) -> dict[str, Any]:
        """The values by name (a fresh dict; the conversion is memoised: the same few
        thresholds are used for every call)."""
        return dict(_threshold_items(self))


@functools.lru_cache(maxsize=64)
def _threshold_items(thresholds: Thresholds) -> tuple[tuple[str, Any], ...]:
    return tuple(asdict(thresholds).items())


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """What the extension directory says about one extension."""

    kind: str
    name: str | None = None
    extension_number: str | None = None

    @property
    def display_name(self) -> str | None:
        """How people know it: "Alice Adams (101)", the name alone, or "ext 101"."""
        if self.name and self.extension_number:
            return f"{self.name} ({self.extension_number})"
        if self.name:
            return self.name
        return f"ext {self.extension_number}" if self.extension_number else None


@dataclass(frozen=True, slots=True)
class OwnedVoicemail:
    """A voicemail message together with the extension whose mailbox received it."""

    extension_id: str | None
    message: VoicemailMessage


@dataclass(frozen=True, slots=True)
class Evidence:
    """Optional evidence beside the telephony events. Empty by default."""

    voicemails: Sequence[OwnedVoicemail] = ()
    call_log: Sequence[CallLogRecord] = ()
    directory: Mapping[str, DirectoryEntry] = field(default_factory=dict)
    # a call-log record of this session is expected and has not arrived yet (the service knows
    # which call logs it syncs and how far; offline classification never waits)
    awaiting_call_log: bool = False


class LegOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    party_id: str
    extension_id: str | None
    outcome: LegOutcomeKind


class Outcome(BaseModel):
    """The classified outcome of one telephony session (the fields docs/outcomes.md describes).

    `revision` and `updated_at` belong to storage: the classifier leaves them at their defaults
    and the processor sets them when it stores a changed outcome.
    """

    model_config = ConfigDict(frozen=True)

    telephony_session_id: str
    direction: Direction
    category: Category
    reason: str | None
    stage: Stage
    is_abandoned: bool
    final: bool
    started_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    ring_s: float | None
    wait_s: float | None
    talk_s: float | None
    hold_s: float | None
    voicemail_s: float | None
    time_to_abandon_s: float | None
    queue: str | None
    extension_ids: list[str]
    from_number: str | None
    to_number: str | None
    evidence: list[str]
    data_gaps: list[str]
    sources: list[Source]
    reconciliation: Reconciliation
    legs: list[LegOutcome]
    rules_version: str
    thresholds: dict[str, Any]
    revision: int = 0
    updated_at: datetime | None = None
