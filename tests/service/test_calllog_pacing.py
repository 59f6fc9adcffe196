"""The call-log sync gives way to the webhook (`service.calllog.pacing`): while notifications
arrive its pages are read and stored at `calllog_busy_records_per_s` on all credentials together,
and it goes back to full speed as soon as the webhook falls quiet."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from service.calllog.pacing import BUSY_WITHIN_S, SyncPacing, busy_since
from subscriptions.calllog import CallLogPolicy
from tests.subscriptions.calllog_support import MemoryCallLogStore, call_log_platform


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pages_share_one_schedule_while_the_webhook_is_busy_and_not_otherwise() -> None:
    clock, busy = Clock(), [True]
    pacing = SyncPacing(100, webhook_busy=lambda: busy[0], clock=clock)
    first = pacing.reserve(1000)  # a full page's time, 10 s, until it is read
    assert first is not None
    assert pacing.wait_to_read() == 10.0  # whichever credential asks next
    assert pacing.fill(first, 400) == 1004.0  # it held 400: stored 4 s after it was read
    assert pacing.wait_to_read() == 4.0  # and the rest of its time is free again
    second = pacing.reserve(1000)
    assert second is not None
    assert second.start == 1004.0
    busy[0] = False
    assert pacing.wait_to_read() == 0.0  # quiet: at once, whatever was reserved
    assert pacing.reserve(1000) is None
    assert pacing.seconds_until(pacing.fill(second, 1000)) == 0.0
    clock.now = 1030.0
    busy[0] = True
    assert pacing.wait_to_read() == 0.0  # the schedule does not owe the time that went by


def test_no_limit_never_waits() -> None:
    pacing = SyncPacing(0, webhook_busy=lambda: True, clock=Clock())
    assert pacing.reserve(1000) is None
    assert pacing.wait_to_read() == 0.0


async def test_a_read_that_fails_gives_its_time_back() -> None:
    pacing = SyncPacing(100, webhook_busy=lambda: True, clock=Clock())
    with pytest.raises(OSError, match="reset"):
        async with pacing.page(1000):
            raise OSError("connection reset")
    assert pacing.wait_to_read() == 0.0


async def test_a_waiting_page_goes_on_when_the_webhook_falls_quiet() -> None:
    busy = asyncio.Event()
    busy.set()
    pacing = SyncPacing(1, webhook_busy=busy.is_set, recheck_s=0.001)
    async with pacing.page(10_000) as slot:
        waiting = asyncio.create_task(slot.before_store(10_000))  # hours away
        await asyncio.sleep(0.01)
        assert not waiting.done()
        busy.clear()
        await asyncio.wait_for(waiting, timeout=5)


def test_the_webhook_is_busy_after_a_notification_and_at_first() -> None:
    clock, stored_at = Clock(), [float("-inf")]
    busy = busy_since(lambda: stored_at[0], clock)
    assert busy()  # just started: a restart under live traffic does not begin with a burst
    clock.now += BUSY_WITHIN_S
    assert not busy()
    stored_at[0] = clock.now - 0.5
    assert busy()
    clock.now += BUSY_WITHIN_S
    assert not busy()


async def test_while_the_webhook_is_busy_a_sync_reads_one_page_and_waits_to_store_it() -> None:
    async with call_log_platform(users=1) as platform:
        [user] = platform.users
        now = platform.now()
        calls = [now - timedelta(days=6, minutes=n) for n in range(12)]  # the first window
        platform.log_calls(user, calls)
        store = MemoryCallLogStore()
        while_busy: list[tuple[int, int]] = []  # call-log requests answered, records stored

        def busy() -> bool:  # busy for the first eight looks, then quiet
            while_busy.append((len(platform.tap.call_log), len(store.ids(user))))
            return len(while_busy) <= 8

        pacing = SyncPacing(1, webhook_busy=busy, recheck_s=0.001)
        syncer = platform.syncer(store, pace=pacing, policy=CallLogPolicy(per_page=5))
        report = await syncer.sync(store.state(user))

        assert report.error is None
        assert len(store.ids(user)) == 12
        # free to read, the page's time reserved; then its 5 records held for 5 s: nothing
        # stored and no other page read while the webhook was busy
        assert while_busy[:8] == [(0, 0)] * 2 + [(1, 0)] * 6
