"""Stats rollups on both databases: a report read from the rollups equals the report computed
from the calls alone (random calls, zones with DST and half- and quarter-hour offsets, ranges not
on slice edges, random SLAs); a call rewritten after its rollup was built counts at once; a call
written while the refresher works is not lost."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from classifiers import Thresholds
from service.api import rollup_stats
from service.api.rollup_stats import from_rollups
from service.api.stats_queries import StatsQuery
from service.api.summary import compute_summary
from service.db.engine import create_engine
from service.db.sql import begin_snapshot
from service.db.tables import call_outcomes, stats_rollups
from service.loopturns import LoopTurns
from service.metrics import Metrics
from service.processing.processor import ProcessingContext, recompute
from service.rollups import queries as rollup_queries
from service.rollups import refresher
from service.rollups.refresher import refresh_rollups
from service.rollups.slices import DirtyQuarters, cover, quarter_of
from service.settings import Settings
from tests.api.conftest import Api
from tests.api.rollup_support import SPAN, START, outcome_rows, refresh_all, report, store_rows
from tests.api.support import placed, session_of, utc

ZONES = ("UTC", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu")
GROUPS = ("hour", "day", "extension", "agent", "queue")


def _random_case(rng: random.Random) -> dict[str, Any]:
    start = START - timedelta(hours=8) + timedelta(seconds=rng.uniform(0, SPAN.total_seconds()))
    if rng.random() < 0.5:
        length = timedelta(seconds=rng.uniform(60, 6 * 3600))
    else:
        length = timedelta(seconds=rng.uniform(86400, SPAN.total_seconds()))
    sla_s = float(rng.randrange(0, 60)) if rng.random() < 0.85 else round(rng.uniform(0, 60), 2)
    return {
        "start": start,
        "end": start + length,
        "group_by": rng.choice(GROUPS),
        "tz": rng.choice(ZONES),
        "sla_s": sla_s,
    }


async def test_reports_from_rollups_equal_reports_from_the_calls(settings: Settings) -> None:
    outcomes, legs = outcome_rows(seed=7, count=1500)
    await store_rows(settings, outcomes, legs)
    assert await refresh_all(settings) > 300
    rng = random.Random(2026)
    cases = [_random_case(rng) for _ in range(40)]
    cases += [  # whole days and hours, where the rollups answer everything
        {"start": START, "end": START + SPAN, "group_by": group_by, "tz": zone, "sla_s": 20.0}
        for group_by in GROUPS
        for zone in ZONES
    ]
    engine = create_engine(settings)
    try:
        for case in cases:
            from_calls = await report(engine, rollups=False, **case)
            assert from_calls["totals"]["offered"] > 0 or case["end"] - case["start"] < SPAN
            assert await report(engine, rollups=True, **case) == from_calls, case
            if float(case["sla_s"]).is_integer():
                assert await _answered_by_rollups(engine, case), case
    finally:
        await engine.dispose()


async def test_the_poll_summary_from_rollups_equals_the_summary_from_the_calls(
    settings: Settings,
) -> None:
    outcomes, legs = outcome_rows(seed=11, count=1200)
    await store_rows(settings, outcomes, legs)
    await refresh_all(settings)
    # calls written after the refresher ran: their quarters are marked, read from the calls
    later, later_legs = outcome_rows(seed=12, count=12)
    for row in later:
        row["change_seq"] += len(outcomes)
    await store_rows(settings, later, later_legs, mark=False, directory=False)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await rollup_queries.mark_dirty(connection, [row["started_at"] for row in later])
    finally:
        await engine.dispose()
    rng = random.Random(14)
    engine = create_engine(settings)
    answered_by_rollups = 0
    try:
        for _ in range(12):
            as_of = START + timedelta(seconds=rng.uniform(3600, SPAN.total_seconds()))
            as_of = as_of.replace(second=0, microsecond=0)  # as `summary_as_of` rounds it
            zone = ZoneInfo(rng.choice(ZONES))
            sla_s = rng.choice([20.0, 0.0, 17.5])
            summaries = []
            for rollups in (True, False):
                async with engine.connect() as connection:
                    await begin_snapshot(connection)
                    summaries.append(
                        await compute_summary(
                            connection, as_of=as_of, zone=zone, sla_s=sla_s, rollups=rollups
                        )
                    )
            assert summaries[0] == summaries[1], (as_of, zone, sla_s)
            assert summaries[0]["last_24h"]["offered"] > 0
            day = {"start": as_of - timedelta(days=1), "end": as_of, "sla_s": 20.0}
            answered_by_rollups += await _answered_by_rollups(engine, day)
        assert answered_by_rollups >= 6
    finally:
        await engine.dispose()


async def _answered_by_rollups(engine: Any, case: dict[str, Any]) -> bool:
    """Whether the rollups answered (not the raw statements' fallback)."""
    query = StatsQuery(start=case["start"], end=case["end"], group_by="all", sla_s=case["sla_s"])
    async with engine.connect() as connection:
        await begin_snapshot(connection)
        return await from_rollups(connection, query, int(case["sla_s"])) is not None


async def test_the_rollups_are_read_as_days_hours_and_quarters(settings: Settings) -> None:
    outcomes, legs = outcome_rows(seed=3, count=300)
    await store_rows(settings, outcomes, legs)
    await refresh_all(settings)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            sizes = set((await connection.execute(select(stats_rollups.c.slice_s))).scalars())
    finally:
        await engine.dispose()
    assert sizes == {900, 3600, 86400}
    covered = cover(
        START + timedelta(minutes=7), START + timedelta(days=2, hours=1), DirtyQuarters([])
    )
    assert covered.slices[:2] == [
        (900, int(START.timestamp()) + 900),
        (900, int(START.timestamp()) + 1800),
    ]
    assert (86400, int(START.timestamp()) + 86400) in covered.slices
    dirty = DirtyQuarters([int(START.timestamp()) + 86400 + 3600])
    split = cover(START, START + timedelta(days=2), dirty)
    assert (86400, int(START.timestamp()) + 86400) not in split.slices
    assert (3600, int(START.timestamp()) + 86400) in split.slices
    assert split.raw == [
        (START + timedelta(days=1, hours=1), START + timedelta(days=1, hours=1, minutes=15))
    ]


# ---- calls rewritten after their rollups were built ------------------------------------------

DAY = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}


