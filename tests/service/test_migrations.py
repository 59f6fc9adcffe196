"""The migrations build exactly the schema `service.db.tables` describes, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from service.db.engine import create_engine
from service.db.migrate import alembic_config, upgrade
from service.db.tables import metadata
from service.rollups import queries as rollup_queries
from service.rollups.slices import quarter_of
from service.settings import Settings
from tests.api.rollup_support import SPAN, START, outcome_rows, refresh_all, report, store_rows


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_matches_the_table_definitions(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_the_recovery_migration_gives_stored_outcomes_their_caller_keys(
    tmp_path: Path,
) -> None:
    """Outcomes stored before migration 0006 get the key of their outside number."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(Settings(_env_file=None, database_url=url))
    now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    calls = {
        "in": ("inbound", "+14155550123", "+18005550199"),
        "out": ("outbound", "+18005550199", "4155550123"),
        "anonymous": ("inbound", "anonymous", "+18005550199"),
    }
    try:
        await upgrade(engine, "0005")
        async with engine.begin() as connection:
            for seq, (session, (direction, from_number, to_number)) in enumerate(calls.items()):
                await connection.execute(
                    text(
                        "INSERT INTO call_outcomes (telephony_session_id, direction, category, "
                        "stage, is_abandoned, ever_abandoned, final, started_at, from_number, "
                        "to_number, rules_version, document, revision, created_at, updated_at, "
                        "change_seq) VALUES (:s, :d, 'answered', 'connected', false, false, true, "
                        ":t, :f, :to, '3', '{}', 1, :t, :t, :seq)"
                    ),
                    {
                        "s": session,
                        "d": direction,
                        "f": from_number,
                        "to": to_number,
                        "t": now,
                        "seq": seq + 1,
                    },
                )
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT telephony_session_id, caller_key FROM call_outcomes")
            )
            keys: dict[str, str | None] = {row.telephony_session_id: row.caller_key for row in rows}
    finally:
        await engine.dispose()
    assert keys == {"in": "14155550123", "out": "14155550123", "anonymous": None}


async def test_the_queue_migration_queues_the_events_not_yet_processed(tmp_path: Path) -> None:
    """Events unprocessed before migration 0010 wait in `event_queue`; processed ones do not."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(Settings(_env_file=None, database_url=url))
    now = datetime(2026, 3, 10, 9, tzinfo=UTC)
    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            for number, processed_at in enumerate((now, None, now, None)):
                await connection.execute(
                    text(
                        "INSERT INTO raw_events (uuid, received_at, event, kind, payload, "
                        "processed_at) VALUES (:u, :t, '/e', 'telephony', '{}', :p)"
                    ),
                    {"u": f"u{number}", "t": now, "p": processed_at},
                )
        await upgrade(engine)
        async with engine.connect() as connection:
            queued = await connection.execute(
                text(
                    "SELECT r.uuid FROM event_queue AS q JOIN raw_events AS r ON r.id = q.id "
                    "ORDER BY r.uuid"
                )
            )
            uuids = list(queued.scalars())
    finally:
        await engine.dispose()
    assert uuids == ["u1", "u3"]


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def test_the_rollups_migration_marks_existing_outcomes_for_the_refresher(
    settings: Settings,
) -> None:
    """Outcomes stored before migration 0007 get their rollups: every quarter that holds one is
    marked, the refresher builds them, and reports read from them equal reports from the calls."""
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade, "0006")
        outcomes, legs = outcome_rows(seed=5, count=400)
        await store_rows(settings, outcomes, legs, mark=False)
        await upgrade(engine)
        async with engine.connect() as connection:
            marked = await rollup_queries.count_marks(connection)
        quarters = {quarter_of(row["started_at"]) for row in outcomes if row["started_at"]}
        assert marked == len(quarters)
        assert await refresh_all(settings) == len(quarters)
        for group_by in ("day", "extension"):
            case = {"start": START, "end": START + SPAN, "group_by": group_by, "sla_s": 20.0}
            from_calls = await report(engine, rollups=False, **case)
            assert from_calls["totals"]["offered"] > 100
            assert await report(engine, rollups=True, **case) == from_calls
    finally:
        await engine.dispose()
