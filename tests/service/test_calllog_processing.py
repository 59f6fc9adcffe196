"""Call-log records stored and taken into the outcomes, on SQLite and PostgreSQL: idempotent
storage with every version kept, outcomes from records alone, corrections the dashboard poll
sees, records that carry only the older sessionId, and outcomes that wait for the call log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from classifiers import RULES_VERSION, Thresholds
from fixtures.builder import ACCOUNT_VIEW, ALICE, BOB, CallBuilder, callee, pstn_caller
from service.api import queries as api_queries
from service.calllog.expectation import NO_CALL_LOG, CallLogExpectation
from service.calllog.store import DatabaseCallLogStore
from service.db.engine import create_engine
from service.db.tables import (
    call_log_pending,
    call_log_record_versions,
    call_log_records,
    call_outcomes,
)
from service.processing import queries as processing_queries
from service.processing.processor import (
    RECORDS_PER_CLAIM,
    ProcessingContext,
    process_new_events,
    settle_awaiting_sessions,
)
from service.settings import Settings
from service.webhooks.envelope import read_envelope
from service.webhooks.queries import insert_raw_events
from subscriptions.calllog import SaveCounts

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LATER = START + timedelta(hours=1)
CREDENTIAL = ALICE


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    created = create_engine(settings)
    yield created
    await created.dispose()


def _store(engine: AsyncEngine) -> DatabaseCallLogStore:
    return DatabaseCallLogStore(engine, clock=lambda: LATER, next_due=lambda now: now)


def _ringing(name: str, hangup_at: float = 22.0) -> CallBuilder:
    b = CallBuilder(name, START)
    caller, alice = pstn_caller(), callee(2, ALICE)
    b.at(0.0, caller, "Setup")
    b.at(0.05, alice, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, alice, "Proceeding")
    b.at(hangup_at, caller, "Disconnected")
    b.at(hangup_at + 0.03, alice, "Disconnected", missed=True)
    return b


async def _store_events(engine: AsyncEngine, notifications: Sequence[dict[str, Any]]) -> None:
    rows = []
    for notification in notifications:
        payload = orjson.dumps(notification)
        rows.append(
            read_envelope(orjson.loads(payload)).row(payload=payload.decode(), received_at=LATER)
        )
    async with engine.begin() as connection:
        await insert_raw_events(connection, rows)


async def _process(
    engine: AsyncEngine, call_log: CallLogExpectation = NO_CALL_LOG
) -> tuple[int, int]:
    context = ProcessingContext(now=LATER, thresholds=Thresholds(), directory={}, call_log=call_log)
    changed = corrections = 0
    while True:
        async with engine.begin() as connection:
            stats = await process_new_events(connection, context=context, claim_size=100)
        changed += stats.changed
        corrections += stats.corrections
        if not stats.claimed:
            return changed, corrections


async def _outcome(engine: AsyncEngine, session_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = await api_queries.get_call(connection, session_id)
    assert row is not None, session_id
    document: dict[str, Any] = orjson.loads(row.document)
    document["revision"] = row.storage.revision
    return document


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_page_is_stored_once_and_a_refetch_changes_nothing(engine: AsyncEngine) -> None:
    store = _store(engine)
    records = [
        _ringing(f"stored-{n}").call_log_record(
            ALICE, result="Missed", reason="Hang Up", duration_s=22
        )
        for n in range(3)
    ]
    first = await store.save_records(CREDENTIAL, records, fetched_at=LATER)
    again = await store.save_records(CREDENTIAL, records, fetched_at=LATER)
    assert first == SaveCounts(new=3)
    assert again == SaveCounts(unchanged=3)
    assert await _count(engine, call_log_records) == 3
    assert await _count(engine, call_log_record_versions) == 3
    async with engine.connect() as connection:
        payloads = (await connection.execute(select(call_log_records.c.payload))).scalars()
        assert sorted(orjson.loads(p)["id"] for p in payloads) == sorted(r["id"] for r in records)


async def test_every_version_is_kept_and_an_older_one_never_replaces_a_newer(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    b = _ringing("versions")
    in_progress = b.call_log_record(ALICE, result="In Progress", reason=None, duration_s=5)
    in_progress["lastModifiedTime"] = "2026-06-01T09:00:05.000Z"
    final = b.call_log_record(ALICE, result="Missed", reason="Hang Up", duration_s=22)
    assert await store.save_records(CREDENTIAL, [in_progress], fetched_at=LATER) == SaveCounts(
        new=1
    )
    assert await store.save_records(CREDENTIAL, [final], fetched_at=LATER) == SaveCounts(changed=1)
    await _process(engine)
    stale_reread = await store.save_records(CREDENTIAL, [in_progress], fetched_at=LATER)
    assert stale_reread == SaveCounts(unchanged=1)
    assert await _count(engine, call_log_pending) == 0  # nothing for the processor to take in
    assert await _count(engine, call_log_record_versions) == 2
    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                select(
                    call_log_records.c.result, call_log_records.c.final, call_log_records.c.versions
                )
            )
        ).one()
    assert tuple(stored) == ("Missed", True, 2)


async def test_a_call_known_only_from_the_call_log_gets_its_outcome(engine: AsyncEngine) -> None:
    b = _ringing("logged-only")
    record = b.call_log_record(ALICE, result="Missed", reason="Hang Up", duration_s=22)
    await _store(engine).save_records(CREDENTIAL, [record], fetched_at=LATER)
    changed, _ = await _process(engine)
    assert changed == 1
    outcome = await _outcome(engine, b.session_id)
    assert outcome["category"] == "abandoned_ringing"
    assert outcome["reconciliation"] == "call_log_only"
    assert outcome["sources"] == ["call_log"]
    assert outcome["time_to_abandon_s"] == 22.0
    async with engine.connect() as connection:
        assert not await processing_queries.has_outcomes_of_other_rules(connection, RULES_VERSION)
        assert await processing_queries.has_outcomes_of_other_rules(connection, "1-older")
    async with engine.connect() as connection:
        pending = await connection.scalar(select(func.count()).select_from(call_log_pending))
    assert pending == 0


async def test_a_correction_by_the_call_log_reaches_the_abandoned_poll(
    engine: AsyncEngine,
) -> None:
    """Alice's extension saw the caller hang up while she rang; the call log says Bob (out of
    view) accepted the call. The poll first lists the abandon, then its removal."""
    b = _ringing("corrected-later", hangup_at=25.0)
    await _store_events(engine, b.notifications((ALICE,)))
    await _process(engine)
    before = await _outcome(engine, b.session_id)
    assert before["category"] == "abandoned_ringing"
    async with engine.connect() as connection:
        seen = await api_queries.last_change_seq(connection)
    record = b.call_log_record(BOB, result="Accepted", reason="Accepted", duration_s=120)
    await _store(engine).save_records(BOB, [record], fetched_at=LATER)
    _, corrections = await _process(engine)
    assert corrections == 1
    after = await _outcome(engine, b.session_id)
    assert after["category"] == "answered"
    assert after["reconciliation"] == "call_log_corrected"
    assert "events_suggest:abandoned_ringing" in after["evidence"]
    assert after["revision"] == before["revision"] + 1
    async with engine.connect() as connection:
        last = await api_queries.last_change_seq(connection)
        changes = await api_queries.abandoned_changes(
            connection, after_seq=seen, upto_seq=last, limit=10
        )
    assert [(change.is_abandoned, change.category) for change in changes] == [(False, "answered")]


@pytest.mark.parametrize("records_first", [False, True])
async def test_a_record_with_only_the_older_session_id_joins_its_events(
    engine: AsyncEngine, records_first: bool
) -> None:
    b = _ringing(f"legacy-{records_first}", hangup_at=16.0)
    record = b.call_log_record(
        ALICE, result="Missed", reason="Hang Up", duration_s=16, telephony_session=False
    )
    events = b.notifications(ACCOUNT_VIEW)
    if records_first:
        await _store(engine).save_records(CREDENTIAL, [record], fetched_at=LATER)
        await _process(engine)
        provisional = await _outcome(engine, f"session:{record['sessionId']}")
        assert provisional["reconciliation"] == "call_log_only"
        async with engine.connect() as connection:
            shown = await api_queries.call_log_of(connection, f"session:{record['sessionId']}")
        assert len(shown) == 1
        await _store_events(engine, events)
    else:
        await _store_events(engine, events)
        await _process(engine)
        await _store(engine).save_records(CREDENTIAL, [record], fetched_at=LATER)
    await _process(engine)
    outcome = await _outcome(engine, b.session_id)
    assert outcome["sources"] == ["webhook", "call_log"]
    assert outcome["reconciliation"] == "agreed"
    async with engine.connect() as connection:
        shown = await api_queries.call_log_of(connection, b.session_id)  # linked by sessionId
    assert [orjson.loads(payload)["id"] for payload in shown] == [record["id"]]
    async with engine.connect() as connection:
        keys = (await connection.execute(select(call_outcomes.c.telephony_session_id))).scalars()
        assert list(keys) == [b.session_id]  # the provisional outcome merged into the session


async def test_outcomes_wait_for_the_call_log_until_the_sync_has_read_past_them(
    engine: AsyncEngine,
) -> None:
    b = _ringing("awaiting")
    await _store_events(engine, b.notifications(ACCOUNT_VIEW))
    behind = CallLogExpectation(expected=True, synced_through=START - timedelta(hours=1))
    await _process(engine, behind)
    assert (await _outcome(engine, b.session_id))["reconciliation"] == "awaiting_call_log"
    context = ProcessingContext(now=LATER, thresholds=Thresholds(), directory={}, call_log=behind)
    async with engine.begin() as connection:
        settled = await settle_awaiting_sessions(connection, context=context, limit=10)
    assert settled.changed == 0
    past = CallLogExpectation(expected=True, synced_through=START + timedelta(hours=1))
    context = ProcessingContext(now=LATER, thresholds=Thresholds(), directory={}, call_log=past)
    async with engine.begin() as connection:
        settled = await settle_awaiting_sessions(connection, context=context, limit=10)
    assert (settled.changed, settled.failures) == (1, 0)
    outcome = await _outcome(engine, b.session_id)
    assert outcome["reconciliation"] == "events_only"
    assert outcome["category"] == "abandoned_ringing"


async def test_a_batch_full_of_records_says_more_may_wait(engine: AsyncEngine) -> None:
    """The worker pauses only after a batch that was not full: a backfill's records are taken
    in back to back even though a batch takes fewer records than events."""
    records = [
        _ringing(f"full-{n}").call_log_record(
            ALICE, result="Missed", reason="Hang Up", duration_s=22
        )
        for n in range(RECORDS_PER_CLAIM + 5)
    ]
    await _store(engine).save_records(CREDENTIAL, records, fetched_at=LATER)
    context = ProcessingContext(now=LATER, thresholds=Thresholds(), directory={})
    async with engine.begin() as connection:
        first = await process_new_events(connection, context=context, claim_size=500)
    async with engine.begin() as connection:
        second = await process_new_events(connection, context=context, claim_size=500)
    assert (first.records, first.full) == (RECORDS_PER_CLAIM, True)
    assert (second.records, second.full) == (5, False)
