"""What a generated call is: party events, voicemail drops, call-log entries and its ground truth.

Stored URIs start with the `{base}` placeholder and are completed with the public base URL when
rendered, so records and messages point at whichever emulator serves them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from classifiers.outcome import (
    Category,
    Direction,
    DirectoryEntry,
    Evidence,
    Outcome,
    OwnedVoicemail,
    Source,
    Stage,
)
from classifiers.payloads import CallLogRecord, TelephonySessionNotification, VoicemailMessage
from classifiers.reconcile import MISSING_START
from emulator.clock import iso
from emulator.telephony import API, envelope, telephony_body, telephony_path

BASE = "{base}"
DEFAULT_BASE = "https://platform.ringcentral.com"


def with_base(value: Any, base: str) -> Any:
    """A deep copy of `value` with every `{base}`-prefixed string completed."""
    if isinstance(value, str):
        return base + value[len(BASE) :] if value.startswith(BASE) else value
    if isinstance(value, dict):
        return {k: with_base(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [with_base(v, base) for v in value]
    return value


def voicemail_path(account_id: str, extension_id: str) -> str:
    return f"{API}/account/{account_id}/extension/{extension_id}/voicemail"


@dataclass(frozen=True, slots=True)
class PartyEvent:
    """One telephony-session notification body: one party's state at one sequence number."""

    account_id: str
    telephony_session_id: str
    session_id: str
    server_id: str
    origin: str
    sequence: int
    event_time: datetime
    party: dict[str, Any]

    @property
    def extension_id(self) -> str | None:
        value = self.party.get("extensionId")
        return value if isinstance(value, str) else None

    @property
    def event_path(self) -> str:
        return telephony_path(self.account_id, self.extension_id)

    def body(self) -> dict[str, Any]:
        return telephony_body(
            sequence=self.sequence,
            session_id=self.session_id,
            telephony_session_id=self.telephony_session_id,
            server_id=self.server_id,
            event_time=self.event_time,
            party=self.party,
            origin=self.origin,
        )


@dataclass(frozen=True, slots=True)
class VoicemailDrop:
    """A new voicemail message, notified to subscribers of its mailbox at `at`."""

    at: datetime
    account_id: str
    extension_id: str
    message: dict[str, Any]

    @property
    def event_path(self) -> str:
        return voicemail_path(self.account_id, self.extension_id)


@dataclass(frozen=True, slots=True)
class RecordVersion:
    """Which version of a call-log record to render: the final one, or the "In Progress" one as
    of `in_progress_as_of`. `visible_at` is when that version appeared (`lastModifiedTime`)."""

    visible_at: datetime
    in_progress_as_of: datetime | None = None


IN_PROGRESS_DROPS = frozenset({"reason", "reasonDescription", "message"})


