"""Ingest first (service.processing.standback): the processor stands back while its work slows
the storing of events, and only then; it works at full speed once it has caught up or the load
fell. The policy on its own, the measuring driver against a simulated webhook, and the worker on
both databases."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from classifiers import Thresholds
from service.db.engine import create_engine
from service.metrics import Metrics
from service.processing.channel import CALL_LOG_DUE, WAKE, is_wake, received_of, wake_line
from service.processing.standback import Received, StandBack, StandBackPolicy
from service.processing.worker import ProcessorWorker
from service.settings import ProcessorMode, Settings
from tests.service.test_processor import LATER, drain_then_dispose, post_renamed_calls

TRY = StandBackPolicy().settle_s + StandBackPolicy().window_s  # a try stands back this long


def tried(policy: StandBackPolicy, now: float = 0.0) -> StandBackPolicy:
    for _ in range(policy.full_in_row):
        policy.claimed(now, full=True)
    assert policy.stand_back_s == TRY
    return policy


class TestPolicy:
    def test_a_processor_that_keeps_up_never_stands_back(self) -> None:
        policy = StandBackPolicy()
        for moment in range(100):
            policy.claimed(float(moment), full=False)
            assert policy.stand_back_s == 0.0

    def test_full_claims_in_a_row_make_it_try_standing_back(self) -> None:
        policy = tried(StandBackPolicy())
        assert not policy.yielding

    def test_a_burst_that_one_claim_clears_is_no_reason_to_try(self) -> None:
        # below the webhook's capacity a commit held up by the disk leaves a burst: a full
        # claim, then one that is not
        policy = StandBackPolicy()
        for moment in range(100):
            policy.claimed(moment * 0.1, full=moment % 2 == 0)
            assert policy.stand_back_s == 0.0

    def test_it_yields_when_events_were_stored_faster_without_it(self) -> None:
        policy = tried(StandBackPolicy())
        policy.judge(1.0, received_standing_back=12_000, received_working=7_000)
        assert policy.yielding
        assert policy.stand_back_s == policy.first_s

    def test_each_confirmation_doubles_the_stand_back_up_to_the_longest(self) -> None:
        policy = tried(StandBackPolicy())
        seen = []
        for moment in range(1, 8):
            policy.judge(float(moment), received_standing_back=12_000, received_working=7_000)
            seen.append(policy.stand_back_s)
        assert seen == [2.0, 4.0, 8.0, 8.0, 8.0, 8.0, 8.0]

    def test_storing_as_fast_while_it_works_ends_the_try_and_quiets_it(self) -> None:
        policy = tried(StandBackPolicy())
        now, quiet_times = 1.0, []
        for _ in range(7):
            policy.judge(now, received_standing_back=8_000, received_working=7_900)
            assert (policy.yielding, policy.stand_back_s) == (False, 0.0)
            waited = 0.0
            while policy.stand_back_s == 0.0:  # no new try within the quiet time
                waited += 0.5
                policy.claimed(now + waited, full=True)
            quiet_times.append(waited)
            now += waited
        assert quiet_times == [1.0, 2.0, 4.0, 8.0, 16.0, 16.0, 16.0]

    def test_catching_up_resets_the_quiet_time(self) -> None:
        policy = tried(StandBackPolicy())
        for now in (1.0, 3.0, 6.0):
            policy.judge(now, received_standing_back=8_000, received_working=7_900)
            policy.claimed(now + 100, full=True)
        policy.claimed(200.0, full=False)
        policy.claimed(200.1, full=True)
        policy.judge(200.5, received_standing_back=8_000, received_working=7_900)
        policy.claimed(200.5 + policy.quiet_s, full=True)
        assert policy.stand_back_s == TRY

    def test_yielding_ends_when_the_work_no_longer_slows_the_storing(self) -> None:
        policy = tried(StandBackPolicy())
        policy.judge(1.0, received_standing_back=12_000, received_working=7_000)
        policy.judge(3.0, received_standing_back=5_000, received_working=5_000)  # the load fell
        assert (policy.yielding, policy.stand_back_s) == (False, 0.0)

    def test_yielding_ends_once_a_claim_comes_back_not_full(self) -> None:
        policy = tried(StandBackPolicy())
        policy.judge(1.0, received_standing_back=12_000, received_working=7_000)
        policy.claimed(2.0, full=False)
        assert (policy.yielding, policy.stand_back_s) == (False, 0.0)
        # caught up, not judged to slow: behind again, it may try without a quiet time
        tried(policy, 2.1)

    def test_a_try_not_made_is_made_at_the_next_full_claim(self) -> None:
        policy = tried(StandBackPolicy())
        policy.nothing_received()
        assert policy.stand_back_s == 0.0
        tried(policy, 0.1)

    def test_a_webhook_storing_next_to_nothing_is_no_reason_to_yield(self) -> None:
        policy = tried(StandBackPolicy())  # a backlog drained after an outage, say
        policy.judge(1.0, received_standing_back=40, received_working=0)
        assert not policy.yielding


class SimulatedWebhook:
    """A webhook that answers `alone` notifications a second while no claim runs and `beside`
    while claims run (`starved` for the first `starved_for` seconds of a run of claims). Its
    sender waits for each answer (closed loop: it receives what it can answer) or, with
    `offered`, sends that many a second whatever happens (open loop: what it cannot answer yet
    waits in a queue). The driver's pauses move its clock."""

    def __init__(
        self,
        alone: float,
        beside: float,
        *,
        offered: float | None = None,
        starved: float = 0.0,
        starved_for: float = 0.0,
    ) -> None:
        self.alone, self.beside, self.offered = alone, beside, offered
        self.starved, self.starved_for = starved, starved_for
        self.now = self.count = self.queue = self.stood_back = 0.0
        self.claims_since: float | None = None

    def received(self) -> Received:
        return Received(self.now, int(self.count))

    async def pause(self, seconds: float) -> None:
        self.advance(seconds, claiming=False)

    def advance(self, seconds: float, *, claiming: bool) -> None:
        if not claiming:
            self.claims_since = None
        elif self.claims_since is None:
            self.claims_since = self.now
        steps = max(1, round(seconds / 0.01))
        for _ in range(steps):
            step = seconds / steps
            capacity = self.alone
            if self.claims_since is not None:
                starving = self.now - self.claims_since < self.starved_for
                capacity = self.starved if starving else self.beside
            if self.offered is None:
                answered = capacity * step
            else:
                self.queue += self.offered * step
                answered = min(self.queue, capacity * step)
                self.queue -= answered
            self.count += answered
            self.now += step

    def driver(self) -> StandBack:
        def stood_back(seconds: float) -> None:
            self.stood_back += seconds

        return StandBack(
            self.received, self.pause, clock=lambda: self.now, on_stood_back=stood_back
        )


