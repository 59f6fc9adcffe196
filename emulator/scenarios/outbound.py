"""Calls our users place: to outside numbers (connected, no answer, busy, gave up, failed) and to
colleagues (internal: answered, abandoned while ringing).

Outbound shape follows capture C (csn-ext-to-pstn): our party Outbound Setup -> Proceeding ->
Answered after the far PSTN party (no extensionId, direction Inbound) is Answered.
"""

from __future__ import annotations

from dataclasses import dataclass

from classifiers.outcome import Category, Direction, Stage
from emulator.directory import Extension
from emulator.scenarios.builder import (
    CallBuilder,
    Cursor,
    Party,
    SessionBuilder,
    caller_ext,
    pstn,
    reached,
)
from emulator.scenarios.registry import kind

OUT = Direction.OUTBOUND
FAILURES = {  # party status reason -> call-log (result, reason)
    "InvalidNumber": ("Wrong Number", "Wrong Number"),
    "InternationalDisabled": ("International Disabled", "International Disabled"),
    "NotEnoughFunds": ("No Calling Credit", "No Credit"),
}


@dataclass(slots=True)
class Outbound:
    b: CallBuilder
    s: SessionBuilder
    t: Cursor
    user: Extension
    ours: Party
    far: Party
    number: str

    def ring(self) -> None:
        self.s.emit(self.far, self.t.step(0.3, 1.0), "Proceeding")
        self.s.emit(self.ours, self.t.tick(), "Proceeding")

    def log(self, result: str, reason: str | None = None) -> None:
        self.b.log(
            owner=self.user, session=self.s, party=self.ours, start_t=0.0, end_t=self.t.now,
            direction="Outbound", result=result, reason=reason, from_=caller_ext(self.user),
            to=pstn(self.number), transport="VoIP", leg_type="SipToPstnUnmetered",
        )  # fmt: skip

    def both_end(self, reason: str | None) -> None:
        self.s.emit(self.ours, self.t.tick(), "Disconnected", reason=reason)
        self.s.emit(self.far, self.t.tick(), "Disconnected")


def dial_out(b: CallBuilder, origin: str = "Call") -> Outbound:
    user = b.pick(b.topology.users)[0]
    number = b.ids.external_number()
    s, t = b.session(origin), b.cursor()
    ours = s.party(extension=user, direction="Outbound", from_=caller_ext(user), to=pstn(number))
    s.emit(ours, t.now, "Setup")
    far = s.party(
        extension=None, direction="Inbound", from_=pstn(user.phone_number or ""), to=pstn(number)
    )
    return Outbound(b, s, t, user, ours, far, number)


@kind("outbound_connected", direction=OUT, category=Category.OUTBOUND_CONNECTED,
      stage=Stage.CONNECTED, weight=8)  # fmt: skip
def outbound_connected(b: CallBuilder) -> None:
    """A user calls an outside number, which answers; they talk and hang up."""
    out = dial_out(b)
    out.ring()
    out.s.emit(out.far, out.t.step(4, 20), "Answered")
    out.s.emit(out.ours, out.t.tick(), "Answered")
    out.t.step(20, 240)
    legs = [out.ours, out.far]
    if b.rng.random() < 0.5:
        legs.reverse()
    for leg in legs:
        out.s.emit(leg, out.t.tick(), "Disconnected")
    out.log("Call connected")
    b.primary(out.s)


@kind("service_verification_call", direction=OUT, category=Category.SERVICE_CALL,
      reason="verification_call", stage=Stage.CONNECTED, weight=0.0)  # fmt: skip
def service_verification_call(b: CallBuilder) -> None:
    """RingCentral calls an outside number for a user to verify it (`origin.type`
    VerificationCall; its shape is the outbound one: RingCentral publishes none): connected, and
    kept out of the statistics as a `service_call`. Never drawn into a random mix (weight 0), so
    seeded mixes stay as they were; played when asked for by name or with "all"."""
    out = dial_out(b, origin="VerificationCall")
    out.ring()
    out.s.emit(out.far, out.t.step(1, 3), "Answered")
    out.s.emit(out.ours, out.t.tick(), "Answered")
    out.t.step(10, 30)
    out.both_end(None)
    out.log("Call connected")
    b.primary(out.s)


@kind("outbound_no_answer", direction=OUT, category=Category.OUTBOUND_UNANSWERED, weight=2)
def outbound_no_answer(b: CallBuilder) -> None:
    """The outside number rings and nobody answers."""
    out = dial_out(b)
    out.ring()
    out.t.step(25, 45)
    out.both_end("NoAnswer")
    out.log("No Answer", "Not Answered")
    b.primary(out.s)


