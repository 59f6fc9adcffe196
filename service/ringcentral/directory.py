"""The extension directory: synced from RingCentral, cached for the classifier."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from classifiers import DirectoryEntry
from service.ringcentral import queries
from service.ringcentral.runtime import RingCentralRuntime


async def sync_directory(engine: AsyncEngine, runtime: RingCentralRuntime) -> int:
    """Re-read the account's extensions with any active extension's token; returns the count."""
    async with engine.connect() as connection:
        overview = await queries.extension_overview(connection)
    active = [row.extension_id for row in overview if row.status == "active"]
    if not active:
        return 0
    reader = active[0]
    records = await runtime.client.list_extensions(
        auth=runtime.tokens.auth(reader), rate_key=reader
    )
    now = runtime.clock()
    rows = [
        {
            "extension_id": record.id,
            "name": record.name,
            "extension_number": record.extension_number,
            "kind": record.type,
            "synced_at": now,
        }
        for record in records
    ]
    async with engine.begin() as connection:
        await queries.replace_directory(connection, rows)
        for record in records:
            if record.id in active and record.name:
                await queries.update_extension(connection, record.id, name=record.name)
    return len(rows)


class DirectoryCache:
    """The directory as the processor sees it: re-read from the database whenever it was synced
    since the last read (by this process or another replica), checked at every use (a claim)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._entries: Mapping[str, DirectoryEntry] = {}
        self._synced_at: datetime | None = None
        self._stale = True

    def invalidate(self) -> None:
        """Re-read at the next use (the directory was just synced here)."""
        self._stale = True

    async def current(self) -> Mapping[str, DirectoryEntry]:
        async with self._engine.connect() as connection:
            synced_at = await queries.directory_synced_at(connection)
            if self._stale or synced_at != self._synced_at:
                self._stale = False
                rows = await queries.directory(connection)
                self._entries = {
                    row.extension_id: DirectoryEntry(
                        kind=row.kind or "Other",
                        name=row.name,
                        extension_number=row.extension_number,
                    )
                    for row in rows
                }
                self._synced_at = synced_at
        return self._entries
