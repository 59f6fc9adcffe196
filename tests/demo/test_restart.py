"""A live demo restarted on the same database: the same company (its extensions keep their
ids), new calls (no session id of the previous run comes back, which would merge two calls), and
the same dashboard key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from service.apikeys.queries import list_keys
from service.cli.run import _demo_if_unconfigured
from service.db.engine import create_engine
from service.demo.company import DEMO_KEY_NAME, demo_api_key
from service.demo.live import LiveDemo
from service.demo.platform import DemoPlatform
from service.settings import Settings

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


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


async def test_the_demo_key_is_the_same_across_restarts_and_alone(
    settings: Settings, tmp_path: Path
) -> None:
    """One demo key: a restart on the same database shows the same dashboard link; a database
    without it (or a revoked key) gets a new one, and older demo keys are revoked."""
    engine = create_engine(settings)
    saved = tmp_path / ".callsift-demo-key"
    try:
        first = await demo_api_key(engine, now=NOW, path=saved)
        assert await demo_api_key(engine, now=NOW, path=saved) == first
        saved.write_text("csk_a-key-this-database-never-had\n")
        second = await demo_api_key(engine, now=NOW, path=saved)
        assert second != first
        assert saved.read_text().strip() == second
        assert oct(saved.stat().st_mode & 0o777) == "0o600"
        async with engine.connect() as connection:
            keys = await list_keys(connection)
    finally:
        await engine.dispose()
    active = [key for key in keys if key.revoked_at is None]
    assert [key.name for key in active] == [DEMO_KEY_NAME]
    assert len(keys) == 2
