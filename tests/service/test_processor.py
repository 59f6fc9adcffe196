"""The event processor on both databases: stored events -> outcomes, converging whatever the
delivery order, duplicates or concurrency; revisions only on change; stale sessions closed."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from classifiers import Thresholds, classify_lines
from service.app import create_app
from service.db.engine import create_engine
from service.db.tables import call_legs, call_outcomes, event_queue
from service.metrics import Metrics
from service.processing import queries
from service.processing.processor import (
    ProcessingContext,
    close_stale_sessions,
    outcome_document,
    process_new_events,
    recompute_sessions,
)
from service.processing.worker import Drained, ProcessorWorker, drain_wait_s
from service.serving import serve
from service.settings import Settings
from tests.conftest import WEBHOOK_TOKEN
from tests.support.notifications import post_concurrently

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sessions"
IVR_CALL = FIXTURES / "real-csn-pstn-to-ivr.jsonl"
HEADERS = {"Content-Type": "application/json", "Verification-Token": WEBHOOK_TOKEN}
LATER = datetime(2026, 11, 29, tzinfo=UTC)


def envelopes(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def expected_document(lines: list[dict[str, Any]], now: datetime) -> str:
    [outcome] = classify_lines([orjson.dumps(n) for n in lines], now=now).outcomes
    return outcome_document(outcome, directory={})


async def post_all(base_url: str, notifications: list[dict[str, Any]]) -> None:
    bodies = [orjson.dumps(n) for n in notifications]
    responses = await post_concurrently(base_url, bodies, HEADERS)
    assert [r.status_code for r in responses] == [200] * len(notifications)


def context(now: datetime) -> ProcessingContext:
    return ProcessingContext(now=now, thresholds=Thresholds(), directory={})


async def drain(settings: Settings, now: datetime, claim_size: int = 3) -> int:
    """Run the processor until no event is left; returns how many batches it took."""
    engine = create_engine(settings)
    batches = 0
    try:
        while True:
            async with engine.begin() as connection:
                stats = await process_new_events(
                    connection, context=context(now), claim_size=claim_size
                )
            if not stats.events:
                return batches
            batches += 1
    finally:
        await engine.dispose()


async def stored(settings: Settings) -> list[Any]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(select(call_outcomes))).all())
    finally:
        await engine.dispose()


class TestConvergence:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    async def test_shuffled_duplicated_delivery_gives_the_offline_outcome(
        self, ingest_only: str, manual_settings: Settings, seed: int
    ) -> None:
        notifications = envelopes(IVR_CALL)
        rng = random.Random(seed)
        delivered = notifications + rng.sample(notifications, 4)
        rng.shuffle(delivered)
        for part in (delivered[:5], delivered[5:10], delivered[10:]):
            await post_all(ingest_only, part)
            await drain(manual_settings, LATER)

        [row] = await stored(manual_settings)
        assert row.document == expected_document(notifications, LATER)
        assert row.category == "answered"
        assert row.final is True
        assert row.revision >= 1

    async def test_the_running_service_classifies_what_it_receives(
        self, settings: Settings
    ) -> None:
        notifications = envelopes(IVR_CALL)
        random.Random(7).shuffle(notifications)
        async with serve(create_app(settings)) as server:
            await post_all(server.base_url, notifications + notifications[:3])
            row = await _wait_for_final_outcome(settings)
        assert row.document == expected_document(notifications, LATER)
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                legs = (await connection.execute(select(call_legs))).all()
                pending = await connection.scalar(select(event_queue.c.id))
        finally:
            await engine.dispose()
        assert {(leg.extension_id, leg.outcome) for leg in legs} == {
            (leg["extension_id"], leg["outcome"]) for leg in orjson.loads(row.document)["legs"]
        }
        assert pending is None


async def _wait_for_final_outcome(settings: Settings) -> Any:
    """Poll the database until the background processor has written a final outcome."""
    async with asyncio.timeout(30):
        while True:
            rows = await stored(settings)
            if rows and rows[0].final:
                return rows[0]
            await asyncio.sleep(0.05)


class TestRevisions:
    async def test_revision_and_change_number_move_only_when_the_outcome_changes(
        self, ingest_only: str, manual_settings: Settings
    ) -> None:
        notifications = sorted(envelopes(IVR_CALL), key=lambda n: n["body"]["sequence"])
        during_call = datetime.fromisoformat(notifications[-1]["body"]["eventTime"])
        await post_all(ingest_only, notifications[:-1])
        await drain(manual_settings, during_call, claim_size=100)
        [first] = await stored(manual_settings)
        assert (first.revision, first.final) == (1, False)

        engine = create_engine(manual_settings)
        try:
            async with engine.begin() as connection:
                changed = await recompute_sessions(
                    connection, [first.telephony_session_id], context=context(during_call)
                )
        finally:
            await engine.dispose()
        assert changed == 0
        [same] = await stored(manual_settings)
        assert (same.revision, same.change_seq, same.updated_at) == (
            first.revision,
            first.change_seq,
            first.updated_at,
        )

        await post_all(ingest_only, notifications[-1:])
        await drain(manual_settings, during_call + timedelta(seconds=1), claim_size=100)
        [final] = await stored(manual_settings)
        assert final.revision == 2
        assert final.change_seq > first.change_seq
        assert final.final is True
        assert final.created_at == first.created_at
        assert final.updated_at > first.updated_at


class TestStaleSessions:
    async def test_a_silent_open_session_is_closed_as_unknown(
        self, ingest_only: str, manual_settings: Settings
    ) -> None:
        notifications = sorted(envelopes(IVR_CALL), key=lambda n: n["body"]["sequence"])[:4]
        await post_all(ingest_only, notifications)
        last_event = datetime.fromisoformat(notifications[-1]["body"]["eventTime"])
        await drain(manual_settings, last_event + timedelta(minutes=1), claim_size=100)
        [open_row] = await stored(manual_settings)
        assert (open_row.category, open_row.final) == ("in_progress", False)

        engine = create_engine(manual_settings)
        try:
            async with engine.begin() as connection:
                soon = await close_stale_sessions(
                    connection, context=context(last_event + timedelta(hours=1)), limit=10
                )
            async with engine.begin() as connection:
                late = await close_stale_sessions(
                    connection, context=context(last_event + timedelta(hours=5)), limit=10
                )
        finally:
            await engine.dispose()
        assert (soon, late) == (0, 1)
        [closed] = await stored(manual_settings)
        assert closed.category == "unknown"
        assert closed.final is True
        assert "no_final_event" in orjson.loads(closed.document)["data_gaps"]


async def post_renamed_calls(base_url: str, count: int, seed: int) -> list[list[dict[str, Any]]]:
    """`count` copies of the IVR call under their own session ids, posted in a shuffled order."""
    calls = [_renamed(envelopes(IVR_CALL), f"{n:032x}") for n in range(count)]
    notifications = [n for call in calls for n in call]
    random.Random(seed).shuffle(notifications)
    await post_all(base_url, notifications)
    return calls


def expected_documents(calls: list[list[dict[str, Any]]]) -> dict[str, str]:
    return {call[0]["body"]["telephonySessionId"]: expected_document(call, LATER) for call in calls}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_concurrent_processors_on_postgres_converge(
    ingest_only: str, manual_settings: Settings
) -> None:
    calls = await post_renamed_calls(ingest_only, 20, seed=3)

    await asyncio.gather(*(drain(manual_settings, LATER, claim_size=7) for _ in range(4)))

    rows = await stored(manual_settings)
    assert len(rows) == 20
    assert {row.telephony_session_id: row.document for row in rows} == expected_documents(calls)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_claim_leaves_queued_what_another_claim_holds(
    ingest_only: str, manual_settings: Settings
) -> None:
    held_call, free_call = (_renamed(envelopes(IVR_CALL), f"{n:032x}") for n in (1, 2))
    held_id = held_call[0]["body"]["telephonySessionId"]
    await post_all(ingest_only, held_call + free_call)
    engine = create_engine(manual_settings)
    try:
        async with engine.begin() as holder:
            await queries.lock_sessions(holder, [held_id])
            async with engine.begin() as connection:
                stats = await process_new_events(
                    connection, context=context(LATER), claim_size=100, leave_held=True
                )
        assert (stats.events, stats.left_held) == (len(free_call), len(held_call))
        assert [row.telephony_session_id for row in await stored(manual_settings)] == [
            free_call[0]["body"]["telephonySessionId"]
        ]
        async with engine.connect() as connection:
            queued = (await connection.execute(select(event_queue.c.id))).all()
        assert len(queued) == len(held_call)

        async with engine.begin() as connection:  # the holder has committed
            later = await process_new_events(
                connection, context=context(LATER), claim_size=100, leave_held=True
            )
        assert (later.events, later.left_held) == (len(held_call), 0)
    finally:
        await engine.dispose()
    documents = {row.telephony_session_id: row.document for row in await stored(manual_settings)}
    assert documents[held_id] == expected_document(held_call, LATER)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_claims_in_flight_drain_everything_to_the_same_outcomes(
    ingest_only: str, manual_settings: Settings
) -> None:
    calls = await post_renamed_calls(ingest_only, 30, seed=5)
    events = sum(len(call) for call in calls)
    engine = create_engine(manual_settings)
    worker = ProcessorWorker(
        engine,
        thresholds=Thresholds(),
        metrics=Metrics(),
        claim_size=9,
        claims_in_flight=3,
        clock=lambda: LATER,
    )
    drained, queued = await drain_then_dispose(worker, engine)

    assert queued == []
    assert drained.events == events
    assert drained.claims > events // 9  # more than one claim ran
    rows = await stored(manual_settings)
    assert {row.telephony_session_id: row.document for row in rows} == expected_documents(calls)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_claim_commits_no_change_number_before_one_taken_earlier(
    ingest_only: str, manual_settings: Settings
) -> None:
    """Another transaction holds change numbers it has not committed: a claim waits for it to
    commit, and its outcomes get the numbers after them (so a poller that read the counter never
    misses a change committed late, whatever the claim writes before taking its numbers)."""
    calls = await post_renamed_calls(ingest_only, 3, seed=9)
    engine = create_engine(manual_settings)
    try:
        async with engine.connect() as holder:
            await holder.begin()
            held = await queries.take_change_seqs(holder, 5)
            claim = asyncio.create_task(process_and_commit(engine, claim_size=100, now=LATER))
            async with engine.connect() as watcher:
                await until_a_backend_waits_for_a_lock(watcher, claim)
            assert not claim.done()
            await holder.commit()
        stats = await claim
    finally:
        await engine.dispose()

    assert stats.events == sum(len(call) for call in calls)
    rows = await stored(manual_settings)
    assert len(rows) == len(calls)
    assert min(row.change_seq for row in rows) == held + 5


async def process_and_commit(engine: AsyncEngine, *, claim_size: int, now: datetime) -> Any:
    async with engine.begin() as connection:
        return await process_new_events(connection, context=context(now), claim_size=claim_size)


async def until_a_backend_waits_for_a_lock(
    watcher: AsyncConnection, task: asyncio.Task[Any]
) -> None:
    """Return once a backend waits for a lock (the claim, blocked); fail if `task` ends first."""
    for _ in range(2000):
        waiting = await watcher.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
        )
        await watcher.rollback()  # the next read takes a new snapshot of the activity
        if waiting:
            return
        assert not task.done(), "the claim committed while earlier change numbers were held"
        await asyncio.sleep(0.005)
    pytest.fail("the claim never waited for the held change numbers")


async def drain_then_dispose(
    worker: ProcessorWorker, engine: AsyncEngine
) -> tuple[Drained, list[Any]]:
    """Drain with `worker`, then dispose of its engine; what it drained and what is still queued."""
    try:
        drained = await worker.drain()
        async with engine.connect() as connection:
            queued = (await connection.execute(select(event_queue.c.id))).all()
    finally:
        await engine.dispose()
    return drained, list(queued)


def _renamed(notifications: list[dict[str, Any]], hex_id: str) -> list[dict[str, Any]]:
    """The same call under another session id and fresh notification uuids."""
    text = orjson.dumps(notifications).decode().replace("718107795d564867a6f635fd81e89940", hex_id)
    renamed: list[dict[str, Any]] = orjson.loads(text)
    for position, notification in enumerate(renamed):
        notification["uuid"] = f"{hex_id}-{position}"
    return renamed


def test_a_drain_waits_out_the_gap_since_the_previous_one_started() -> None:
    assert drain_wait_s(None, now=100.0, gap_s=0.05) == 0.0
    assert drain_wait_s(100.0, now=100.01, gap_s=0.05) == pytest.approx(0.04)
    assert drain_wait_s(100.0, now=100.2, gap_s=0.05) == 0.0
