"""Call-log leases on SQLite and PostgreSQL: a pass renews the leases it holds, leaves one that
ran out and another replica took, and a credential whose sync was killed mid-pass (its lease
neither renewed nor released) is synced again once the short lease has run out."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from service.calllog import queries
from service.calllog.leases import LEASE, HeldLeases
from service.calllog.loop import CallLogLoop
from service.db.tables import call_log_sync
from service.ringcentral.runtime import call_log_policy
from tests.subscriptions.harness import Harness, running


def _loop(harness: Harness) -> CallLogLoop:
    return CallLogLoop(
        harness.services.engine,
        harness.runtime,
        policy=call_log_policy(harness.settings),
        interval_s=300.0,
        clock=harness.emulator.now,
    )


async def _leases(harness: Harness) -> dict[str, datetime | None]:
    async with harness.services.engine.connect() as connection:
        rows = await connection.execute(
            select(call_log_sync.c.extension_id, call_log_sync.c.lease_until)
        )
        return {row.extension_id: row.lease_until for row in rows}


async def _claim(harness: Harness, extension_ids: list[str], now: datetime) -> list[str]:
    async with harness.services.engine.begin() as connection:
        await queries.ensure_sync_rows(connection, now)
        rows = await queries.claim_due(
            connection, now=now, lease_until=now + LEASE, limit=10, extension_ids=extension_ids
        )
    return [row.extension_id for row in rows]


async def test_renewal_extends_held_leases_and_leaves_one_another_replica_took(
    database_url: str,
) -> None:
    async with running(database_url, users=2) as harness:
        first, second = harness.user_ids()
        for extension_id in (first, second):
            await harness.register(extension_id)
        start = harness.emulator.now()
        assert await _claim(harness, [first, second], start) == [first, second]
        moment = start
        leases = HeldLeases(
            harness.services.engine,
            [first, second],
            leased_until=start + LEASE,
            clock=lambda: moment,
        )

        moment = start + timedelta(minutes=1)
        await leases.renew()
        assert await _leases(harness) == {first: moment + LEASE, second: moment + LEASE}
        assert leases.held == {first: moment + LEASE, second: moment + LEASE}

        # the pass stalls past its lease; another replica takes `second`
        taken_at = moment + LEASE + timedelta(seconds=1)
        assert await _claim(harness, [second], taken_at) == [second]
        moment = taken_at + timedelta(seconds=5)
        await leases.renew()
        assert await _leases(harness) == {first: moment + LEASE, second: taken_at + LEASE}
        assert list(leases.held) == [first]

        leases.release(first)
        await leases.renew()  # nothing held: nothing written
        assert (await _leases(harness))[first] == moment + LEASE


async def test_a_sync_killed_mid_pass_is_taken_up_once_its_lease_ran_out(
    database_url: str,
) -> None:
    async with running(database_url, users=1) as harness:
        (user,) = harness.user_ids()
        await harness.register(user)
        await harness.emulator.play(None, count=3, seed=5)
        await harness.emulator.advance(harness.emulator.config.call_log_delay_s + 1)
        # a pass leased it, then its process was killed: no renewal, no release
        assert await _claim(harness, [user], harness.emulator.now()) == [user]

        loop = _loop(harness)
        await harness.emulator.advance(LEASE.total_seconds() - 10)
        assert await loop.run_pass(extension_ids=[user]) == []  # still held
        await harness.emulator.advance(11)
        (report,) = await loop.run_pass(extension_ids=[user])
        assert (report.extension_id, report.error) == (user, None)
        assert report.new > 0
        assert await _leases(harness) == {user: None}  # released when the pass ended


class _CountedLeases(HeldLeases):
    """Says when `keep` has renewed twice."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renewals = 0
        self.renewed = asyncio.Event()

    async def renew(self) -> None:
        await super().renew()
        self.renewals += 1
        if self.renewals == 2:
            self.renewed.set()


async def test_keep_renews_until_cancelled(database_url: str) -> None:
    async with running(database_url, users=1) as harness:
        (user,) = harness.user_ids()
        await harness.register(user)
        start = harness.emulator.now()
        assert await _claim(harness, [user], start) == [user]
        later = start + timedelta(seconds=40)
        leases = _CountedLeases(
            harness.services.engine, [user], leased_until=start + LEASE, clock=lambda: later
        )
        keeping = asyncio.create_task(leases.keep(every_s=0.0))
        async with asyncio.timeout(10):
            await leases.renewed.wait()
        keeping.cancel()
        await asyncio.gather(keeping, return_exceptions=True)
        assert keeping.cancelled()
        assert await _leases(harness) == {user: later + LEASE}
        assert leases.held == {user: later + LEASE}
