"""SQL of the ingest area: idempotent inserts of raw events and quarantined bodies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.tables import quarantined_events, raw_events


def _insert_ignoring_duplicates(dialect_name: str) -> Insert:
    if dialect_name == "postgresql":
        return postgresql.insert(raw_events).on_conflict_do_nothing(index_elements=["uuid"])
    if dialect_name == "sqlite":
        return sqlite.insert(raw_events).on_conflict_do_nothing(index_elements=["uuid"])
    msg = f"no idempotent insert for dialect {dialect_name!r}"
    raise NotImplementedError(msg)


async def insert_raw_events(
    connection: AsyncConnection, rows: Sequence[dict[str, Any]]
) -> set[str]:
    """Insert rows whose uuid is new; returns the uuids actually inserted."""
    if not rows:
        return set()
    statement = _insert_ignoring_duplicates(connection.dialect.name).returning(raw_events.c.uuid)
    result = await connection.execute(statement, list(rows))
    return set(result.scalars().all())


async def insert_quarantined(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(insert(quarantined_events), list(rows))
