"""Inbound calls to users and IVR menus: answered, voicemail, abandons, missed, deflected, failed.

Timings keep each kind's ground truth unambiguous under the default thresholds: short abandons end
1.5-4 s after the start, other abandons after at least 6 s; talk lasts well over `min_talk_s`;
voicemail greeting hang-ups stay under `vm_min_message_s` and left messages well over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from classifiers.outcome import Category, Stage
from emulator.directory import Extension
from emulator.scenarios.builder import CallBuilder, Party, pstn, reached
from emulator.scenarios.flows import Inbound, did, start_inbound
from emulator.scenarios.registry import kind

FAILURE_REASONS = ("InternalError", "NoSuchUser", "DestinationBlocked")


def log_inbound(
    inb: Inbound,
    owner: Extension,
    party: Party | None,
    result: str,
    reason: str | None = None,
    *,
    message: dict[str, str] | None = None,
    queue: Extension | None = None,
    other_legs: Sequence[dict[str, Any]] = (),
) -> None:
    """`owner`'s record of the inbound call, from its start to now."""
    inb.b.log(
        owner=owner, session=inb.s, party=party, start_t=0.0, end_t=inb.t.now,
        direction="Inbound", result=result, reason=reason, from_=inb.caller_id(),
        to=reached(inb.dialled, owner), message=message, queue=queue, other_legs=other_legs,
    )  # fmt: skip


def voicemail_leg(inb: Inbound, mailbox: Extension, party: Party, since_t: float) -> dict[str, Any]:
    """The leg that says the call was sent to `mailbox`'s voicemail at `since_t`."""
    return inb.b.leg(
        owner=mailbox, session=inb.s, party=party, start_t=since_t, end_t=inb.t.now,
        direction="Inbound", action="Phone Call", result="Sent to Voicemail", leg_type="Accept",
        from_=inb.caller_id(), to={"name": mailbox.name, "extensionId": mailbox.id},
    )  # fmt: skip


def ring_user(b: CallBuilder) -> tuple[Inbound, Extension, Party]:
    """A direct call to a user's number, up to the user's phone ringing."""
    user = b.pick(b.topology.users)[0]
    inb = start_inbound(b, did(user))
    party = inb.route(user)
    inb.ring(party)
    return inb, user, party


@kind("answered_direct", category=Category.ANSWERED, stage=Stage.CONNECTED, weight=20)
def answered_direct(b: CallBuilder) -> None:
    """A caller dials a user's number; the user answers; both talk and hang up."""
    inb, user, party = ring_user(b)
    inb.answer(party, 3, 15)
    inb.talk_and_finish(party)
    log_inbound(inb, user, party, "Accepted", "Accepted")
    b.primary(inb.s)


@kind(
    "answered_ivr", category=Category.ANSWERED, stage=Stage.CONNECTED, needs=("user", "ivr"),
    weight=10,
)  # fmt: skip
def answered_ivr(b: CallBuilder) -> None:
    """The main number's IVR menu takes the call; the caller picks a user, who answers."""
    ivr = b.topology.ivr_menu()
    user = b.pick(b.topology.users)[0]
    inb = start_inbound(b, b.account.main_number)
    menu = inb.route(ivr)
    reason = b.rng.choice([None, "CallerInputRedirect"])
    inb.s.emit(menu, inb.t.step(4, 15), "Disconnected", reason=reason)
    party = inb.route(user)
    inb.ring(party)
    inb.answer(party, 3, 12)
    inb.talk_and_finish(party)
    log_inbound(inb, user, party, "Accepted", "Accepted")
    b.primary(inb.s)


@kind("answered_hold", category=Category.ANSWERED, stage=Stage.CONNECTED, weight=6)
def answered_hold(b: CallBuilder) -> None:
    """Answered; the user puts the caller on hold and takes them off it; then a normal end."""
    inb, user, party = ring_user(b)
    inb.answer(party, 3, 12)
    inb.s.emit(party, inb.t.step(10, 60), "Hold")
    inb.s.emit(party, inb.t.step(10, 60), "Answered")
    inb.talk_and_finish(party, 10, 90)
    log_inbound(inb, user, party, "Accepted", "Accepted")
    b.primary(inb.s)


