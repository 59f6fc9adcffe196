"""Calls to a call queue (extension kind `Department`): answered, abandoned, missed, deflected.

The queue's party goes Setup and holds the call; agents appear with `queueCall: true` and first
state Proceeding. On accept the queue party Disconnects (no reason) and the other agents get
reason `Pickup`. Every member who rang and did not answer gets a `Missed` call-log record, and
every agent's record names the queue (`delegationType` QueueForwarding, `delegate`); the queue's
own record is addressed to the queue.
"""

from __future__ import annotations

from classifiers.outcome import Category, Stage
from emulator.directory import Extension
from emulator.scenarios.builder import CallBuilder, Party, pstn
from emulator.scenarios.flows import Inbound, start_inbound
from emulator.scenarios.inbound import log_inbound
from emulator.scenarios.registry import kind

QUEUE_NEEDS = ("queue",)


def enter_queue(b: CallBuilder) -> tuple[Inbound, Extension, Party]:
    queue = b.topology.call_queue()
    inb = start_inbound(b, queue.phone_number or b.account.main_number)
    return inb, queue, inb.route(queue)


def alert_agents(inb: Inbound, queue: Extension, count: int) -> list[tuple[Extension, Party]]:
    if count == 0:
        return []
    inb.t.step(0.5, 3.0)
    return [(agent, inb.agent(agent, queue)) for agent in inb.b.pick(inb.b.topology.agents, count)]


def log_agents(
    inb: Inbound,
    queue: Extension,
    agents: list[tuple[Extension, Party]],
    result: str,
    reason: str | None,
) -> None:
    """The records of agents who rang for `queue`."""
    for agent, party in agents:
        log_inbound(inb, agent, party, result, reason, queue=queue)


@kind(
    "answered_queue", category=Category.ANSWERED, stage=Stage.CONNECTED, needs=QUEUE_NEEDS,
    weight=14,
)  # fmt: skip
def answered_queue(b: CallBuilder) -> None:
    """The call waits in a queue while agents ring; one agent accepts it."""
    inb, queue, held = enter_queue(b)
    agents = alert_agents(inb, queue, b.rng.randint(1, len(b.topology.agents)))
    (winner, answering), others = agents[0], agents[1:]
    inb.answer(answering, 3, 25)
    inb.s.emit(held, inb.t.tick(), "Disconnected")
    for _, party in others:
        inb.s.emit(party, inb.t.tick(), "Disconnected", reason="Pickup", missed=True)
    inb.talk_and_finish(answering)
    log_agents(inb, queue, [(winner, answering)], "Accepted", "Accepted")
    log_agents(inb, queue, others, "Missed", "Stopped")
    b.primary(inb.s, queue=queue)


@kind(
    "abandoned_queue", category=Category.ABANDONED_QUEUE, stage=Stage.QUEUE, needs=QUEUE_NEEDS,
    weight=5,
)  # fmt: skip
def abandoned_queue(b: CallBuilder) -> None:
    """The caller hangs up while waiting in the queue (agents ringing, or none yet)."""
    inb, queue, held = enter_queue(b)
    count = 0 if b.rng.random() < 0.3 else b.rng.randint(1, len(b.topology.agents))
    agents = alert_agents(inb, queue, count)
    inb.t.step(8, 120)
    inb.caller_hangs_up(inb.t.at_least(7.0))
    for _, party in agents:
        inb.s.emit(party, inb.t.tick(), "Disconnected", missed=True)
    inb.s.emit(held, inb.t.tick(), "Disconnected")
    log_inbound(inb, queue, held, "Missed", "Hang Up")
    log_agents(inb, queue, agents, "Missed", "Hang Up")
    b.primary(inb.s, queue=queue)


@kind(
    "missed_queue_timeout", category=Category.MISSED, reason="queue_timeout", stage=Stage.QUEUE,
    needs=QUEUE_NEEDS, weight=2,
)  # fmt: skip
def missed_queue_timeout(b: CallBuilder) -> None:
    """Agents ring until the queue's maximum wait; the queue gives up; no voicemail."""
    inb, queue, held = enter_queue(b)
    agents = alert_agents(inb, queue, b.rng.randint(1, len(b.topology.agents)))
    inb.t.step(60, 180)
    for _, party in agents:
        inb.s.emit(party, inb.t.tick(), "Disconnected", reason="Timeout", missed=True)
    inb.s.emit(held, inb.t.tick(), "Disconnected", reason="Timeout")
    inb.caller_hangs_up(inb.t.step(0.1, 1.0))
    log_inbound(inb, queue, held, "Missed", "No Answer")
    log_agents(inb, queue, agents, "Missed", "No Answer")
    b.primary(inb.s, queue=queue)


@kind(
    "missed_no_agents", category=Category.MISSED, reason="no_agents", stage=Stage.QUEUE,
    needs=QUEUE_NEEDS, weight=1,
)  # fmt: skip
def missed_no_agents(b: CallBuilder) -> None:
    """No agent is available: the queue plays its message and ends the call; nobody rang."""
    inb, queue, held = enter_queue(b)
    inb.s.emit(held, inb.t.step(6, 20), "Disconnected", reason="NoAnswer")
    inb.caller_hangs_up(inb.t.step(0.2, 2.0))
    log_inbound(inb, queue, held, "Missed", "No Answer")
    b.primary(inb.s, queue=queue)


@kind(
    "deflected_exit_key", category=Category.DEFLECTED, reason="exit_key", needs=QUEUE_NEEDS,
    weight=1,
)  # fmt: skip
def deflected_exit_key(b: CallBuilder) -> None:
    """The caller presses the queue's exit key and leaves our parties (e.g. to a mailbox
    outside the account); the caller's leg ends a little later. The queue's record is Missed,
    with a TransferCall leg to the outside number."""
    inb, queue, held = enter_queue(b)
    left = inb.t.step(10, 60)
    inb.s.emit(held, left, "Disconnected", reason="DtmfTransfer")
    inb.caller_hangs_up(inb.t.step(1, 30))
    transfer = b.leg(
        owner=queue, session=inb.s, party=held, start_t=left, end_t=inb.t.now,
        direction="Inbound", action="Transfer", result="Accepted", leg_type="TransferCall",
        from_=inb.caller_id(), to=pstn(b.ids.external_number()),
    )  # fmt: skip
    log_inbound(inb, queue, held, "Missed", other_legs=[transfer])
    b.primary(inb.s, queue=queue)


@kind(
    "deflected_callback_requested", category=Category.DEFLECTED, reason="callback_requested",
    needs=QUEUE_NEEDS, evidence=("call_log",), weight=1,
)  # fmt: skip
def deflected_callback_requested(b: CallBuilder) -> None:
    """The caller asks the queue for a callback and hangs up. The events look like a queue
    abandon; only the call-log record (`result: Callback requested`) tells them apart."""
    inb, queue, held = enter_queue(b)
    inb.t.step(20, 90)
    inb.caller_hangs_up(inb.t.now)
    inb.s.emit(held, inb.t.tick(), "Disconnected")
    log_inbound(inb, queue, held, "Callback requested")
    b.primary(inb.s, queue=queue)
