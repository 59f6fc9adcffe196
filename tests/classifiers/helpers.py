"""Helpers for the classifier tests: fixture files and small synthetic calls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from classifiers import (
    DirectoryEntry,
    Evidence,
    Outcome,
    OwnedVoicemail,
    Thresholds,
    classify_call_log,
    classify_session,
    load_call_log,
    load_directory,
    parse_notification,
)
from classifiers.calllog import session_key
from classifiers.evidence import is_voicemail_evidence, voicemail_evidence
from classifiers.payloads import (
    CallLogRecord,
    TelephonySessionNotification,
)
from fixtures.builder import ACCOUNT_VIEW, CallBuilder

SESSIONS = Path(__file__).resolve().parents[2] / "fixtures" / "sessions"
CAPTURES = Path(__file__).resolve().parents[2] / "fixtures" / "captures"


def expected_files() -> list[Path]:
    return sorted(SESSIONS.glob("*.expected.json"))


@dataclass
class Fixture:
    """One fixture: its notification lines, evidence, `now`, thresholds and expected outcomes."""

    name: str
    lines: list[bytes]
    now: datetime
    thresholds: Thresholds
    call_log: list[CallLogRecord]
    directory: dict[str, DirectoryEntry]
    expected: list[dict[str, Any]]
    view: str
    sessions: dict[str, list[TelephonySessionNotification]] = field(default_factory=dict)
    voicemails: list[OwnedVoicemail] = field(default_factory=list)

    def evidence(self) -> Evidence:
        return Evidence(
            voicemails=self.voicemails, call_log=self.call_log, directory=self.directory
        )

    def classify(
        self, notifications: Iterable[TelephonySessionNotification], **changes: Any
    ) -> Outcome:
        return classify_session(
            notifications,
            now=changes.get("now", self.now),
            evidence=changes.get("evidence", self.evidence()),
            thresholds=changes.get("thresholds", self.thresholds),
        )

    def classify_call_log(self, session_id: str) -> Outcome:
        """The outcome of a session known only from the fixture's call-log records."""
        records = [record for record in self.call_log if session_key(record) == session_id]
        return classify_call_log(
            records,
            now=self.now,
            evidence=Evidence(directory=self.directory),
            thresholds=self.thresholds,
        )


def load_fixture(expected_path: Path) -> Fixture:
    name = expected_path.name.removesuffix(".expected.json")
    expected = orjson.loads(expected_path.read_bytes())
    lines = [
        line for line in (SESSIONS / f"{name}.jsonl").read_bytes().splitlines() if line.strip()
    ]
    call_log = (
        load_call_log((SESSIONS / expected["call_log"]).read_bytes())
        if expected["call_log"]
        else []
    )
    directory = (
        load_directory((SESSIONS / expected["directory"]).read_bytes())
        if expected["directory"]
        else {}
    )
    fixture = Fixture(
        name=name,
        lines=lines,
        now=datetime.fromisoformat(expected["now"]),
        thresholds=Thresholds(**expected["thresholds"]),
        call_log=call_log,
        directory=directory,
        expected=expected["outcomes"],
        view=expected["view"],
    )
    for line in lines:
        raw = orjson.loads(line)
        parsed = parse_notification(raw)
        if isinstance(parsed, TelephonySessionNotification):
            session = parsed.body.telephony_session_id
            fixture.sessions.setdefault(session, []).append(parsed)
        elif is_voicemail_evidence(raw.get("event", "")):
            fixture.voicemails.extend(voicemail_evidence(raw, raw.get("ownerId")))
    return fixture


def session_fixtures() -> list[Fixture]:
    """Every fixture that holds at least one telephony session."""
    return [f for f in map(load_fixture, expected_files()) if f.sessions]


def notifications(
    call: CallBuilder, view: str | tuple[str, ...] = ACCOUNT_VIEW
) -> list[TelephonySessionNotification]:
    """The validated notifications one subscription would receive for a built call."""
    parsed = [parse_notification(raw) for raw in call.notifications(view)]
    assert all(isinstance(item, TelephonySessionNotification) for item in parsed)
    return [item for item in parsed if isinstance(item, TelephonySessionNotification)]


def classify_call(
    call: CallBuilder,
    view: str | tuple[str, ...] = ACCOUNT_VIEW,
    *,
    now: datetime | None = None,
    thresholds: Thresholds | None = None,
    voicemails: Sequence[OwnedVoicemail] = (),
    call_log: Sequence[dict[str, Any]] = (),
    directory: dict[str, DirectoryEntry] | None = None,
) -> Outcome:
    """Classify a built call as seen by one view, `now` defaulting to a minute after its end."""
    last = max(change.offset for change in call.changes)
    records = [CallLogRecord.model_validate(record) for record in call_log]
    return classify_session(
        notifications(call, view),
        now=now or call.time(last + 60),
        evidence=Evidence(voicemails=voicemails, call_log=records, directory=directory or {}),
        thresholds=thresholds or Thresholds(),
    )
