"""The call-log loop against the RingCentral emulator over real HTTP, on SQLite and PostgreSQL:
replicas share the credentials (each synced once), lost calls come back from the call log with
their true outcome, a re-created subscription makes its call log due at once, and the metrics
and API show the result."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import func, select

from emulator.config import ChaosConfig
from service.api import queries as api_queries
from service.calllog import queries
from service.calllog.expectation import CALL_LOG_SETTLE, NO_CALL_LOG, CallLogExpectation
from service.calllog.loop import EXPECTATION_TTL, CallLogLoop, ExpectationCache
from service.db.tables import call_log_pending, call_outcomes
from service.ringcentral.loop import SubscriptionLoop
from service.ringcentral.runtime import call_log_policy, policy
from subscriptions.lifecycle import Action
from tests.subscriptions.harness import Harness, running


def _loop(harness: Harness, interval_s: float = 300.0) -> CallLogLoop:
    return CallLogLoop(
        harness.services.engine,
        harness.runtime,
        policy=call_log_policy(harness.settings),
        interval_s=interval_s,
        clock=harness.emulator.now,
        on_records=lambda _counts: harness.services.processor.wake(),
    )


async def _settle_records(harness: Harness) -> None:
    async with asyncio.timeout(30):
        while True:
            async with harness.services.engine.connect() as connection:
                pending = await connection.scalar(
                    select(func.count()).select_from(call_log_pending)
                )
            if not pending:
                break
            harness.services.processor.wake()
            await asyncio.sleep(0.01)
    await harness.settle()


async def test_replicas_share_the_credentials_and_lost_calls_come_back_true(
    database_url: str,
) -> None:
    async with running(database_url, users=3) as harness:
        users = harness.user_ids()
        for extension_id in users:
            await harness.register(extension_id)
        await harness.run_pass()
        play = await harness.emulator.play(
            None, count=40, seed=3, chaos=ChaosConfig(lose_calls=0.4)
        )
        await harness.settle()
        await harness.emulator.advance(harness.emulator.config.call_log_delay_s + 1)

        reports = await asyncio.gather(_loop(harness).run_pass(), _loop(harness).run_pass())

        synced = sorted(report.extension_id for pass_ in reports for report in pass_)
        assert synced == users  # each credential once, whichever replica leased it
        assert all(report.error is None for pass_ in reports for report in pass_)
        await _settle_records(harness)
        lost = [call for call in play.calls if call.webhooks == "lost"]
        assert len(lost) >= 8
        async with harness.services.engine.connect() as connection:
            rows = await connection.execute(
                select(call_outcomes.c.telephony_session_id, call_outcomes.c.document)
            )
            outcomes = {row[0]: orjson.loads(row[1]) for row in rows}
        for call in lost:
            outcome = outcomes[call.truth.telephony_session_id]
            assert outcome["reconciliation"] == "call_log_only", call.kind
            assert outcome["category"] == call.truth.category.value, call.kind
        async with harness.services.engine.connect() as connection:
            overview = await queries.sync_overview(connection)
        assert sorted(overview) == users
        assert all(
            row.synced_through is not None and row.failures == 0 for row in overview.values()
        )
        assert all(row.records_stored > 0 for row in overview.values())


async def test_a_second_pass_reads_the_overlap_and_stores_nothing_new(database_url: str) -> None:
    async with running(database_url, users=1) as harness:
        (user,) = harness.user_ids()
        await harness.register(user)
        await harness.emulator.play(None, count=5, seed=4)
        await harness.emulator.advance(harness.emulator.config.call_log_delay_s + 1)
        loop = _loop(harness)
        (first,) = await loop.run_pass(extension_ids=[user])
        assert first.new > 0
        assert first.windows == 7  # the week of backfill, a day at a time
        (second,) = await loop.run_pass(extension_ids=[user])
        assert (second.new, second.changed) == (0, 0)
        assert second.unchanged == first.new
        assert second.windows == 1
        assert await loop.run_pass() == []  # nothing is due before the interval


async def test_a_recreated_subscription_makes_its_call_log_due_at_once(database_url: str) -> None:
    async with running(database_url, users=2) as harness:
        users = harness.user_ids()
        for extension_id in users:
            await harness.register(extension_id)
        call_log = _loop(harness, interval_s=86400)  # not due again within the test
        subscriptions = SubscriptionLoop(
            harness.services.engine,
            harness.runtime,
            policy=policy(harness.settings),
            interval_s=60,
            directory_refresh=timedelta(hours=6),
            clock=harness.emulator.now,
            on_recreated=call_log.request_sync,
        )
        await subscriptions.run_pass()
        await call_log.run_pass()  # the backfill; now nothing is due for the interval
        assert await call_log.run_pass() == []
        harness.emulator.blacklist_subscription(harness.live_subscriptions()[users[0]].id)
        await harness.advance(3600)  # a status check is due: it finds the blacklisting
        results = await subscriptions.run_pass()
        assert {r.extension_id: r.action for r in results}[users[0]] is Action.RECREATED
        resynced = await call_log.run_pass()
        assert [report.extension_id for report in resynced] == [users[0]]


async def test_the_api_and_metrics_show_the_call_log(database_url: str) -> None:
    async with running(database_url, users=1) as harness:
        (user,) = harness.user_ids()
        await harness.register(user)
        await harness.emulator.play(None, count=6, seed=5, chaos=ChaosConfig(lose_calls=1.0))
        await harness.emulator.advance(harness.emulator.config.call_log_delay_s + 1)
        loop = CallLogLoop(
            harness.services.engine,
            harness.runtime,
            policy=call_log_policy(harness.settings),
            interval_s=300,
            clock=harness.emulator.now,
            on_records=harness.services.metrics.record_call_log_saved,
            on_pass=harness.services.metrics.record_call_log_syncs,
        )
        await loop.run_pass()
        await _settle_records(harness)
        async with harness.services.engine.connect() as connection:
            rows = await api_queries.list_calls(
                connection,
                api_queries.CallFilters(sources=("call_log",), reconciliations=("call_log_only",)),
                after=None,
                limit=100,
            )
            webhook_rows = await api_queries.list_calls(
                connection, api_queries.CallFilters(sources=("webhook",)), after=None, limit=100
            )
        assert len(rows) >= 6
        assert webhook_rows == []
        metrics = harness.services.metrics.registry
        stored = metrics.get_sample_value(
            "callsift_call_log_records_stored_total", {"change": "new"}
        )
        assert stored is not None
        assert stored >= 6
        lag = metrics.get_sample_value("callsift_call_log_sync_lag_seconds", {"extension_id": user})
        assert lag is not None
        assert lag < 60


async def test_the_processor_reads_the_expectation_again_once_a_sync_window_is_done(
    database_url: str,
) -> None:
    async with running(database_url, users=1) as harness:
        (user,) = harness.user_ids()
        await harness.register(user)
        services = harness.services
        assert (await services.processor.context()).call_log == NO_CALL_LOG
        unwired = ExpectationCache(services.engine, clock=harness.emulator.now)
        assert await unwired.current() == NO_CALL_LOG
        assert services.call_log is not None  # built, though not running by itself

        (report,) = await services.call_log.run_pass()

        expectation = (await services.processor.context()).call_log
        assert expectation == CallLogExpectation(
            expected=True, synced_through=report.synced_through
        )
        assert await unwired.current() == NO_CALL_LOG  # read again only after a while
        await harness.emulator.advance(EXPECTATION_TTL.total_seconds())
        assert await unwired.current() == expectation


def test_an_expectation_waits_only_while_the_sync_is_behind() -> None:
    now = datetime.now(UTC)
    expectation = CallLogExpectation(expected=True, synced_through=now)
    assert expectation.awaiting(now)
    assert not expectation.awaiting(now - timedelta(hours=1))
    assert CallLogExpectation(expected=True).awaiting(now - timedelta(days=3))
    assert not CallLogExpectation(expected=False).awaiting(now)
    assert expectation.settled_before(now) == now - CALL_LOG_SETTLE
    assert CallLogExpectation(expected=True).settled_before(now) is None
    assert NO_CALL_LOG.settled_before(now) == now
