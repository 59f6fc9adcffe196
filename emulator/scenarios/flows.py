"""Reusable pieces of inbound calls: the PSTN caller's leg, routing, ringing, queue agents, hang-up.

Follows the shared conventions: the caller's party (no extensionId, direction Outbound) goes Setup,
then Answered when the platform picks up the route (not a human answer), then Disconnected.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.directory import Extension
from emulator.scenarios.builder import CallBuilder, Cursor, Party, SessionBuilder, pstn, reached

CALLER_NAMES = ("WIRELESS CALLER", "SAN MATEO CA", "DENVER CO", "AUSTIN TX", "BOSTON MA")


@dataclass(slots=True)
class Inbound:
    """One inbound PSTN call in progress: its session, cursor and the caller's party."""

    b: CallBuilder
    s: SessionBuilder
    t: Cursor
    caller: Party
    number: str
    caller_name: str
    dialled: str
    routed: bool = False

    def route(self, callee: Extension) -> Party:
        """A new callee party in Setup; the first time, the platform answers the caller's leg."""
        party = self.s.party(
            extension=callee,
            direction="Inbound",
            from_=pstn(self.number),
            to=reached(self.dialled, callee),
        )
        self.s.emit(party, self.t.tick(), "Setup")
        if not self.routed:
            self.routed = True
            self.s.emit(self.caller, self.t.tick(), "Answered", to=reached(self.dialled, callee))
        return party

    def caller_id(self) -> dict[str, str]:
        """The caller as the call log shows it: number and caller-id name."""
        return pstn(self.number, self.caller_name)

    def ring(self, party: Party) -> None:
        self.s.emit(party, self.t.tick(), "Proceeding", pickup=True)

    def agent(self, agent: Extension, queue: Extension) -> Party:
        """A queue member being alerted: first state Proceeding, `queueCall`, queue named in
        uiCallInfo."""
        party = self.s.party(
            extension=agent,
            direction="Inbound",
            from_=pstn(self.number, f"{queue.name} - {self.caller_name}"),
            to=reached(queue.phone_number or self.dialled, queue),
            queue_call=True,
            ui_call_info={
                "primary": {"type": "QueueName", "value": queue.name},
                "additional": {"type": "CallerIdName", "value": self.caller_name},
            },
        )
        self.s.emit(party, self.t.tick(), "Proceeding", pickup=True)
        return party

    def caller_hangs_up(self, t: float) -> None:
        self.s.emit(self.caller, t, "Disconnected")

    def answer(self, party: Party, low: float, high: float) -> float:
        at = self.t.step(low, high)
        self.s.emit(party, at, "Answered")
        return at

    def talk_and_finish(self, party: Party, low: float = 20.0, high: float = 240.0) -> float:
        """Talk, then both sides hang up (either may go first); returns the end time."""
        self.t.step(low, high)
        order = [party, self.caller]
        if self.b.rng.random() < 0.5:
            order.reverse()
        for leg in order:
            self.s.emit(leg, self.t.tick(), "Disconnected")
        return self.t.now


def start_inbound(b: CallBuilder, dialled: str) -> Inbound:
    session = b.session()
    cursor = b.cursor()
    number = b.ids.external_number()
    caller = session.party(
        extension=None, direction="Outbound", from_=pstn(number), to=pstn(dialled)
    )
    session.emit(caller, cursor.now, "Setup")
    return Inbound(b, session, cursor, caller, number, b.rng.choice(CALLER_NAMES), dialled)


def did(extension: Extension) -> str:
    return extension.phone_number or extension.extension_number