async def claims_for(webhook: SimulatedWebhook, driver: StandBack, seconds: float) -> float:
    """Full claims of 0.05 s each for `seconds`; the share of the time spent claiming."""
    claiming = 0.0
    start = webhook.now
    while webhook.now < start + seconds:
        await driver.turn()
        with driver.claiming():
            webhook.advance(0.05, claiming=True)
        claiming += 0.05
        driver.claimed(full=True)
    return claiming / (webhook.now - start)


async def test_beside_a_webhook_it_slows_the_processor_gives_way_most_of_the_time() -> None:
    webhook = SimulatedWebhook(alone=12_000, beside=7_000)
    driver = webhook.driver()
    share = await claims_for(webhook, driver, 60.0)
    assert driver.policy.yielding
    assert driver.policy.stand_back_s == driver.policy.longest_s
    # it still works a second after each stand-back: never starved
    assert share < 0.2
    assert share > 0
    assert webhook.stood_back > 50


async def test_beside_a_webhook_it_does_not_slow_the_processor_keeps_working() -> None:
    webhook = SimulatedWebhook(alone=8_000, beside=8_000)  # the load, not the CPU
    driver = webhook.driver()
    share = await claims_for(webhook, driver, 60.0)
    assert not yielding(driver)
    # tried after 1, 2, 4, 8, 16, 16 s of quiet: one stand-back each, nothing more
    assert webhook.stood_back == pytest.approx(7 * TRY, abs=TRY)
    assert share > 0.9


async def test_a_sender_that_does_not_wait_is_not_mistaken_for_one_held_up() -> None:
    # 70% of the webhook's capacity, sent on schedule: while claims run the webhook is short of
    # CPU at first and a queue builds, which it drains at its full rate once they stop, so the
    # first moments of each change look like a webhook the processor slows
    webhook = SimulatedWebhook(
        alone=12_000, beside=10_000, offered=8_400, starved=2_000, starved_for=0.2
    )
    driver = webhook.driver()
    await claims_for(webhook, driver, 60.0)
    assert not yielding(driver)
    assert webhook.stood_back == pytest.approx(7 * TRY, abs=TRY)


