"""Small vocabulary for scripting calls: sessions, parties, timed status changes, call-log entries.

A `SessionBuilder` numbers notifications with one per-session `sequence` starting at 2 and refuses
to go back in time, so sequence order and `eventTime` order always agree. Party snapshots are
shaped like the captures (`rcc: false`, `park: {}`, `missedCall`, `standAlone`, `muted`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from classifiers.outcome import Category, Direction, DirectoryEntry, Stage
from emulator import telephony
from emulator.clock import iso
from emulator.config import SessionIdStyle
from emulator.directory import Account, Extension
from emulator.ids import Ids
from emulator.scenarios.model import (
    BASE,
    CallLogEntry,
    Expect,
    GeneratedCall,
    PartyEvent,
    SessionTruth,
    VoicemailDrop,
)
from emulator.telephony import API


class ScenarioError(ValueError):
    """A scenario cannot be played (unknown kind, or the account lacks what it needs)."""


@dataclass(frozen=True, slots=True)
class Topology:
    """The parts of an account that scenarios route calls through."""

    account: Account
    users: list[Extension]
    queue: Extension | None
    agents: list[Extension]
    ivr: Extension | None

    @classmethod
    def of(cls, account: Account) -> Topology:
        users = account.of_kind("User")
        queues = account.of_kind("Department")
        queue = queues[0] if queues else None
        agents = [account.extensions[m] for m in queue.members] if queue and queue.members else []
        if queue is not None and not agents:
            agents = list(users)
        ivrs = account.of_kind("IvrMenu")
        return cls(account, users, queue, agents, ivrs[0] if ivrs else None)

    def missing(self, needs: frozenset[str]) -> list[str]:
        lacks = []
        if "user" in needs and not self.users:
            lacks.append("a User extension")
        if "two_users" in needs and len(self.users) < 2:
            lacks.append("two User extensions")
        if "queue" in needs and (self.queue is None or not self.agents):
            lacks.append("a call queue (Department) with at least one User member")
        if "ivr" in needs and self.ivr is None:
            lacks.append("an IVR menu (IvrMenu)")
        return lacks

    def ivr_menu(self) -> Extension:
        if self.ivr is None:
            msg = f"account {self.account.id} has no IVR menu"
            raise ScenarioError(msg)
        return self.ivr

    def call_queue(self) -> Extension:
        if self.queue is None:
            msg = f"account {self.account.id} has no call queue"
            raise ScenarioError(msg)
        return self.queue

    def directory(self) -> dict[str, DirectoryEntry]:
        return {
            e.id: DirectoryEntry(kind=e.kind, name=e.name) for e in self.account.extensions.values()
        }


@dataclass(frozen=True, slots=True)
class CallContext:
    rng: random.Random
    ids: Ids
    topology: Topology
    start: datetime
    style: SessionIdStyle


class Cursor:
    """Seconds since the call started; moves forward by random steps."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.now = 0.0

    def step(self, low: float, high: float) -> float:
        self.now = round(self.now + self._rng.uniform(low, high), 3)
        return self.now

    def at_least(self, t: float) -> float:
        self.now = max(self.now, round(t, 3))
        return self.now

    def tick(self) -> float:
        """The few tens of milliseconds between causally linked events."""
        return self.step(0.02, 0.15)


def pstn(number: str, name: str | None = None) -> dict[str, str]:
    participant = {"phoneNumber": number}
    if name:
        participant["name"] = name
    return participant


def reached(number: str, extension: Extension) -> dict[str, str]:
    """A `to` that names the extension a dialled number reached."""
    return {"phoneNumber": number, "name": extension.name, "extensionId": extension.id}


def log_party(participant: dict[str, str]) -> dict[str, str]:
    """A participant as the call log names it (`CallLogFromParty` / `CallLogToParty`)."""
    return {k: v for k, v in participant.items() if k in ("phoneNumber", "name", "extensionId")}


def caller_ext(extension: Extension) -> dict[str, str]:
    """Our extension as the caller (`from`), with its device."""
    return {
        "phoneNumber": extension.phone_number or extension.extension_number,
        "name": extension.name,
        "extensionId": extension.id,
        "deviceId": extension.device_id,
    }


@dataclass(slots=True)
class Party:
    id: str
    account_id: str
    extension_id: str | None
    direction: str
    from_: dict[str, str]
    to: dict[str, str]
    queue_call: bool = False
    ui_call_info: dict[str, Any] | None = None
    missed: bool = False
    park: dict[str, str] = field(default_factory=dict)

    def snapshot(
        self, code: str, reason: str | None, peer: dict[str, str] | None, pickup: bool
    ) -> dict[str, Any]:
        return telephony.party(
            account_id=self.account_id,
            extension_id=self.extension_id,
            party_id=self.id,
            direction=self.direction,
            from_=self.from_,
            to=self.to,
            code=code,
            reason=reason,
            peer=peer,
            park=self.park,
            park_data=self.park["id"] if code == "Parked" and self.park else None,
            pickup_mailbox=self.extension_id if pickup else None,
            missed=self.missed,
            queue_call=self.queue_call,
            ui_call_info=self.ui_call_info,
        )


