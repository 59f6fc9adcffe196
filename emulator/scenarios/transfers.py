"""Answered calls that move: blind transfer, attended (warm) transfer, park and pickup.

Blind: the answering party Disconnects with reason `BlindTransfer` and a new target party appears
in the same session. Attended: a consult session from the first agent to the second; then both of
the first agent's parties go `Gone` / `AttendedTransfer` with `peerId` pointing at each other
(shape of the pacovu capture). Park: the answered party goes `Parked`; a pickup makes it `Gone`
with a `peerId` to the picking-up leg (in a session of its own that is not played).
"""

from __future__ import annotations

from classifiers.outcome import Category, Direction, Stage
from emulator.scenarios.builder import CallBuilder, caller_ext, reached
from emulator.scenarios.inbound import log_inbound, ring_user
from emulator.scenarios.registry import kind

TWO_USERS = ("user", "two_users")


@kind(
    "blind_transfer", category=Category.ANSWERED, stage=Stage.CONNECTED, needs=TWO_USERS,
    weight=3,
)  # fmt: skip
def blind_transfer(b: CallBuilder) -> None:
    """Answered, then blind-transferred to a colleague who answers."""
    inb, first, party = ring_user(b)
    inb.answer(party, 3, 10)
    inb.s.emit(party, inb.t.step(10, 60), "Disconnected", reason="BlindTransfer")
    log_inbound(inb, first, party, "Accepted", "Accepted")
    second = b.pick([u for u in b.topology.users if u.id != first.id])[0]
    target = inb.route(second)
    inb.ring(target)
    inb.answer(target, 3, 12)
    inb.talk_and_finish(target)
    log_inbound(inb, second, target, "Accepted", "Accepted")
    b.primary(inb.s)


@kind("blind_transfer_unanswered", category=Category.ANSWERED, needs=TWO_USERS, weight=1)
def blind_transfer_unanswered(b: CallBuilder) -> None:
    """Answered, blind-transferred, and the caller hangs up while the target rings (still
    answered: a person took the call first)."""
    inb, first, party = ring_user(b)
    inb.answer(party, 3, 10)
    inb.s.emit(party, inb.t.step(10, 60), "Disconnected", reason="BlindTransfer")
    log_inbound(inb, first, party, "Accepted", "Accepted")
    second = b.pick([u for u in b.topology.users if u.id != first.id])[0]
    target = inb.route(second)
    inb.ring(target)
    inb.caller_hangs_up(inb.t.step(8, 25))
    inb.s.emit(target, inb.t.tick(), "Disconnected", missed=True)
    log_inbound(inb, second, target, "Missed", "Hang Up")
    b.primary(inb.s)


@kind(
    "attended_transfer", category=Category.ANSWERED, stage=Stage.CONNECTED, needs=TWO_USERS,
    weight=2,
)  # fmt: skip
def attended_transfer(b: CallBuilder) -> None:
    """Answered; the agent holds the caller, consults a colleague in a second session, and
    completes a warm transfer; the caller talks to the colleague. Two sessions: the inbound one
    and the internal consult one, both answered."""
    inb, agent, party = ring_user(b)
    inb.answer(party, 3, 10)
    s, t = inb.s, inb.t
    s.emit(party, t.step(10, 60), "Hold")
    colleague = b.pick([u for u in b.topology.users if u.id != agent.id])[0]
    consult = b.session()
    dialled = colleague.extension_number
    agent_out = consult.party(
        extension=agent, direction="Outbound", from_=caller_ext(agent),
        to=reached(dialled, colleague),
    )  # fmt: skip
    consult.emit(agent_out, t.tick(), "Setup")
    colleague_in = consult.party(
        extension=colleague, direction="Inbound",
        from_={"phoneNumber": agent.extension_number, "name": agent.name, "extensionId": agent.id},
        to=reached(dialled, colleague),
    )  # fmt: skip
    consult.emit(colleague_in, t.tick(), "Setup")
    consult.emit(agent_out, t.tick(), "Answered")
    consult.emit(colleague_in, t.tick(), "Proceeding", pickup=True)
    consult.emit(colleague_in, t.step(2, 8), "Answered")
    t.step(5, 30)
    s.emit(party, t.tick(), "Gone", reason="AttendedTransfer", peer=consult.peer(agent_out))
    consult.emit(agent_out, t.tick(), "Gone", reason="AttendedTransfer", peer=s.peer(party))
    t.step(20, 120)
    inb.caller_hangs_up(t.tick())
    consult.emit(colleague_in, t.tick(), "Disconnected")
    log_inbound(inb, agent, party, "Accepted", "Accepted")
    b.log(
        owner=agent, session=consult, party=agent_out, start_t=0.0, end_t=t.now,
        direction="Outbound", result="Call connected", reason=None, from_=caller_ext(agent),
        to=reached(dialled, colleague), transport="VoIP", leg_type="ExtensionToExtension",
    )  # fmt: skip
    b.primary(s)
    b.truth(consult, Direction.INTERNAL, Category.ANSWERED, stage=Stage.CONNECTED)


@kind("park_pickup", category=Category.ANSWERED, stage=Stage.CONNECTED, weight=1)
def park_pickup(b: CallBuilder) -> None:
    """Answered, parked, and picked up from the park location by someone else."""
    inb, user, party = ring_user(b)
    inb.answer(party, 3, 10)
    s, t = inb.s, inb.t
    s.emit(party, t.step(10, 60), "Parked", park_id=f"*8{b.ids.digits(2)}")
    stem = b.ids.session_stem(b.ctx.style, b.at(t.now))
    picker = {
        "sessionId": b.ids.legacy_session_id(),
        "telephonySessionId": f"s-{stem}",
        "partyId": f"p-{stem}-1",
    }
    s.emit(party, t.step(5, 40), "Gone", peer=picker)
    t.step(20, 120)
    inb.caller_hangs_up(t.tick())
    log_inbound(inb, user, party, "Accepted", "Accepted")
    b.primary(s)


@kind("park_hangup", category=Category.ANSWERED, stage=Stage.HOLD, weight=1)
def park_hangup(b: CallBuilder) -> None:
    """Answered and parked; nobody picks up and the caller hangs up while parked (like a
    hang-up on hold)."""
    inb, user, party = ring_user(b)
    inb.answer(party, 3, 10)
    s, t = inb.s, inb.t
    s.emit(party, t.step(10, 60), "Parked", park_id=f"*8{b.ids.digits(2)}")
    inb.caller_hangs_up(t.step(10, 60))
    s.emit(party, t.tick(), "Disconnected")
    log_inbound(inb, user, party, "Accepted", "Accepted")
    b.primary(s)