@kind("outbound_busy", direction=OUT, category=Category.OUTBOUND_UNANSWERED, weight=1)
def outbound_busy(b: CallBuilder) -> None:
    """The outside number is busy."""
    out = dial_out(b)
    out.ring()
    out.t.step(1, 3)
    out.both_end("TargetBusy")
    out.log("Busy", "Line Busy")
    b.primary(out.s)


@kind("outbound_caller_gave_up", direction=OUT, category=Category.OUTBOUND_UNANSWERED, weight=1)
def outbound_caller_gave_up(b: CallBuilder) -> None:
    """Our user hangs up while the outside number is still ringing."""
    out = dial_out(b)
    out.ring()
    out.t.step(5, 20)
    out.both_end(None)
    out.log("Hang Up", "Hang Up")
    b.primary(out.s)


@kind("outbound_failed", direction=OUT, category=Category.OUTBOUND_FAILED, weight=1)
def outbound_failed(b: CallBuilder) -> None:
    """The call cannot be placed (invalid number, international calls disabled, no credit)."""
    out = dial_out(b)
    reason = b.rng.choice(sorted(FAILURES))
    out.s.emit(out.ours, out.t.step(0.5, 2.0), "Disconnected", reason=reason)
    out.log(*FAILURES[reason])
    b.primary(out.s)


@dataclass(slots=True)
class Internal:
    b: CallBuilder
    s: SessionBuilder
    t: Cursor
    caller: Extension
    callee: Extension
    ours: Party
    theirs: Party

    def log(self, caller_result: str, callee_result: str, callee_reason: str | None) -> None:
        dialled = reached(self.callee.extension_number, self.callee)
        for owner, party, direction, result, reason in (
            (self.caller, self.ours, "Outbound", caller_result, None),
            (self.callee, self.theirs, "Inbound", callee_result, callee_reason),
        ):
            self.b.log(
                owner=owner, session=self.s, party=party, start_t=0.0, end_t=self.t.now,
                direction=direction, result=result, reason=reason, from_=caller_ext(self.caller),
                to=dialled, transport="VoIP", leg_type="ExtensionToExtension",
            )  # fmt: skip


def dial_colleague(b: CallBuilder) -> Internal:
    caller, callee = b.pick(b.topology.users, 2)
    s, t = b.session(), b.cursor()
    dialled = reached(callee.extension_number, callee)
    ours = s.party(extension=caller, direction="Outbound", from_=caller_ext(caller), to=dialled)
    s.emit(ours, t.now, "Setup")
    short_from = {
        "phoneNumber": caller.extension_number,
        "name": caller.name,
        "extensionId": caller.id,
    }
    theirs = s.party(extension=callee, direction="Inbound", from_=short_from, to=dialled)
    s.emit(theirs, t.tick(), "Setup")
    s.emit(ours, t.tick(), "Answered")
    s.emit(theirs, t.tick(), "Proceeding", pickup=True)
    return Internal(b, s, t, caller, callee, ours, theirs)


@kind("internal_answered", direction=Direction.INTERNAL, category=Category.ANSWERED,
      stage=Stage.CONNECTED, needs=("user", "two_users"), weight=4)  # fmt: skip
def internal_answered(b: CallBuilder) -> None:
    """One user calls another, who answers."""
    call = dial_colleague(b)
    call.s.emit(call.theirs, call.t.step(3, 12), "Answered")
    call.t.step(20, 240)
    legs = [call.ours, call.theirs]
    if b.rng.random() < 0.5:
        legs.reverse()
    for leg in legs:
        call.s.emit(leg, call.t.tick(), "Disconnected")
    call.log("Call connected", "Accepted", "Accepted")
    b.primary(call.s)


@kind("internal_abandoned", direction=Direction.INTERNAL, category=Category.ABANDONED_RINGING,
      stage=Stage.RINGING, needs=("user", "two_users"), weight=1)  # fmt: skip
def internal_abandoned(b: CallBuilder) -> None:
    """One user calls another and hangs up while it rings."""
    call = dial_colleague(b)
    call.s.emit(call.ours, call.t.step(7, 20), "Disconnected")
    call.s.emit(call.theirs, call.t.tick(), "Disconnected", missed=True)
    call.log("Hang Up", "Missed", "Hang Up")
    b.primary(call.s)