@dataclass(slots=True)
class CallLogEntry:
    """One call-log record of one extension, as it reads once final. `legs` holds the master
    leg first; the call log decides when each version is visible (`emulator.calllog`)."""

    id: str
    account_id: str
    extension_id: str
    telephony_session_id: str
    start_time: datetime
    end_time: datetime
    result: str
    direction: str
    fields: dict[str, Any]
    legs: list[dict[str, Any]]

    @classmethod
    def of(
        cls,
        record_id: str,
        *,
        account_id: str,
        extension_id: str,
        start_time: datetime,
        end_time: datetime,
        fields: dict[str, Any],
        leg_type: str = "Accept",
        master_leg: Mapping[str, Any] | None = None,
        other_legs: Sequence[dict[str, Any]] = (),
    ) -> CallLogEntry:
        """An entry whose session, result and direction are those of `fields`; its master leg
        mirrors `fields` (without `sessionId`), with `master_leg` overriding, and `other_legs`
        follow it."""
        master = {k: v for k, v in fields.items() if k != "sessionId"}
        master.update(legType=leg_type, master=True)
        master.update(master_leg or {})
        return cls(
            id=record_id,
            account_id=account_id,
            extension_id=extension_id,
            telephony_session_id=fields["telephonySessionId"],
            start_time=start_time,
            end_time=end_time,
            result=fields["result"],
            direction=fields["direction"],
            fields=fields,
            legs=[master, *other_legs],
        )

    def render(
        self,
        base: str,
        *,
        view: str = "Simple",
        account_level: bool = False,
        version: RecordVersion | None = None,
    ) -> dict[str, Any]:
        """The record as the API returns it; without `version`, the final one."""
        fields, legs = self.fields, self.legs
        if version is not None and version.in_progress_as_of is not None:
            fields, legs = self._in_progress(version.in_progress_as_of)
        owner = f"{API}/account/{self.account_id}"
        if not account_level:
            owner += f"/extension/{self.extension_id}"
        record: dict[str, Any] = {
            "uri": f"{base}{owner}/call-log/{self.id}?view={view}",
            "id": self.id,
            **with_base(fields, base),
        }
        if view == "Detailed":
            record["legs"] = with_base(legs, base)
            modified = version.visible_at if version is not None else self.end_time
            record["lastModifiedTime"] = iso(modified)
        return record

    def _in_progress(self, as_of: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The record while the call is up: no outcome yet, the duration so far (never past the
        call's end); only the master leg, mirroring the record."""
        elapsed = (min(as_of, self.end_time) - self.start_time).total_seconds()
        duration_ms = max(0, int(elapsed * 1000))

        def ongoing(item: dict[str, Any]) -> dict[str, Any]:
            kept = {k: v for k, v in item.items() if k not in IN_PROGRESS_DROPS}
            kept.update(result="In Progress", duration=duration_ms // 1000, durationMs=duration_ms)
            return kept

        return ongoing(self.fields), [ongoing(leg) for leg in self.legs if leg.get("master")]


@dataclass(frozen=True, slots=True)
class SessionTruth:
    """The expected outcome of one telephony session of a generated call.

    `reason` is compared only for the categories whose reasons docs/outcomes.md enumerates
    (missed, deflected, abandoned_voicemail); `stage` and `queue` only when set. `needs` names the
    evidence beside the events that the outcome depends on (e.g. "call_log").
    """

    telephony_session_id: str
    direction: Direction
    category: Category
    reason: str | None = None
    stage: Stage | None = None
    queue: str | None = None
    needs: tuple[str, ...] = ()

    @property
    def is_abandoned(self) -> bool:
        return self.category.is_abandoned

    def mismatches(self, outcome: Outcome) -> list[str]:
        """Human-readable differences between this truth and a classifier outcome."""
        problems: list[str] = []
        expected: list[tuple[str, object, object]] = [
            ("direction", self.direction, outcome.direction),
            ("category", self.category, outcome.category),
            ("is_abandoned", self.is_abandoned, outcome.is_abandoned),
        ]
        if self.category in REASONED_CATEGORIES:
            expected.append(("reason", self.reason, outcome.reason))
        if self.stage is not None and self.stage_observable(outcome):
            expected.append(("stage", self.stage, outcome.stage))
        if self.queue is not None:
            expected.append(("queue", self.queue, outcome.queue))
        for name, want, got in expected:
            if want != got:
                problems.append(f"{name}: expected {want!s}, got {got!s}")
        return problems

    def stage_observable(self, outcome: Outcome) -> bool:
        """Hold leaves no trace in the call log (`CALL_LOG_BLIND_STAGES`): an outcome made from the
        call log alone, or from events whose first part was lost, cannot always show that stage."""
        seen_whole = Source.WEBHOOK in outcome.sources and MISSING_START not in outcome.data_gaps
        return seen_whole or self.stage not in CALL_LOG_BLIND_STAGES

    def as_dict(self) -> dict[str, Any]:
        return {
            "telephonySessionId": self.telephony_session_id,
            "direction": self.direction.value,
            "category": self.category.value,
            "reason": self.reason,
            "stage": self.stage.value if self.stage else None,
            "isAbandoned": self.is_abandoned,
            "queue": self.queue,
            "needs": list(self.needs),
        }


@dataclass(frozen=True, slots=True)
class Expect:
    """The ground truth a scenario kind promises for its main session."""

    direction: Direction
    category: Category
    reason: str | None = None
    stage: Stage | None = None
    needs: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction.value,
            "category": self.category.value,
            "reason": self.reason,
            "stage": self.stage.value if self.stage else None,
            "isAbandoned": self.category.is_abandoned,
            "needs": list(self.needs),
        }


REASONED_CATEGORIES = frozenset({Category.MISSED, Category.DEFLECTED, Category.ABANDONED_VOICEMAIL})
CALL_LOG_BLIND_STAGES = frozenset({Stage.HOLD})

# What a play does with a call's notifications: all delivered (chaos per notification aside),
# all lost, or the beginning of the main session lost (the call log is complete in every case).
WebhookFate = Literal["delivered", "lost", "lost_start"]


@dataclass(slots=True)
class GeneratedCall:
    """One scripted call: what the platform will emit for it, and what it really was."""

    kind: str
    account_id: str
    started_at: datetime
    ended_at: datetime
    truths: list[SessionTruth]
    events: list[PartyEvent]
    voicemails: list[VoicemailDrop]
    call_log: list[CallLogEntry]
    directory: dict[str, DirectoryEntry] = field(default_factory=dict)
    call_id: str = ""
    play_id: str = ""
    webhooks: WebhookFate = "delivered"
    lost_below_sequence: int = 0  # with "lost_start": main-session events numbered below are lost

    @property
    def truth(self) -> SessionTruth:
        return self.truths[0]

    def webhook_lost(self, item: PartyEvent | VoicemailDrop) -> bool:
        """Whether the play loses this notification (see `webhooks`)."""
        if self.webhooks == "lost":
            return True
        return (
            self.webhooks == "lost_start"
            and isinstance(item, PartyEvent)
            and item.telephony_session_id == self.truth.telephony_session_id
            and item.sequence < self.lost_below_sequence
        )

    def events_of(self, telephony_session_id: str) -> list[PartyEvent]:
        return [e for e in self.events if e.telephony_session_id == telephony_session_id]

    def envelopes(
        self, telephony_session_id: str | None = None, *, extension_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Notification envelopes as an account-level subscription (or, with `extension_id`, that
        extension's subscription) would receive them, in sequence order, with stable uuids."""
        owner = extension_id or self.account_id
        subscription_id = f"offline-{owner}"
        envelopes = []
        for event in self.events:
            if telephony_session_id not in (None, event.telephony_session_id):
                continue
            if extension_id is not None and event.extension_id != extension_id:
                continue
            key = f"{subscription_id}:{event.telephony_session_id}:{event.sequence}"
            digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
            envelopes.append(
                envelope(
                    uuid=str(digest % 10**19),
                    event=event.event_path,
                    timestamp=event.event_time,
                    subscription_id=subscription_id,
                    owner_id=owner,
                    body=event.body(),
                )
            )
        return envelopes

    def notifications(
        self, telephony_session_id: str | None = None, *, extension_id: str | None = None
    ) -> list[TelephonySessionNotification]:
        return [
            TelephonySessionNotification.model_validate(envelope)
            for envelope in self.envelopes(telephony_session_id, extension_id=extension_id)
        ]

    def evidence(self, base: str = DEFAULT_BASE, *, call_log: bool = True) -> Evidence:
        """Voicemail messages, call-log records (Detailed) and the directory, as the classifier
        takes them."""
        voicemails = [
            OwnedVoicemail(
                extension_id=drop.extension_id,
                message=VoicemailMessage.model_validate(with_base(drop.message, base)),
            )
            for drop in self.voicemails
        ]
        records = (
            [CallLogRecord.model_validate(e.render(base, view="Detailed")) for e in self.call_log]
            if call_log
            else []
        )
        return Evidence(voicemails=voicemails, call_log=records, directory=dict(self.directory))

    def summary(self) -> dict[str, Any]:
        return {
            "callId": self.call_id,
            "playId": self.play_id,
            "kind": self.kind,
            "accountId": self.account_id,
            "startedAt": iso(self.started_at),
            "endedAt": iso(self.ended_at),
            "telephonySessionId": self.truth.telephony_session_id,
            "truth": self.truth.as_dict(),
            "sessions": [t.as_dict() for t in self.truths],
            "events": len(self.events),
            "voicemails": len(self.voicemails),
            "callLogRecords": [e.id for e in self.call_log],
            "webhooks": self.webhooks,
        }
