"""The call-log sync gives way to the webhook (`service.calllog.pacing`): while notifications
arrive its pages keep to `calllog_busy_records_per_s` on all credentials together, and it goes
back to full speed as soon as the webhook falls quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from fixtures.builder import ALICE, CallBuilder
from service.calllog.pacing import BUSY_WITHIN_S, SyncPacing, busy_since
from service.calllog.store import DatabaseCallLogStore
from service.db.engine import create_engine
from service.db.tables import call_log_records
from service.settings import Settings
from tests.service.test_calllog_processing import LATER, START


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pages_keep_to_the_rate_while_the_webhook_is_busy_and_not_otherwise() -> None:
    clock, busy = Clock(), [True]
    pacing = SyncPacing(100, webhook_busy=lambda: busy[0], clock=clock)
    assert pacing.slot(500) == 1005.0  # 500 records at 100 a second: 5 s, the first page too
    assert pacing.slot(1000) == 1015.0  # reserved in turn, whichever credential asks
    busy[0] = False
    assert pacing.slot(1000) == 1000.0  # quiet: at once, whatever was reserved
    clock.now = 1030.0
    busy[0] = True
    assert pacing.slot(100) == 1031.0  # the schedule does not owe the time that went by


def test_no_limit_never_waits() -> None:
    pacing = SyncPacing(0, webhook_busy=lambda: True, clock=Clock())
    assert [pacing.slot(1000) for _ in range(3)] == [1000.0] * 3


async def test_a_waiting_page_goes_on_when_the_webhook_falls_quiet() -> None:
    busy = asyncio.Event()
    busy.set()
    pacing = SyncPacing(1, webhook_busy=busy.is_set, recheck_s=0.001)
    waiting = asyncio.create_task(pacing.before_page(10_000))  # its slot is hours away
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


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    created = create_engine(settings)
    yield created
    await created.dispose()


async def test_the_store_waits_for_its_slot_while_the_webhook_is_busy(engine: AsyncEngine) -> None:
    polls = []

    def busy() -> bool:  # busy for the first three looks, then quiet
        polls.append(True)
        return len(polls) <= 3

    pacing = SyncPacing(0.001, webhook_busy=busy, recheck_s=0.001)
    store = DatabaseCallLogStore(
        engine, clock=lambda: LATER, next_due=lambda now: now, pacing=pacing
    )
    pages = [
        [
            CallBuilder(f"paced-{page}-{n}", START).call_log_record(
                ALICE, result="Missed", reason="Hang Up", duration_s=22
            )
            for n in range(2)
        ]
        for page in range(2)
    ]
    for page in pages:
        await store.save_records(ALICE, page, fetched_at=LATER)
    assert len(polls) > 3  # a page waited until the webhook was quiet
    async with engine.connect() as connection:
        stored = await connection.scalar(select(func.count()).select_from(call_log_records))
    assert stored == 4
