"""A live demo restarted on the same database: the same company (its extensions keep their
ids), new calls (no session id of the previous run comes back, which would merge two calls)."""

from __future__ import annotations

from service.cli.run import _demo_if_unconfigured
from service.demo.live import LiveDemo
from service.demo.platform import DemoPlatform
from service.settings import Settings


async def _played(platform: DemoPlatform) -> tuple[set[str], set[str]]:
    await platform.start()
    try:
        play = await platform.play(30, seed=0, chaos=False, realtime=False, lose_webhooks=0.1)
    finally:
        await platform.stop()
    sessions = {event.telephony_session_id for call in play.calls for event in call.events}
    return set(platform.account.extensions), sessions


async def test_a_new_calls_seed_keeps_the_company_and_changes_every_call() -> None:
    first_extensions, first_sessions = await _played(DemoPlatform(seed=1, calls_seed=11))
    again_extensions, again_sessions = await _played(DemoPlatform(seed=1, calls_seed=11))
    other_extensions, other_sessions = await _played(DemoPlatform(seed=1, calls_seed=12))
    classic = {session for session in first_sessions if "z" not in session}  # no time in them
    assert classic
    assert classic <= again_sessions  # a seed still reproduces a run
    assert first_extensions == again_extensions == other_extensions
    assert len(first_sessions) >= 30
    assert not first_sessions & other_sessions


async def test_each_start_of_the_live_demo_plays_new_calls(settings: Settings) -> None:
    unconfigured = settings.model_copy(
        update={"rc_client_id": None, "rc_client_secret": None, "webhook_verification_token": None}
    )
    seeds = []
    for _ in range(2):
        _, demo = _demo_if_unconfigured(unconfigured)
        assert isinstance(demo, LiveDemo)
        config = demo.platform.emulator.config
        seeds.append((config.seed, config.calls_seed))
        await demo.platform.start()  # serves, then closes, the socket it holds
        await demo.platform.stop()
    assert seeds[0][0] == seeds[1][0]
    assert seeds[0][1] != seeds[1][1]
