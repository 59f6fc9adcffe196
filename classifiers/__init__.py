"""Pure classification of RingCentral telephony sessions into call outcomes (no I/O, no clock).

Public API:
- `classify_session(notifications, *, now, evidence, thresholds) -> Outcome`
- `classify_events(events, *, now, evidence, thresholds) -> Outcome` (from `PartyEvent`s)
- `classify_call_log(records, *, now, evidence, thresholds) -> Outcome` (no events, records only)
- `parse_notification(raw) -> TelephonySessionNotification | ParseError`
- `party_events(notification)`, `party_events_from_envelope(raw)` -> `PartyEvent`s
- `build_timeline(events) -> Timeline`
- offline files of notification lines: `classify_lines`, `ClassifiedLines`, `load_call_log`,
  `load_directory`
- the contract types of `classifiers.outcome`.
"""

from classifiers.classify import classify_call_log, classify_events, classify_session
from classifiers.events import (
    ParseError,
    PartyEvent,
    ReasonKind,
    StatusCode,
    parse_notification,
    party_events,
    party_events_from_envelope,
)
from classifiers.lines import ClassifiedLines, classify_lines, load_call_log, load_directory
from classifiers.outcome import (
    CATEGORY_LABELS,
    RULES_VERSION,
    Category,
    Direction,
    DirectoryEntry,
    Evidence,
    ExtensionKind,
    LegOutcome,
    LegOutcomeKind,
    Outcome,
    OwnedVoicemail,
    Reconciliation,
    Source,
    Stage,
    Thresholds,
)
from classifiers.timeline import Timeline, build_timeline

__all__ = [
    "CATEGORY_LABELS",
    "RULES_VERSION",
    "Category",
    "ClassifiedLines",
    "Direction",
    "DirectoryEntry",
    "Evidence",
    "ExtensionKind",
    "LegOutcome",
    "LegOutcomeKind",
    "Outcome",
    "OwnedVoicemail",
    "ParseError",
    "PartyEvent",
    "ReasonKind",
    "Reconciliation",
    "Source",
    "Stage",
    "StatusCode",
    "Thresholds",
    "Timeline",
    "build_timeline",
    "classify_call_log",
    "classify_events",
    "classify_lines",
    "classify_session",
    "load_call_log",
    "load_directory",
    "parse_notification",
    "party_events",
    "party_events_from_envelope",
]