async def _served_and_raw(api: Api, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    served = await api.json("/v1/stats/outcomes", **DAY, **params)
    engine = create_engine(api.settings)
    try:
        from_calls = await report(
            engine,
            rollups=False,
            start=utc(DAY["from"]),
            end=utc(DAY["to"]),
            group_by=params.get("group_by", "hour"),
        )
    finally:
        await engine.dispose()
    return served, from_calls


async def test_a_reclassified_call_counts_before_the_refresher_runs(day_api: Api) -> None:
    settings = day_api.settings
    await refresh_all(settings)
    before, _ = await _served_and_raw(day_api, group_by="queue")
    # a longer short-abandon threshold turns abandons into short abandons
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            sessions = list(
                (await connection.execute(select(call_outcomes.c.telephony_session_id))).scalars()
            )
            context = ProcessingContext(
                now=utc("2026-03-11T12:00:00Z"),
                thresholds=Thresholds(short_abandon_s=30.0),
                directory={},
            )
            changed = await recompute(connection, sessions, context=context)
    finally:
        await engine.dispose()
    assert changed.changed > 0
    for group_by in ("hour", "queue", "agent"):
        served, from_calls = await _served_and_raw(day_api, group_by=group_by)
        assert served == from_calls
    assert served["totals"]["short_abandons"] > before["totals"]["short_abandons"]
    await refresh_all(settings)
    for group_by in ("day", "extension"):
        served, from_calls = await _served_and_raw(day_api, group_by=group_by)
        assert served == from_calls


async def test_a_call_moved_to_another_slice_counts_in_its_new_slice(api: Api) -> None:
    call = placed("abandoned-queue-account", at=utc("2026-03-10T09:10:00Z"), hex_id="a" * 32)
    await api.load(call, now=utc("2026-03-10T12:00:00Z"))
    await refresh_all(api.settings)
    first, _ = await _served_and_raw(api, group_by="hour")
    assert [g["offered"] for g in first["groups"]][9] == 1
    # an earlier event of the call arrives late: the call now started in the hour before
    early = dict(call[0], uuid="late-early-event")
    early["body"] = dict(call[0]["body"], eventTime="2026-03-10T08:50:00.000Z")
    await api.load([early], now=utc("2026-03-10T12:05:00Z"))
    served, from_calls = await _served_and_raw(api, group_by="hour")
    assert served == from_calls
    assert [g["offered"] for g in served["groups"]][8:10] == [1, 0], session_of(call)


async def test_a_call_written_while_the_refresher_works_is_not_lost(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = api.settings
    await api.load(
        placed("answered-queue-account", at=utc("2026-03-10T09:01:00Z"), hex_id="b" * 32),
        now=utc("2026-03-10T12:00:00Z"),
    )
    read_calls = rollup_queries.call_parts
    written: list[bool] = []

    async def read_then_write(connection: Any, ranges: Any) -> AsyncIterator[Any]:
        async for part in read_calls(connection, ranges):
            yield part
        if not written:  # another processor commits a call of the same quarter meanwhile
            written.append(True)
            later = placed(
                "abandoned-queue-account", at=utc("2026-03-10T09:03:00Z"), hex_id="c" * 32
            )
            await api.load(later, now=utc("2026-03-10T12:00:00Z"))

    monkeypatch.setattr(rollup_queries, "call_parts", read_then_write)
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            await refresh_rollups(connection)
        async with engine.connect() as connection:
            assert await rollup_queries.count_marks(connection) == 1  # the later call's mark
    finally:
        await engine.dispose()
    assert written
    monkeypatch.setattr(rollup_queries, "call_parts", read_calls)
    served, from_calls = await _served_and_raw(api, group_by="hour")
    assert served == from_calls
    assert served["totals"]["offered"] == 2
    await refresh_all(settings)
    served, from_calls = await _served_and_raw(api, group_by="hour")
    assert served == from_calls
    assert served["totals"]["offered"] == 2


async def test_a_quarter_marked_by_many_writes_is_recomputed_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes, legs = outcome_rows(seed=11, count=200)
    await store_rows(settings, outcomes, legs)
    engine = create_engine(settings)
    try:
        for _ in range(2):  # later writes mark the same quarters again, with newer ids
            async with engine.begin() as connection:
                await rollup_queries.mark_everything(connection)
        async with engine.connect() as connection:
            marks = await rollup_queries.count_marks(connection)
        quarters = len({quarter_of(row["started_at"]) for row in outcomes if row["started_at"]})
        assert marks == 3 * quarters
        # batches of fewer quarters than were marked
        monkeypatch.setattr(refresher, "QUARTERS_PER_BATCH", 3)
        assert await refresh_all(settings) == quarters
        month = {"start": START, "end": START + SPAN, "group_by": "day", "sla_s": 20.0}
        assert await report(engine, rollups=True, **month) == await report(
            engine, rollups=False, **month
        )
    finally:
        await engine.dispose()


async def test_a_recomputation_reads_its_rows_in_parts_and_waits_between_them(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes, legs = outcome_rows(seed=19, count=300)
    await store_rows(settings, outcomes, legs)
    monkeypatch.setattr(rollup_queries, "PART_ROWS", 7)
    waits: list[int] = []

    async def between_parts() -> None:
        waits.append(1)

    engine = create_engine(settings)
    try:
        while True:
            async with engine.begin() as connection:
                if not await refresh_rollups(connection, between_parts=between_parts):
                    break
        month = {"start": START, "end": START + SPAN, "group_by": "day", "sla_s": 20.0}
        assert await report(engine, rollups=True, **month) == await report(
            engine, rollups=False, **month
        )
    finally:
        await engine.dispose()
    assert len(waits) >= 20  # a part of calls or legs at a time, not one read of each


async def test_raw_reads_of_overlapping_ranges_count_each_call_once(settings: Settings) -> None:
    outcomes, legs = outcome_rows(seed=13, count=300)
    await store_rows(settings, outcomes, legs, mark=False)
    day = START + timedelta(days=1)
    pieces = [(START, day), (START + timedelta(hours=20), day + timedelta(hours=3)), (day, day)]
    whole = [(START, day + timedelta(hours=3))]
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            for read in (
                rollup_queries.raw_calls,
                rollup_queries.raw_recoverable,
                rollup_queries.raw_legs,
            ):
                found: list[Any] = list(await read(connection, pieces))
                assert sorted(map(repr, found)) == sorted(
                    map(repr, await read(connection, whole))
                ), read.__name__
                assert found or read is rollup_queries.raw_recoverable
    finally:
        await engine.dispose()


@pytest.mark.parametrize("group_by", ["hour", "agent"])
async def test_a_report_gives_the_event_loop_turns_while_it_folds(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, group_by: str
) -> None:
    outcomes, legs = outcome_rows(seed=17, count=400)
    await store_rows(settings, outcomes, legs)
    await refresh_all(settings)
    made: list[LoopTurns] = []

    def recorded() -> LoopTurns:
        made.append(LoopTurns(slice_s=0.0))
        return made[-1]

    monkeypatch.setattr(rollup_stats, "LoopTurns", recorded)
    case = {"start": START + timedelta(minutes=7), "end": START + SPAN, "group_by": group_by}
    engine = create_engine(settings)
    try:
        served = await report(engine, rollups=True, **case)
        assert served == await report(engine, rollups=False, **case)
    finally:
        await engine.dispose()
    assert served["totals"]["offered"] > 0
    assert sum(turns.turns for turns in made) > len(served["groups"])


def test_quarter_arithmetic_is_exact() -> None:
    moment = datetime(2026, 3, 8, 6, 59, 59, 999999, tzinfo=UTC)
    assert quarter_of(moment) == int(datetime(2026, 3, 8, 6, 45, tzinfo=UTC).timestamp())


async def test_the_refresher_leaves_a_quarter_until_its_calls_stop_changing(
    settings: Settings,
) -> None:
    outcomes, legs = outcome_rows(seed=17, count=120)
    await store_rows(settings, outcomes, legs)
    quarters = {quarter_of(row["started_at"]) for row in outcomes if row["started_at"]}
    still_written = min(row["started_at"] for row in outcomes if row["started_at"])
    engine = create_engine(settings)
    metrics = Metrics()

    def series(name: str) -> float | None:
        return metrics.registry.get_sample_value(f"callsift_stats_rollup_quarters_{name}")

    try:
        refresher_ = refresher.RollupRefresher(engine, interval_s=2.0, metrics=metrics)
        assert await refresher_.refresh() == 0  # first seen: not known to have settled
        assert series("marked") == len(quarters)
        async with engine.begin() as connection:
            await rollup_queries.mark_dirty(connection, [still_written])
        assert await refresher_.refresh() == len(quarters) - 1
        async with engine.connect() as connection:
            left = await rollup_queries.pending_quarters(connection, 10)
        assert [marked.quarter for marked in left] == [quarter_of(still_written)]
        assert (series("marked"), series("recomputed_total")) == (1, len(quarters) - 1)
        assert await refresher_.refresh() == 1
        assert (series("marked"), series("recomputed_total")) == (0, len(quarters))
        async with engine.connect() as connection:
            assert await rollup_queries.count_marks(connection) == 0
        month = {"start": START, "end": START + SPAN, "group_by": "hour", "sla_s": 20.0}
        assert await report(engine, rollups=True, **month) == await report(
            engine, rollups=False, **month
        )
    finally:
        await engine.dispose()
