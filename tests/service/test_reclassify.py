"""`callsift reclassify` applies changed thresholds to stored history, bumping revisions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import select
from typer.testing import CliRunner, Result

from service.cli import app
from service.db.engine import create_engine
from service.db.tables import call_outcomes
from service.processing.processor import ProcessingContext, process_new_events
from service.settings import Settings
from tests.service.test_processor import post_all

HOLD_HANGUP = Path(__file__).parents[2] / "fixtures" / "sessions" / "abandoned-hold-account.jsonl"


async def _callsift(args: list[str], env: dict[str, str]) -> Result:
    """The command runs its own event loop, so it gets a thread of its own."""
    return await asyncio.to_thread(CliRunner().invoke, app, args, env=env)


async def _outcome(settings: Settings) -> tuple[str, int]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(select(call_outcomes))).one()
    finally:
        await engine.dispose()
    return row.category, row.revision


async def test_a_threshold_change_reclassifies_history(
    ingest_only: str, manual_settings: Settings
) -> None:
    notifications = [orjson.loads(line) for line in HOLD_HANGUP.read_bytes().splitlines()]
    await post_all(ingest_only, notifications)
    engine = create_engine(manual_settings)
    context = ProcessingContext(
        now=datetime.now(UTC), thresholds=manual_settings.thresholds(), directory={}
    )
    try:
        async with engine.begin() as connection:
            await process_new_events(connection, context=context, claim_size=100)
    finally:
        await engine.dispose()
    assert await _outcome(manual_settings) == ("answered", 1)

    env = {
        "CALLSIFT_DATABASE_URL": manual_settings.database_url,
        "CALLSIFT_HOLD_HANGUP_IS_ABANDON": "true",
    }
    result = await _callsift(["reclassify", "--since", "2020-01-01"], env)
    assert result.exit_code == 0, result.output
    assert "reclassified 1 sessions; 1 outcomes changed" in result.output
    assert await _outcome(manual_settings) == ("abandoned_hold", 2)

    unchanged = await _callsift(["reclassify"], env)
    assert "1 sessions; 0 outcomes changed" in unchanged.output
    assert await _outcome(manual_settings) == ("abandoned_hold", 2)

    bad = await _callsift(["reclassify", "--since", "last tuesday"], env)
    assert bad.exit_code == 2
