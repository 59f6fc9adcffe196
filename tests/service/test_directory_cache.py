"""The extension directory as the processors see it: a sync by any replica reaches every
processor at its next batch, and the subscription loop syncs it before it creates a subscription
(else the first events of a new deployment were classified with no directory: a queue abandon
stored as an IVR abandon, found by the replica test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from classifiers import DirectoryEntry
from service.db.engine import create_engine
from service.ringcentral import loop as subscription_loop
from service.ringcentral import queries
from service.ringcentral.directory import DirectoryCache, sync_directory
from service.settings import Settings
from tests.subscriptions.harness import running

SYNCED = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def _entry(extension_id: str, kind: str, at: datetime) -> dict[str, Any]:
    return {
        "extension_id": extension_id,
        "name": f"{kind} {extension_id}",
        "extension_number": extension_id[-3:],
        "kind": kind,
        "synced_at": at,
    }


async def test_a_sync_by_another_replica_is_seen_at_the_next_use(settings: Settings) -> None:
    syncing, reading = create_engine(settings), create_engine(settings)
    try:
        cache = DirectoryCache(reading)  # another process's processor
        assert await cache.current() == {}
        async with syncing.begin() as connection:
            await queries.replace_directory(connection, [_entry("300016", "Department", SYNCED)])
        seen = await cache.current()
        assert seen == {
            "300016": DirectoryEntry("Department", "Department 300016", extension_number="016")
        }
        assert await cache.current() is seen  # not re-read while the directory is unchanged
        later = SYNCED + timedelta(days=1)
        async with syncing.begin() as connection:
            await queries.replace_directory(connection, [_entry("300016", "IvrMenu", later)])
        assert (await cache.current())["300016"].kind == "IvrMenu"
    finally:
        await syncing.dispose()
        await reading.dispose()


async def test_the_first_pass_syncs_the_directory_before_it_subscribes(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriptions_at_sync: list[int] = []
    async with running(database_url, users=2) as harness:

        async def recording_sync(*args: Any, **kwargs: Any) -> int:
            subscriptions_at_sync.append(len(harness.emulator.list_subscriptions()))
            return await sync_directory(*args, **kwargs)

        monkeypatch.setattr(subscription_loop, "sync_directory", recording_sync)
        for user in harness.user_ids():
            await harness.register(user)
        await harness.run_pass()
        assert len(harness.live_subscriptions()) == 2
        async with harness.services.engine.connect() as connection:
            assert await queries.directory(connection)
    assert subscriptions_at_sync == [0]
