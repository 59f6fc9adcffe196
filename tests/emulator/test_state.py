"""The in-process Python API (`app.state.emulator`): determinism, the clock, the timer task."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emulator.app import create_emulator_app
from emulator.clock import SimClock
from emulator.config import ChaosConfig, EmulatorConfig
from emulator.scenarios import ScenarioError
from emulator.state import Emulator
from tests.emulator.conftest import PlatformFactory, ReceiverFactory


async def scripted_run(seed: int) -> list[Any]:
    # new-style session ids embed the call's start time (as the platform's do), which follows
    # the real clock; classic ids depend on the seed alone
    emulator = Emulator(EmulatorConfig(seed=seed, timer_tick_s=0, session_id_style="classic"))
    try:
        app = emulator.create_app()
        account = emulator.create_demo_account()
        emulator.issue_jwt(account.id, app.client_id)
        play = await emulator.play(["all"], seed=4)
        jti = next(iter(emulator.directory.jwts.values())).jti
        calls = [
            (
                c.kind,
                c.truth.telephony_session_id,
                [e.party for e in c.events],
                [r.id for r in c.call_log],
            )
            for c in play.calls
        ]
        return [app.client_id, app.client_secret, account.id, jti, calls]
    finally:
        await emulator.close()


async def test_same_seed_same_platform() -> None:
    first, again, other = await scripted_run(42), await scripted_run(42), await scripted_run(43)
    assert first == again
    assert first[0] != other[0]
    assert first[4][0][1] != other[4][0][1]


async def test_python_api_mirrors_admin_routes() -> None:
    app = create_emulator_app(EmulatorConfig(timer_tick_s=0))
    emulator: Emulator = app.state.emulator
    with pytest.raises(ScenarioError, match="no account exists"):
        await emulator.play(["answered_direct"])
    emulator.create_demo_account()
    play = await emulator.play(None, count=12, chaos=ChaosConfig(drop=0.5))
    assert play.status == "done"
    assert len(emulator.calls_of(play.id)) == 12
    assert len(emulator.calls_of(kind=play.calls[0].kind)) >= 1
    moved = await emulator.advance(30)
    assert moved >= play.calls[-1].ended_at
    await emulator.reset()
    assert emulator.calls == []
    assert emulator.directory.accounts == {}
    await emulator.close()


async def test_clock_moves_forward_only_and_wakes_sleepers() -> None:
    clock = SimClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    target = clock.now().replace(year=clock.now().year + 1)
    sleeper = asyncio.create_task(clock.sleep_until(target))
    await asyncio.sleep(0)  # let it start waiting (no timing involved)
    assert not sleeper.done()
    clock.advance_to(target)
    await asyncio.wait_for(sleeper, timeout=10)
    assert clock.offset_s > 364 * 86400


async def test_background_timer_sends_reminders(
    make_platform: PlatformFactory, make_receiver: ReceiverFactory
) -> None:
    platform = await make_platform(timer_tick_s=0.02)
    alice = await platform.login(platform.extension("Alice Adams"))
    receiver = await make_receiver()
    reminder = "/restapi/v1.0/subscription/~?threshold=120&interval=30"
    await platform.subscribe(alice, receiver.url, [reminder], expiresIn=600)
    receiver.arrival.clear()
    platform.emulator.clock.advance(500)  # only the clock: the timer task must notice
    await asyncio.wait_for(receiver.arrival.wait(), timeout=10)
    assert receiver.notifications[0].json()["event"] == reminder