class SessionBuilder:
    def __init__(self, call: CallBuilder, origin: str = "Call") -> None:
        self._call = call
        self._stem = call.ids.session_stem(call.ctx.style, call.ctx.start)
        self.telephony_session_id = f"s-{self._stem}"
        self.session_id = call.ids.legacy_session_id()
        self.server_id = call.ids.server_id()
        self.origin = origin
        self._sequence = 1
        self._parties = 0
        self._last_t = 0.0

    def party(
        self,
        *,
        extension: Extension | None,
        direction: str,
        from_: dict[str, str],
        to: dict[str, str],
        queue_call: bool = False,
        ui_call_info: dict[str, Any] | None = None,
    ) -> Party:
        self._parties += 1
        return Party(
            id=f"p-{self._stem}-{self._parties}",
            account_id=self._call.account.id,
            extension_id=extension.id if extension else None,
            direction=direction,
            from_=from_,
            to=to,
            queue_call=queue_call,
            ui_call_info=ui_call_info,
        )

    def emit(
        self,
        party: Party,
        t: float,
        code: str,
        *,
        reason: str | None = None,
        missed: bool | None = None,
        peer: dict[str, str] | None = None,
        park_id: str | None = None,
        pickup: bool = False,
        to: dict[str, str] | None = None,
    ) -> None:
        if t < self._last_t:
            msg = f"{self.telephony_session_id}: event at {t}s is before the previous one"
            raise ScenarioError(msg)
        self._last_t = t
        self._sequence += 1
        if missed is not None:
            party.missed = missed
        if to is not None:
            party.to = to
        if park_id is not None:
            party.park = {"id": park_id}
        self._call.add_event(
            PartyEvent(
                account_id=self._call.account.id,
                telephony_session_id=self.telephony_session_id,
                session_id=self.session_id,
                server_id=self.server_id,
                origin=self.origin,
                sequence=self._sequence,
                event_time=self._call.at(t),
                party=party.snapshot(code, reason, peer, pickup),
            )
        )

    def peer(self, party: Party) -> dict[str, str]:
        """A `peerId` pointing at `party` of this session."""
        return {
            "sessionId": self.session_id,
            "telephonySessionId": self.telephony_session_id,
            "partyId": party.id,
        }