async def test_a_sender_held_up_by_the_webhook_makes_it_yield_in_spite_of_the_settling() -> None:
    webhook = SimulatedWebhook(alone=12_000, beside=7_000, starved=2_000, starved_for=0.2)
    driver = webhook.driver()
    assert await claims_for(webhook, driver, 60.0) < 0.15
    assert yielding(driver)


async def test_without_events_stored_it_never_stands_back() -> None:
    webhook = SimulatedWebhook(alone=0, beside=0)  # a backlog, nothing arriving
    driver = webhook.driver()
    assert await claims_for(webhook, driver, 60.0) == pytest.approx(1.0)
    assert webhook.stood_back == 0.0


async def test_it_works_at_full_speed_again_once_the_load_falls() -> None:
    webhook = SimulatedWebhook(alone=12_000, beside=7_000)
    driver = webhook.driver()
    await claims_for(webhook, driver, 30.0)
    assert yielding(driver)
    assert driver.policy.stand_back_s == driver.policy.longest_s
    webhook.alone = webhook.beside = 3_000
    # a working second under way is judged against the rate before the fall; the next
    # stand-back sees the load fall within half a second, then it works a second
    await claims_for(webhook, driver, 3.5)
    assert not yielding(driver)
    stood_back = webhook.stood_back
    # still behind (its claims come back full): tried after 1 and 2 s, nothing more
    assert await claims_for(webhook, driver, 5.0) > 0.75
    assert not yielding(driver)
    assert webhook.stood_back - stood_back <= 2 * TRY + 1e-9


def yielding(driver: StandBack) -> bool:
    return driver.policy.yielding


def steady_webhook(per_s: float) -> Callable[[], Received]:
    """A webhook that receives `per_s` notifications a second whatever the processor does."""

    def received() -> Received:
        now = time.monotonic()
        return Received(now, int(now * per_s))

    return received


@pytest.mark.parametrize(("per_s", "tries"), [(0, False), (100_000, True)])
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_worker_that_stands_back_still_drains_its_backlog(
    ingest_only: str, manual_settings: Settings, per_s: float, tries: bool
) -> None:
    calls = await post_renamed_calls(ingest_only, 12, seed=11)
    events = sum(len(call) for call in calls)
    metrics = Metrics()
    engine = create_engine(manual_settings)
    worker = ProcessorWorker(
        engine,
        thresholds=Thresholds(),
        metrics=metrics,
        claim_size=9,
        claims_in_flight=2,
        clock=lambda: LATER,
        stand_back=StandBackPolicy(window_s=0.02, settle_s=0.02, working_s=0.05),
        received=steady_webhook(per_s),
    )
    drained, queued = await drain_then_dispose(worker, engine)
    assert (drained.events, queued) == (events, [])
    stood_back = metrics.registry.get_sample_value("callsift_processor_stood_back_seconds_total")
    assert stood_back is not None
    if tries:  # its claims came back full: it tried a window, and its work slowed nothing
        assert 0.04 <= stood_back < 0.5
    else:  # nothing was being received: nobody to give way to
        assert stood_back == 0.0


def test_the_webhooks_count_crosses_the_channel() -> None:
    line = wake_line(Received(12345.678901, 987654))
    assert line.endswith(b"\n")
    assert received_of(line) == Received(12345.678901, 987654)
    assert received_of(WAKE) is None
    assert is_wake(line)
    assert is_wake(WAKE)
    assert not is_wake(CALL_LOG_DUE)


def test_only_a_processor_with_a_process_of_its_own_on_postgresql_stands_back() -> None:
    postgres = "postgresql+asyncpg://u@localhost/db"
    assert Settings(_env_file=None, database_url=postgres).processor_stands_back()
    assert not Settings(
        _env_file=None, database_url=postgres, processor_stand_back=False
    ).processor_stands_back()
    assert not Settings(
        _env_file=None, database_url=postgres, processor_mode=ProcessorMode.INLINE
    ).processor_stands_back()
    assert not Settings(
        _env_file=None, database_url="sqlite+aiosqlite:///x.db"
    ).processor_stands_back()
