"""`LoopTurns`: long CPU work in a request yields to the event loop once per slice of time."""

from __future__ import annotations

import asyncio

from service.loopturns import LoopTurns


async def test_a_turn_yields_to_the_loop_only_once_its_slice_has_gone_by() -> None:
    ran: list[int] = []

    async def other() -> None:
        ran.append(1)

    waiting = LoopTurns(slice_s=3600.0)
    task = asyncio.create_task(other())
    for _ in range(100):
        await waiting.turn()
    assert (waiting.turns, ran) == (0, [])  # never yielded: the other task has not run
    every_time = LoopTurns(slice_s=0.0)
    await every_time.turn()
    assert (every_time.turns, ran) == (1, [1])
    await task