class CallBuilder:
    """Collects what one call emits and produces the `GeneratedCall`."""

    def __init__(self, kind: str, expect: Expect, ctx: CallContext) -> None:
        self.kind = kind
        self.expect = expect
        self.ctx = ctx
        self.rng = ctx.rng
        self.ids = ctx.ids
        self.topology = ctx.topology
        self.account = ctx.topology.account
        self._events: list[PartyEvent] = []
        self._voicemails: list[VoicemailDrop] = []
        self._log: list[CallLogEntry] = []
        self._truths: list[SessionTruth] = []

    def at(self, t: float) -> datetime:
        return self.ctx.start + timedelta(seconds=t)

    def cursor(self) -> Cursor:
        return Cursor(self.rng)

    def session(self, origin: str = "Call") -> SessionBuilder:
        return SessionBuilder(self, origin)

    def pick(self, extensions: list[Extension], count: int = 1) -> list[Extension]:
        return self.rng.sample(extensions, k=min(count, len(extensions)))

    def add_event(self, event: PartyEvent) -> None:
        self._events.append(event)

    def truth(
        self,
        session: SessionBuilder,
        direction: Direction,
        category: Category,
        *,
        reason: str | None = None,
        stage: Stage | None = None,
        queue: str | None = None,
        needs: tuple[str, ...] = (),
    ) -> None:
        self._truths.append(
            SessionTruth(
                session.telephony_session_id, direction, category, reason, stage, queue, needs
            )
        )

    def primary(self, session: SessionBuilder, *, queue: Extension | None = None) -> None:
        """Record the kind's expected outcome for the call's main session."""
        expect = self.expect
        self.truth(
            session, expect.direction, expect.category, reason=expect.reason,
            stage=expect.stage, queue=queue.name if queue else None, needs=expect.needs,
        )  # fmt: skip

    def voicemail(
        self, *, mailbox: Extension, caller: str, ended_t: float, duration_s: int
    ) -> dict[str, str]:
        """A voicemail message left in `mailbox`; returns the call-log `message` link."""
        message_id = self.ids.message_id()
        owner = f"{BASE}{API}/account/{self.account.id}/extension/{mailbox.id}"
        created = self.at(ended_t)
        message = {
            "id": message_id,
            "to": [{"name": mailbox.name, "extensionNumber": mailbox.extension_number}],
            "from": {"phoneNumber": caller},
            "type": "VoiceMail",
            "creationTime": iso(created),
            "readStatus": "Unread",
            "priority": "Normal",
            "attachments": [
                {
                    "id": message_id,
                    "uri": f"{owner}/message-store/{message_id}/content/{message_id}",
                    "type": "AudioRecording",
                    "contentType": "audio/x-wav",
                    "vmDuration": duration_s,
                }
            ],
            "direction": "Inbound",
            "availability": "Alive",
            "messageStatus": "Received",
            "lastModifiedTime": iso(created + timedelta(seconds=1)),
            "vmTranscriptionStatus": "NotAvailable",
        }
        notified = ended_t + self.rng.uniform(2.0, 8.0)
        self._voicemails.append(
            VoicemailDrop(self.at(notified), self.account.id, mailbox.id, message)
        )
        return {"id": message_id, "type": "VoiceMail", "uri": f"{owner}/message-store/{message_id}"}

    def log(
        self,
        *,
        owner: Extension,
        session: SessionBuilder,
        party: Party | None,
        start_t: float,
        end_t: float,
        direction: str,
        result: str,
        reason: str | None,
        from_: dict[str, str],
        to: dict[str, str],
        transport: str = "PSTN",
        leg_type: str = "Accept",
        message: dict[str, str] | None = None,
        queue: Extension | None = None,
        master_leg: Mapping[str, Any] | None = None,
        other_legs: Sequence[dict[str, Any]] = (),
    ) -> None:
        """A call-log record of `owner` for `session`. `queue`: the owner rang as an agent of
        that queue (`delegationType` QueueForwarding). The master leg mirrors the record, with
        `master_leg` overriding fields; `other_legs` (see `leg`) follow it in the Detailed view."""
        fields = {
            "sessionId": session.session_id,
            **self._leg_fields(
                owner=owner, session=session, party=party, start_t=start_t, end_t=end_t,
                direction=direction, result=result, reason=reason, from_=from_, to=to,
                transport=transport,
            ),
        }  # fmt: skip
        if message:
            fields["message"] = message
        if queue is not None:
            fields["delegationType"] = "QueueForwarding"
            fields["delegate"] = {"id": queue.id, "name": queue.name}
        self._log.append(
            CallLogEntry.of(
                self.ids.call_log_record_id(),
                account_id=self.account.id,
                extension_id=owner.id,
                start_time=self.at(start_t),
                end_time=self.at(end_t),
                fields=fields,
                leg_type=leg_type,
                master_leg=master_leg,
                other_legs=other_legs,
            )
        )

    def leg(
        self,
        *,
        owner: Extension,
        session: SessionBuilder,
        party: Party | None,
        start_t: float,
        end_t: float,
        direction: str,
        action: str,
        result: str,
        leg_type: str,
        from_: dict[str, str],
        to: dict[str, str],
        reason: str | None = None,
    ) -> dict[str, Any]:
        """A non-master leg of `owner`'s Detailed record: what else happened to the call."""
        leg = self._leg_fields(
            owner=owner, session=session, party=party, start_t=start_t, end_t=end_t,
            direction=direction, result=result, reason=reason, from_=from_, to=to,
            transport="PSTN", action=action,
        )  # fmt: skip
        leg.update(legType=leg_type, master=False)
        return leg

    def _leg_fields(
        self,
        *,
        owner: Extension,
        session: SessionBuilder,
        party: Party | None,
        start_t: float,
        end_t: float,
        direction: str,
        result: str,
        reason: str | None,
        from_: dict[str, str],
        to: dict[str, str],
        transport: str,
        action: str | None = None,
    ) -> dict[str, Any]:
        start = self.at(start_t).replace(microsecond=0)
        duration_ms = max(0, int((end_t - start_t) * 1000))
        fields: dict[str, Any] = {
            "telephonySessionId": session.telephony_session_id,
            "startTime": iso(start),
            "duration": duration_ms // 1000,
            "durationMs": duration_ms,
            "type": "Voice",
            "internalType": "Usual" if transport == "VoIP" else "Local",
            "direction": direction,
            "action": action or ("Phone Call" if direction == "Inbound" else "VoIP Call"),
            "result": result,
            "to": log_party(to),
            "from": log_party(from_),
            "extension": {
                "uri": f"{BASE}{API}/account/{self.account.id}/extension/{owner.id}",
                "id": int(owner.id),
            },
            "transport": transport,
        }
        if party is not None:
            fields["partyId"] = party.id
        if reason:
            fields["reason"] = reason
        return fields

    def build(self) -> GeneratedCall:
        if not self._truths or not self._events:
            msg = f"scenario {self.kind} produced no events or no ground truth"
            raise ScenarioError(msg)
        times = [e.event_time for e in self._events]
        return GeneratedCall(
            kind=self.kind,
            account_id=self.account.id,
            started_at=min(times),
            ended_at=max(times),
            truths=list(self._truths),
            events=sorted(self._events, key=lambda e: (e.event_time, e.sequence)),
            voicemails=list(self._voicemails),
            call_log=list(self._log),
            directory=self.topology.directory(),
        )
