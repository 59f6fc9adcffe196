"""One bad session never stops processing, on SQLite and PostgreSQL: events at the ends of the
calendar, a session the classifier fails on, and rows the database refuses even alone (set
aside, their session stored as `classification_failed`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from classifiers import DirectoryEntry, Outcome, PartyEvent, Thresholds, classify_events
from fixtures.builder import ACCOUNT_VIEW, ALICE, BOB, CallBuilder, callee, pstn_caller
from service.calllog.expectation import CallLogExpectation
from service.calllog.store import DatabaseCallLogStore
from service.cli import app
from service.db.engine import create_engine
from service.db.tables import call_log_pending, call_outcomes, event_queue
from service.metrics import Metrics
from service.processing import processor
from service.processing.processor import ProcessingContext, process_new_events
from service.processing.worker import ProcessorWorker
from service.settings import Settings
from service.webhooks.envelope import IngestEnvelope
from service.webhooks.queries import insert_raw_events

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
LATER = START + timedelta(hours=1)


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    created = create_engine(settings)
    yield created
    await created.dispose()


def _ringing(name: str, extension: str = ALICE) -> CallBuilder:
    b = CallBuilder(name, START)
    caller, person = pstn_caller(), callee(2, extension)
    b.at(0.0, caller, "Setup")
    b.at(0.05, person, "Setup")
    b.at(0.1, caller, "Answered")
    b.at(0.2, person, "Proceeding")
    b.at(15.0, caller, "Disconnected")
    b.at(15.03, person, "Disconnected", missed=True)
    return b


async def _store_raw(engine: AsyncEngine, notifications: Sequence[dict[str, Any]]) -> None:
    """Store notifications as rows exactly as an older webhook did, without its checks (the
    rows are what a database upgraded from then may hold)."""
    rows = []
    for notification in notifications:
        body = notification["body"]
        party = body["parties"][0]
        event_time = datetime.fromisoformat(body["eventTime"])
        envelope = IngestEnvelope(
            notification["uuid"],
            notification["event"],
            "telephony",
            None,
            None,
            party.get("extensionId"),
            body["telephonySessionId"],
            body["sequence"],
            party["id"],
            event_time if START.year - 1 < event_time.year < 3000 else None,
        )
        payload = orjson.dumps(notification).decode()
        rows.append(envelope.row(payload=payload, received_at=LATER))
    async with engine.begin() as connection:
        await insert_raw_events(connection, rows)


async def _outcomes(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(call_outcomes.c.telephony_session_id, call_outcomes.c.document)
        )
        return {row[0]: orjson.loads(row[1]) for row in rows}


async def _unprocessed(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(event_queue))
    return int(count or 0)


async def _queued_records(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(call_log_pending))
    return int(count or 0)


def _context(directory: Mapping[str, DirectoryEntry] | None = None) -> ProcessingContext:
    return ProcessingContext(now=LATER, thresholds=Thresholds(), directory=directory or {})


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59.000Z", "0001-01-01T00:00:00.000Z"])
async def test_events_at_the_ends_of_the_calendar_do_not_stop_processing(
    engine: AsyncEngine, moment: str
) -> None:
    """Such an event once raised OverflowError on every retry, and every later event waited."""
    edge = _ringing(f"edge-{moment[:4]}")
    lines = edge.notifications(ACCOUNT_VIEW)
    lines[0]["body"]["eventTime"] = moment
    normal = _ringing(f"normal-{moment[:4]}", BOB)
    await _store_raw(engine, [*lines, *normal.notifications(ACCOUNT_VIEW)])
    async with engine.begin() as connection:
        stats = await process_new_events(connection, context=_context(), claim_size=100)
    assert stats.events == 12
    outcomes = await _outcomes(engine)
    assert outcomes[normal.session_id]["category"] == "abandoned_ringing"
    assert edge.session_id in outcomes
    assert await _unprocessed(engine) == 0


def _classifier_failing_on(session_id: str) -> Any:
    """The classifier with a bug that only one session's events reach."""

    def classify(events: list[PartyEvent], **kwargs: Any) -> Outcome:
        if events[0].telephony_session_id == session_id:
            msg = "a rule met a case it did not expect"
            raise RuntimeError(msg)
        return classify_events(events, **kwargs)

    return classify


