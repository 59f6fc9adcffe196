"""The call-log sync against the RingCentral emulator over loopback HTTP, with an in-memory store:
backfill, overlap, open calls, account and extension scope, gaps, failures, and a 20-extension
backfill under RingCentral's rate limits on the simulated clock."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta

import pytest

from emulator.clock import iso, parse_iso
from emulator.config import RateGroup, RateLimit
from emulator.scenarios.model import CallLogEntry
from subscriptions.calllog import CallLogPolicy, PacedPage, PageProgress
from subscriptions.client import RetryPolicy
from subscriptions.lifecycle import Mode
from tests.subscriptions.calllog_support import (
    IN_PROGRESS,
    CallLogPlatform,
    MemoryCallLogStore,
    call_log_platform,
)

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    moments = []
    moment = start
    while moment < end:
        moments.append(moment)
        moment += step
    return moments


def ids(entries: Iterable[CallLogEntry]) -> set[str]:
    return {entry.id for entry in entries}


async def test_a_first_sync_backfills_the_week_in_daily_windows_oldest_first() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        too_old = platform.log_calls(user, [now - 7 * DAY - HOUR, now - 9 * DAY])
        week = platform.log_calls(user, every(now - 7 * DAY + MINUTE, now - MINUTE, 3 * HOUR))
        store = MemoryCallLogStore()
        progress: list[PageProgress] = []

        report = await platform.syncer(store).sync(store.state(user), on_page=progress.append)

        assert report.error is None
        assert report.synced_through is not None
        assert report.started_from == report.synced_through - 7 * DAY
        assert report.windows == 7
        assert store.ids(user) == ids(week)
        assert not store.ids(user) & ids(too_old)
        assert (report.new, report.changed, report.unchanged) == (len(week), 0, 0)
        assert set(store.saves.values()) == {1}  # every record stored once
        # one request a window, oldest first, each ending where the next begins
        requests = platform.tap.call_log
        assert [r.query["page"] for r in requests] == ["1"] * 7
        assert {r.query["view"] for r in requests} == {"Detailed"}
        assert {r.query["perPage"] for r in requests} == {"1000"}
        assert requests[0].query["dateFrom"] == iso(report.started_from)
        assert requests[-1].query["dateTo"] == iso(report.synced_through)
        for earlier, later in itertools.pairwise(requests):
            assert earlier.query["dateTo"] == later.query["dateFrom"]
            assert parse_iso(earlier.query["dateTo"]) - parse_iso(earlier.query["dateFrom"]) == DAY
        cursor = [done.synced_through for done in store.windows_done]
        assert cursor == [report.started_from + n * DAY for n in range(1, 8)]
        assert [p.window_end for p in progress] == cursor
        assert store.cursor[user] == report.synced_through


async def test_the_next_sync_rereads_only_the_overlap_and_finds_nothing_new() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        platform.log_calls(user, every(now - 2 * DAY, now - 3 * HOUR, HOUR))
        recent = platform.log_calls(user, [now - 90 * MINUTE, now - 30 * MINUTE, now - 5 * MINUTE])
        store = MemoryCallLogStore()
        syncer = platform.syncer(store)
        first = await syncer.sync(store.state(user))
        assert first.synced_through is not None
        await platform.emulator.advance(600)
        requests_before = len(platform.tap.call_log)

        second = await syncer.sync(store.state(user))

        assert second.error is None
        assert second.started_from == first.synced_through - 2 * HOUR
        assert second.windows == 1
        assert len(platform.tap.call_log) - requests_before == 1
        assert (second.new, second.changed, second.unchanged) == (0, 0, len(recent))
        assert second.synced_through is not None
        assert second.synced_through > first.synced_through
        assert store.cursor[user] == second.synced_through


async def test_an_open_call_pulls_the_start_back_until_its_record_is_final() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        [stuck] = platform.log_calls(user, [now - 3 * DAY], result=IN_PROGRESS)
        platform.log_calls(user, [now - 2 * DAY, now - 20 * MINUTE])
        store = MemoryCallLogStore()
        syncer = platform.syncer(store)
        first = await syncer.sync(store.state(user))
        assert store.state(user).open_since == parse_iso(iso(stuck.start_time))

        # the call's record gets its final result; the usual overlap would not reach back to it
        stuck.fields["result"] = "Accepted"
        await platform.emulator.advance(1800)
        state = store.state(user)
        done_before = len(store.windows_done)
        second = await syncer.sync(state)

        assert second.error is None
        assert second.started_from == state.open_since
        assert second.windows == 4  # 3 days and 30 minutes, a day at a time
        assert second.changed == 1
        assert second.new == 0
        assert store.state(user).open_since is None
        # windows the cursor had already passed leave it where it was
        assert first.synced_through is not None
        moved = [done.synced_through for done in store.windows_done[done_before:]]
        assert moved == [second.synced_through]
        assert all(moment > first.synced_through for moment in moved)


async def test_account_mode_reads_the_account_log_and_extension_mode_only_its_own() -> None:
    async with call_log_platform(users=3) as platform:
        admin, other, third = platform.users
        now = platform.now()
        entries = {
            user: platform.log_calls(user, every(now - 2 * DAY, now, 5 * HOUR))
            for user in platform.users
        }
        store = MemoryCallLogStore()
        syncer = platform.syncer(store)

        account = await syncer.sync(store.state(admin, Mode.ACCOUNT))
        extension = await syncer.sync(store.state(other, Mode.EXTENSION))

        assert (account.error, extension.error) == (None, None)
        everyone = ids(entries[admin]) | ids(entries[other]) | ids(entries[third])
        assert store.ids(admin) == everyone
        assert store.ids(other) == ids(entries[other])
        owners = {r.owner_extension_id for r in store.records[other].values()}
        assert owners == {other}
        paths = [request.path for request in platform.tap.call_log]
        assert (
            paths
            == ["/restapi/v1.0/account/~/call-log"] * 7
            + ["/restapi/v1.0/account/~/extension/~/call-log"] * 7
        )


async def test_since_leaving_a_gap_reads_but_never_moves_the_cursor() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        older = platform.log_calls(user, [now - 3 * DAY, now - 2 * DAY])
        last_day = platform.log_calls(user, [now - 20 * HOUR, now - HOUR])
        store = MemoryCallLogStore()
        syncer = platform.syncer(store)

        gap = await syncer.sync(store.state(user), since=now - DAY)

        assert gap.error is None
        assert gap.started_from is not None
        assert gap.started_from <= now - DAY
        assert store.ids(user) == ids(last_day)
        assert (store.windows_done, gap.synced_through) == ([], None)
        assert store.state(user).synced_through is None

        # a `since` earlier than the usual start covers everything the cursor claims
        first = await syncer.sync(store.state(user))
        assert first.synced_through is not None
        assert store.ids(user) == ids(older) | ids(last_day)
        done_before = len(store.windows_done)
        await platform.emulator.advance(60)
        wider = await syncer.sync(store.state(user), since=first.synced_through - 5 * HOUR)
        assert wider.windows == 1
        assert len(store.windows_done) == done_before + 1
        assert store.cursor[user] == wider.synced_through


async def test_a_sync_failing_half_way_keeps_its_windows_and_schedules_a_backed_off_retry() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        entries = platform.log_calls(user, every(now - 7 * DAY + HOUR, now, 4 * HOUR))
        platform.tap.fail_call_log_from = 4  # the fourth window's request and every retry of it
        store = MemoryCallLogStore()
        client = platform.client(retry=RetryPolicy(attempts=2, sleep=platform.sleep))
        syncer = platform.syncer(store, client=client)

        before = platform.now()
        report = await syncer.sync(store.state(user, failures=3))
        after = platform.now()

        assert report.error is not None
        assert "503" in report.error
        assert report.windows == 3
        assert report.synced_through is not None
        assert [done.synced_through for done in store.windows_done][-1] == report.synced_through
        assert len(store.windows_done) == 3
        read = {e.id for e in entries if e.start_time <= report.synced_through}
        assert store.ids(user) == read
        assert 0 < len(read) < len(entries)
        [failure] = store.failures
        assert failure.error == report.error
        backoff = timedelta(minutes=1) * 2**3
        assert before + backoff <= failure.retry_at <= after + backoff

        # the next sync resumes at the cursor (less the overlap) and reads the rest
        platform.tap.fail_call_log_from = None
        resumed = await syncer.sync(store.state(user))
        assert resumed.started_from == report.synced_through - 2 * HOUR
        assert store.ids(user) == ids(entries)


async def test_a_rate_limited_sync_retries_when_ringcentral_said() -> None:
    heavy_two = {RateGroup.HEAVY: RateLimit(2)}
    async with call_log_platform(users=1, rate_limits=heavy_two) as platform:
        [user] = platform.users
        now = platform.now()
        platform.log_calls(user, every(now - 7 * DAY + HOUR, now, 6 * HOUR))
        store = MemoryCallLogStore()
        # the client paces for 10 requests a minute, and gives up at the first 429
        client = platform.client(retry=RetryPolicy(attempts=1, sleep=platform.sleep))
        syncer = platform.syncer(store, client=client)

        before = platform.now()
        report = await syncer.sync(store.state(user))
        after = platform.now()

        assert report.error is not None
        assert "429" in report.error
        assert report.windows == 2
        assert len(store.windows_done) == 2
        [failure] = store.failures
        retry_after = timedelta(seconds=60)  # the emulator's penalty, sent as Retry-After
        assert before + retry_after <= failure.retry_at <= after + retry_after


class RecordingPace:
    """A `ReadPace` that lets every page through at once and notes, at each step, how many
    call-log requests the emulator had answered and how many records the store held."""

    def __init__(self, platform: CallLogPlatform, store: MemoryCallLogStore, user: str) -> None:
        self.steps: list[tuple[str, int, int, int]] = []  # step, records, requests, stored
        self._platform, self._store, self._user = platform, store, user

    def _seen(self) -> tuple[int, int]:
        return len(self._platform.tap.call_log), len(self._store.ids(self._user))

    @contextlib.asynccontextmanager
    async def page(self, most: int) -> AsyncIterator[PacedPage]:
        self.steps.append(("read", most, *self._seen()))
        try:
            yield self
        except BaseException:
            self.steps.append(("failed", 0, *self._seen()))
            raise

    async def before_store(self, records: int) -> None:
        self.steps.append(("store", records, *self._seen()))


async def test_each_page_is_read_and_then_stored_when_the_pace_lets_it() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        platform.log_calls(user, every(now - 3 * DAY + HOUR, now - 2 * DAY, 30 * MINUTE))
        platform.tap.fail_call_log_from = 15  # after 4 empty windows and 10 pages: the sixth
        store = MemoryCallLogStore()
        pace = RecordingPace(platform, store, user)
        client = platform.client(retry=RetryPolicy(attempts=1, sleep=platform.sleep))
        syncer = platform.syncer(store, client=client, pace=pace, policy=CallLogPolicy(per_page=5))

        report = await syncer.sync(store.state(user))

        assert report.error is not None
        # the fifth window (the third day back) holds 46 calls: ten pages of at most 5
        pages = [(records, stored) for step, records, _, stored in pace.steps if step == "store"]
        assert sum(records for records, _ in pages) == len(store.ids(user)) == 46
        stored_before = list(itertools.accumulate(records for records, _ in pages[:-1]))
        assert [stored for _, stored in pages] == [0, *stored_before]  # before it was stored
        for (step, most, requests, _), (after, _, answered, _) in itertools.pairwise(pace.steps):
            if step == "read":  # entered before its request went out; nothing more asked for
                assert most == 5
                assert after in {"store", "failed"}
                assert answered == requests + 1
        assert pace.steps[-1][0] == "failed"  # the failed read left the pace too


@pytest.mark.slow
async def test_twenty_extensions_backfill_a_busy_week_without_a_single_429() -> None:
    users, days, calls_a_day = 20, 7, 500
    async with call_log_platform(users=users, rate_limits={}) as platform:
        start = platform.now()
        span = days * DAY - 20 * MINUTE  # a margin for real time passing during the test
        step = span / (days * calls_a_day)
        expected = {
            user: ids(
                platform.log_calls(
                    user,
                    [
                        start - days * DAY + 10 * MINUTE + n * step
                        for n in range(days * calls_a_day)
                    ],
                )
            )
            for user in platform.users
        }
        store = MemoryCallLogStore()
        # 200 a page: three pages a day, 21 requests per user against 10 a minute (Heavy)
        syncer = platform.syncer(store, policy=CallLogPolicy(per_page=200))

        reports = await asyncio.gather(*(syncer.sync(store.state(u)) for u in platform.users))

        assert [r.error for r in reports] == [None] * users
        assert platform.tap.statuses[429] == 0
        for user in platform.users:
            assert store.ids(user) == expected[user]
        assert sum(r.new for r in reports) == users * days * calls_a_day
        assert sum(r.unchanged + r.changed for r in reports) == 0
        requests = len(platform.tap.call_log)
        assert requests == sum(r.pages for r in reports)
        assert requests > users * 10  # the pacing was needed
        assert platform.sleeps  # and it waited on the simulated clock
