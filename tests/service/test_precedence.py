"""`Precedence`: the rollup refresher gives way to the processor's drains, slowed and never
starved."""

from __future__ import annotations

import asyncio

from service.background import Precedence


async def test_giving_way_returns_at_once_when_nothing_urgent_runs() -> None:
    precedence = Precedence()
    await asyncio.wait_for(precedence.give_way(most_s=3600), timeout=60)


async def test_giving_way_waits_for_every_urgent_stretch_to_end() -> None:
    precedence = Precedence()
    with precedence.within():
        with precedence.within():
            waiting = asyncio.create_task(precedence.give_way(most_s=3600))
            for _ in range(5):
                await asyncio.sleep(0)
            assert not waiting.done()
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()  # one stretch still runs
    await asyncio.wait_for(waiting, timeout=60)


async def test_giving_way_waits_no_longer_than_asked() -> None:
    precedence = Precedence()
    with precedence.within():
        await asyncio.wait_for(precedence.give_way(most_s=0), timeout=60)