@kind("hold_hangup", category=Category.ANSWERED, stage=Stage.HOLD, weight=2)
def hold_hangup(b: CallBuilder) -> None:
    """Answered, put on hold, and the caller hangs up while on hold (answered unless the
    `hold_hangup_is_abandon` threshold is on)."""
    inb, user, party = ring_user(b)
    inb.answer(party, 3, 12)
    inb.s.emit(party, inb.t.step(10, 60), "Hold")
    inb.caller_hangs_up(inb.t.step(15, 90))
    inb.s.emit(party, inb.t.tick(), "Disconnected")
    log_inbound(inb, user, party, "Accepted", "Accepted")
    b.primary(inb.s)


def to_voicemail(b: CallBuilder) -> tuple[Inbound, Extension, Party, float]:
    """A direct call that rings out to the user's voicemail; also returns when it got there."""
    inb, user, party = ring_user(b)
    inb.s.emit(party, inb.t.step(15, 30), "VoiceMail", missed=True)
    return inb, user, party, inb.t.now


@kind("voicemail_left", category=Category.VOICEMAIL_LEFT, stage=Stage.VOICEMAIL, weight=6)
def voicemail_left(b: CallBuilder) -> None:
    """Nobody answers; the call goes to voicemail and the caller leaves a message."""
    inb, user, party, started = to_voicemail(b)
    inb.caller_hangs_up(inb.t.step(15, 90))
    greeting = b.rng.uniform(4, 8)
    duration = max(3, int(inb.t.now - started - greeting))
    link = b.voicemail(mailbox=user, caller=inb.number, ended_t=inb.t.now, duration_s=duration)
    inb.s.emit(party, inb.t.tick(), "Disconnected", missed=True)
    sent = voicemail_leg(inb, user, party, started)
    log_inbound(inb, user, party, "Voicemail", message=link, other_legs=[sent])
    b.primary(inb.s)


@kind(
    "voicemail_greeting_hangup", category=Category.ABANDONED_VOICEMAIL, reason="during_greeting",
    stage=Stage.VOICEMAIL, weight=3,
)  # fmt: skip
def voicemail_greeting_hangup(b: CallBuilder) -> None:
    """The call reaches voicemail and the caller hangs up during the greeting (no message)."""
    inb, user, party, started = to_voicemail(b)
    inb.caller_hangs_up(inb.t.step(2, 7))
    inb.s.emit(party, inb.t.tick(), "Disconnected", missed=True)
    sent = voicemail_leg(inb, user, party, started)
    log_inbound(inb, user, party, "Missed", "Hang Up", other_legs=[sent])
    b.primary(inb.s)


@kind("short_abandon", category=Category.SHORT_ABANDON, stage=Stage.RINGING, weight=4)
def short_abandon(b: CallBuilder) -> None:
    """The caller hangs up within a few seconds while the user's phone rings."""
    inb, user, party = ring_user(b)
    inb.t.step(1.3, 3.7)
    inb.caller_hangs_up(inb.t.at_least(1.5))
    inb.s.emit(party, inb.t.tick(), "Disconnected", missed=True)
    log_inbound(inb, user, party, "Missed", "Hang Up")
    b.primary(inb.s)


@kind("abandoned_ringing", category=Category.ABANDONED_RINGING, stage=Stage.RINGING, weight=4)
def abandoned_ringing(b: CallBuilder) -> None:
    """The caller gives up after ringing a user for a while (no voicemail reached)."""
    inb, user, party = ring_user(b)
    inb.caller_hangs_up(inb.t.step(7, 25))
    inb.s.emit(party, inb.t.tick(), "Disconnected", missed=True)
    log_inbound(inb, user, party, "Missed", "Hang Up")
    b.primary(inb.s)


@kind("abandoned_ivr", category=Category.ABANDONED_IVR, stage=Stage.IVR, needs=("ivr",), weight=3)
def abandoned_ivr(b: CallBuilder) -> None:
    """The caller hangs up in the IVR menu without picking an option."""
    ivr = b.topology.ivr_menu()
    inb = start_inbound(b, b.account.main_number)
    menu = inb.route(ivr)
    inb.caller_hangs_up(inb.t.step(6, 30))
    inb.s.emit(menu, inb.t.tick(), "Disconnected")
    log_inbound(inb, ivr, menu, "Missed", "Hang Up")
    b.primary(inb.s)