async def test_a_session_the_classifier_fails_on_is_stored_as_failed_and_the_rest_goes_on(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing, fine = _ringing("classifier-fails", ALICE), _ringing("classifier-fine", BOB)
    await _store_raw(
        engine, [*failing.notifications(ACCOUNT_VIEW), *fine.notifications(ACCOUNT_VIEW)]
    )
    monkeypatch.setattr(processor, "classify_events", _classifier_failing_on(failing.session_id))
    async with engine.begin() as connection:
        stats = await process_new_events(connection, context=_context(), claim_size=100)
    assert stats.failures == 1
    outcomes = await _outcomes(engine)
    assert outcomes[fine.session_id]["category"] == "abandoned_ringing"
    failed = outcomes[failing.session_id]
    assert failed["category"] == "unknown"
    assert failed["data_gaps"] == ["classification_failed"]
    assert failed["evidence"] == ["error:RuntimeError: a rule met a case it did not expect"]
    assert failed["started_at"] is not None  # it is listed in /v1/calls by time


async def test_the_sweep_and_reclassify_count_the_sessions_the_classifier_fails_on(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session that waited for the call log fails when the sweep settles it, and again when
    `callsift reclassify` tries it: both say so."""
    failing, fine = _ringing("sweep-fails", ALICE), _ringing("sweep-fine", BOB)
    await _store_raw(
        engine, [*failing.notifications(ACCOUNT_VIEW), *fine.notifications(ACCOUNT_VIEW)]
    )
    behind = CallLogExpectation(expected=True, synced_through=START - timedelta(hours=1))
    context = ProcessingContext(now=LATER, thresholds=Thresholds(), directory={}, call_log=behind)
    async with engine.begin() as connection:
        await process_new_events(connection, context=context, claim_size=100)
    assert (await _outcomes(engine))[failing.session_id]["reconciliation"] == "awaiting_call_log"

    async def read_past() -> CallLogExpectation:
        return CallLogExpectation(expected=True, synced_through=LATER)

    metrics = Metrics()
    worker = ProcessorWorker(
        engine,
        thresholds=Thresholds(),
        metrics=metrics,
        claim_size=100,
        call_log=read_past,
        clock=lambda: LATER,
    )
    monkeypatch.setattr(processor, "classify_events", _classifier_failing_on(failing.session_id))

    assert await worker.sweep_stale() == 2
    assert metrics.registry.get_sample_value("callsift_classification_failures_total") == 1
    assert (await _outcomes(engine))[failing.session_id]["reason"] == "classification_failed"

    env = {"CALLSIFT_DATABASE_URL": settings.database_url}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["reclassify"], env=env)
    assert result.exit_code == 0, result.output
    assert "reclassified 2 sessions" in result.output
    assert "the classifier failed on 1 sessions" in result.output


POISONED_SESSION = _ringing("legs-refused").session_id
POISONED_RECORD_SESSION = _ringing("record-legs-refused").session_id
POSTGRES_TRIGGER = [
    f"""CREATE FUNCTION refuse_legs() RETURNS trigger AS $$
        BEGIN
            IF NEW.telephony_session_id IN ('{POISONED_SESSION}', '{POISONED_RECORD_SESSION}') THEN
                RAISE EXCEPTION 'legs refused';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER refuse_legs BEFORE INSERT ON call_legs "
    "FOR EACH ROW EXECUTE FUNCTION refuse_legs()",
]
POSTGRES_CLEANUP = ["DROP TRIGGER refuse_legs ON call_legs", "DROP FUNCTION refuse_legs()"]
SQLITE_TRIGGER = [
    f"""CREATE TRIGGER refuse_legs BEFORE INSERT ON call_legs
        WHEN NEW.telephony_session_id IN ('{POISONED_SESSION}', '{POISONED_RECORD_SESSION}')
        BEGIN SELECT RAISE(ABORT, 'legs refused'); END"""
]
SQLITE_CLEANUP = ["DROP TRIGGER refuse_legs"]


@pytest.fixture
async def refusing_engine(settings: Settings, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The database refuses, inside the INSERT, every leg of the two poisoned sessions: a
    stand-in for any row the database will never take, whatever the cause."""
    install, cleanup = (
        (SQLITE_TRIGGER, SQLITE_CLEANUP)
        if settings.is_sqlite
        else (POSTGRES_TRIGGER, POSTGRES_CLEANUP)
    )
    async with engine.begin() as connection:
        for statement in install:
            await connection.execute(text(statement))
    yield engine
    async with engine.begin() as connection:
        for statement in cleanup:
            await connection.execute(text(statement))


async def test_rows_the_database_refuses_even_alone_are_set_aside(
    refusing_engine: AsyncEngine,
) -> None:
    """The poisoned session's events are set aside one by one (marked processed, the session
    stored as `classification_failed`); every other event is processed."""
    engine = refusing_engine
    poisoned = _ringing("legs-refused")
    lines = poisoned.notifications(ACCOUNT_VIEW)
    fine = _ringing("legs-fine", BOB)
    await _store_raw(engine, [*lines, *fine.notifications(ACCOUNT_VIEW)])
    metrics = Metrics()
    worker = ProcessorWorker(engine, thresholds=Thresholds(), metrics=metrics, claim_size=100)

    failures = 0
    for _ in range(3 * len(lines)):  # what the worker's loop does, one step at a time
        if not await _unprocessed(engine):
            break
        try:
            await worker.run_once()
        except Exception:  # the batch failed for what it held
            failures += 1
            await worker.isolate()

    assert failures >= 1
    assert await _unprocessed(engine) == 0
    outcomes = await _outcomes(engine)
    assert outcomes[fine.session_id]["category"] == "abandoned_ringing"
    failed = outcomes[POISONED_SESSION]
    assert failed["data_gaps"] == ["classification_failed"]
    assert failed["reason"] == "classification_failed"
    assert (failed["sources"], failed["reconciliation"]) == (["webhook"], "events_only")
    assert "legs refused" in failed["evidence"][0]
    set_aside = metrics.registry.get_sample_value("callsift_processor_set_aside_total")
    assert set_aside == len(lines)  # every event of the poisoned session, and none other


async def test_a_call_log_record_refused_even_alone_is_set_aside_and_the_events_go_on(
    refusing_engine: AsyncEngine,
) -> None:
    """The batch holds an innocent event and the poisoned record: only the record is set aside
    (it stays stored; `callsift reclassify` tries it again)."""
    engine = refusing_engine
    store = DatabaseCallLogStore(engine, clock=lambda: LATER, next_due=lambda now: now)
    poisoned = _ringing("record-legs-refused")
    fine_record = _ringing("record-fine", BOB)
    records = [
        call.call_log_record(extension, result="Missed", reason="Hang Up", duration_s=15)
        for call, extension in ((poisoned, ALICE), (fine_record, BOB))
    ]
    await store.save_records(ALICE, records, fetched_at=LATER)
    fine_events = _ringing("events-fine", BOB)
    await _store_raw(engine, fine_events.notifications(ACCOUNT_VIEW))
    metrics = Metrics()
    worker = ProcessorWorker(engine, thresholds=Thresholds(), metrics=metrics, claim_size=100)

    drained = await worker.drain()  # what `callsift calllog sync` does

    assert drained.set_aside == 1
    assert drained.changed >= 2
    assert await _unprocessed(engine) == 0
    assert await _queued_records(engine) == 0
    outcomes = await _outcomes(engine)
    assert outcomes[fine_events.session_id]["category"] == "abandoned_ringing"
    assert outcomes[fine_record.session_id]["sources"] == ["call_log"]
    failed = outcomes[POISONED_RECORD_SESSION]
    assert failed["data_gaps"] == ["classification_failed"]
    assert failed["sources"] == ["call_log"]
    assert failed["reconciliation"] == "call_log_only"
    set_aside = metrics.registry.get_sample_value("callsift_processor_set_aside_total")
    assert set_aside == 1


async def test_reclassify_goes_on_past_a_session_it_cannot_write(
    refusing_engine: AsyncEngine, settings: Settings
) -> None:
    """`callsift reclassify` writes every other session, names the one it could not write and
    exits 1."""
    engine = refusing_engine
    poisoned, fine = _ringing("legs-refused"), _ringing("reclassify-fine", BOB)
    await _store_raw(
        engine, [*poisoned.notifications(ACCOUNT_VIEW), *fine.notifications(ACCOUNT_VIEW)]
    )
    async with engine.begin() as connection:  # the fine session alone, before any refusal
        await processor.recompute(connection, [fine.session_id], context=_context())
    assert (await _outcomes(engine))[fine.session_id]["category"] == "abandoned_ringing"

    env = {"CALLSIFT_DATABASE_URL": settings.database_url, "CALLSIFT_SHORT_ABANDON_S": "20"}
    result = await asyncio.to_thread(CliRunner().invoke, app, ["reclassify"], env=env)

    assert result.exit_code == 1, result.output
    assert "reclassified 2 sessions; 1 outcomes changed" in result.output
    assert f"1 sessions could not be written (see the log), e.g. {POISONED_SESSION}" in (
        result.output
    )
    assert (await _outcomes(engine))[fine.session_id]["category"] == "short_abandon"


async def test_only_what_rows_hold_is_isolated_a_failing_database_is_waited_for(
    engine: AsyncEngine, settings: Settings
) -> None:
    """Values the database refuses are poison; a deadlock, a serialization failure, a timeout, a
    missing table or an unreachable database fail every row alike and are waited for."""
    statements = {
        "SELECT * FROM no_such_table": False,
        "INSERT INTO raw_events (uuid) VALUES (NULL)": True,
    }
    if not settings.is_sqlite:
        raising = "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '{}'; END $$".format
        statements |= {
            raising("40P01"): False,  # deadlock
            raising("40001"): False,  # serialization failure
            raising("57014"): False,  # statement timeout
            raising("P0001"): True,  # a trigger refusing a row
            "SELECT 'a\\000b'::bytea::text::int": True,  # invalid value
        }
    for statement, poison in statements.items():
        with pytest.raises(DBAPIError) as raised:
            async with engine.begin() as connection:
                await connection.execute(text(statement))
        assert processor.is_poison(raised.value) is poison, statement
    gone = create_engine(settings.model_copy(update={"database_url": _unreachable(settings)}))
    try:
        with pytest.raises((DBAPIError, OSError)) as unreachable:  # asyncpg: OSError unwrapped
            async with gone.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await gone.dispose()
    assert not processor.is_poison(unreachable.value)
    assert processor.is_poison(OverflowError("date value out of range"))


def _unreachable(settings: Settings) -> str:
    if settings.is_sqlite:
        return "sqlite+aiosqlite:////nonexistent-folder/callsift.db"
    return "postgresql+asyncpg://callsift:x@127.0.0.1:1/callsift"