@kind(
    "missed_ring_timeout", category=Category.MISSED, reason="ring_timeout", stage=Stage.RINGING,
    weight=3,
)  # fmt: skip
def missed_ring_timeout(b: CallBuilder) -> None:
    """The user's phone rings until the ring timeout; no voicemail; the system ends the call."""
    inb, user, party = ring_user(b)
    reason = b.rng.choice(["Timeout", "NoAnswer"])
    inb.s.emit(party, inb.t.step(20, 30), "Disconnected", reason=reason, missed=True)
    inb.caller_hangs_up(inb.t.step(0.1, 1.0))
    log_inbound(inb, user, party, "Missed", "No Answer")
    b.primary(inb.s)


@kind("missed_busy_or_rejected", category=Category.MISSED, reason="busy_or_rejected", weight=2)
def missed_busy_or_rejected(b: CallBuilder) -> None:
    """The user is busy (never rings) or rejects the ringing call; no voicemail."""
    user = b.pick(b.topology.users)[0]
    inb = start_inbound(b, did(user))
    party = inb.route(user)
    if b.rng.random() < 0.5:
        inb.s.emit(party, inb.t.step(0.3, 1.5), "Disconnected", reason="TargetBusy", missed=True)
        result, reason = "Busy", "Line Busy"
    else:
        inb.ring(party)
        inb.s.emit(party, inb.t.step(2, 8), "Disconnected", reason="Rejected", missed=True)
        result, reason = "Rejected", "Calls Not Accepted"
    inb.t.step(5, 10)
    inb.caller_hangs_up(inb.t.at_least(6.0))
    log_inbound(inb, user, party, result, reason)
    b.primary(inb.s)


@kind("missed_closed", category=Category.MISSED, reason="closed", weight=2)
def missed_closed(b: CallBuilder) -> None:
    """After hours: the callee (a user or the IVR) plays a closed message and the system ends the
    call without ever ringing anyone."""
    ivr = b.topology.ivr
    if ivr is not None and b.rng.random() < 0.5:
        callee, dialled = ivr, b.account.main_number
    else:
        callee = b.pick(b.topology.users)[0]
        dialled = did(callee)
    inb = start_inbound(b, dialled)
    party = inb.route(callee)
    inb.s.emit(party, inb.t.step(5, 15), "Disconnected", reason="CallFinished")
    inb.caller_hangs_up(inb.t.step(0.2, 2.0))
    log_inbound(inb, callee, party, "Missed", "Calls Not Accepted")
    b.primary(inb.s)


@kind(
    "deflected_forwarded_external",
    category=Category.DEFLECTED,
    reason="forwarded_external",
    weight=2,
)
def deflected_forwarded_external(b: CallBuilder) -> None:
    """The user's rules forward the call to an outside number, which answers. The user's record
    says Accepted; its master leg (FollowMe) names the outside number."""
    user = b.pick(b.topology.users)[0]
    inb = start_inbound(b, did(user))
    inb.s.emit(inb.caller, inb.t.tick(), "Answered", to=reached(inb.dialled, user))
    outside = b.ids.external_number()
    far = inb.s.party(extension=None, direction="Inbound", from_=pstn(inb.number), to=pstn(outside))
    inb.s.emit(far, inb.t.step(0.3, 1.5), "Proceeding")
    inb.answer(far, 5, 15)
    inb.talk_and_finish(far, 20, 120)
    b.log(
        owner=user, session=inb.s, party=far, start_t=0.0, end_t=inb.t.now, direction="Inbound",
        result="Accepted", reason="Accepted", from_=inb.caller_id(), to=reached(inb.dialled, user),
        leg_type="FollowMe", master_leg={"action": "FollowMe", "to": pstn(outside)},
    )  # fmt: skip
    b.primary(inb.s)


@kind("failed", category=Category.FAILED, weight=1)
def failed(b: CallBuilder) -> None:
    """The platform cannot deliver the call to the user (internal error, no such user, blocked)."""
    user = b.pick(b.topology.users)[0]
    inb = start_inbound(b, did(user))
    party = inb.route(user)
    reason = b.rng.choice(FAILURE_REASONS)
    inb.s.emit(party, inb.t.step(0.3, 2.0), "Disconnected", reason=reason)
    inb.t.step(5, 10)
    inb.caller_hangs_up(inb.t.at_least(6.0))
    result = "Internal Error" if reason == "InternalError" else "Call Failed"
    log_inbound(inb, user, party, result)
    b.primary(inb.s)
