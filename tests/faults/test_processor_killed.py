"""A processor killed mid-batch: a backlog of 400 calls is stored while no processor runs, then
`callsift run` starts processing it and is SIGKILLed once some but not all outcomes exist.
Restarted, it drains the backlog: no event is left unprocessed, no event or leg is duplicated, and
every outcome and leg is exactly what the classifier makes offline of the same notifications in
one go. SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.processing import store_notifications
from classifiers import Outcome, classify_lines
from service.db.tables import call_legs, call_outcomes, event_queue, raw_events
from service.processing.processor import outcome_document
from service.settings import Settings
from tests.faults.support import (
    CallsiftProcess,
    build_calls,
    callsift_run,
    count_outcomes,
    database,
    drained,
    in_delivery_order,
    legs_per_party,
    report,
    session_of,
    stored_uuid_counts,
    unprocessed_events,
    wait_until,
)

BATCHES = 8  # the backlog, in the processor's claims as shipped


def batch_size(database_url: str) -> int:
    """Events per claim as shipped (larger with the processor in a process of its own)."""
    return Settings(_env_file=None, database_url=database_url).resolved_processor_batch_size()


# the columns the processor derives from the outcome; the others legitimately depend on the
# processing history: revision, created_at, updated_at, change_seq, and ever_abandoned (sticky
# over the intermediate outcomes a session had while its events were split between batches)
DERIVED_COLUMNS = (
    "direction",
    "category",
    "reason",
    "stage",
    "is_abandoned",
    "final",
    "started_at",
    "answered_at",
    "ended_at",
    "ring_s",
    "wait_s",
    "talk_s",
    "hold_s",
    "voicemail_s",
    "time_to_abandon_s",
    "queue",
    "from_number",
    "to_number",
    "rules_version",
    "sources",
    "reconciliation",
)


async def test_a_backlog_processed_across_a_kill_ends_as_if_processed_in_one_go(
    database_url: str, tmp_path: Path
) -> None:
    claim = batch_size(database_url)
    calls = BATCHES * claim // 10  # ten events each
    notifications = in_delivery_order(build_calls(calls, tag=f"backlog-{uuid.uuid4().hex[:8]}"))
    sessions = {session_of(n) for n in notifications}
    async with database(database_url) as engine:
        await store_notifications(engine, notifications, received_at=datetime.now(UTC))

        killed = CallsiftProcess(database_url, tmp_path, "killed")
        try:
            killed.start()

            async def some_outcomes() -> bool:
                return await count_outcomes(engine) > 0

            await wait_until(some_outcomes, timeout_s=60, what="a first outcome", interval_s=0.01)
            assert killed.kill() == -signal.SIGKILL
        finally:
            killed.close()
        outcomes_at_kill = await count_outcomes(engine)
        split_at_kill = await classified_with_events_unprocessed(engine)
        unprocessed_at_kill = await unprocessed_events(engine)
        figures = (
            f"{len(notifications)} events of {len(sessions)} sessions; at the kill "
            f"{outcomes_at_kill} outcomes ({split_at_kill} of sessions with events still "
            f"unprocessed), {unprocessed_at_kill} events unprocessed"
        )
        assert 0 < outcomes_at_kill < len(sessions), figures
        assert split_at_kill > 0, figures  # the restarted processor revisits classified sessions
        assert unprocessed_at_kill > 0, figures
        # a batch is one transaction: the kill left whole batches processed, or none
        assert (len(notifications) - unprocessed_at_kill) % claim == 0, figures

        async with callsift_run(database_url, tmp_path, "restarted"):
            await drained(engine)
        stored = await stored_uuid_counts(engine)
        outcomes = await stored_outcomes(engine)
        legs = await stored_legs(engine)
        leg_counts = await legs_per_party(engine)

    assert len(stored) == len(notifications), figures
    assert set(stored.values()) == {1}, figures
    assert set(leg_counts.values()) == {1}, figures
    expected = offline_outcomes(notifications)
    assert outcomes.keys() == expected.keys() == sessions, figures
    different = [
        session
        for session, outcome in expected.items()
        if outcomes[session] != expected_row(outcome)
    ]
    assert not different, f"{len(different)} outcomes differ, e.g. {different[0]}; {figures}"
    assert legs == {
        (outcome.telephony_session_id, leg.party_id, leg.extension_id, leg.outcome.value)
        for outcome in expected.values()
        for leg in outcome.legs
    }, figures
    report(f"processor killed mid-batch: {figures}; {len(outcomes)} outcomes after the restart")


async def classified_with_events_unprocessed(engine: AsyncEngine) -> int:
    """Sessions that have an outcome and events not yet processed."""
    unprocessed = select(raw_events.c.telephony_session_id).join_from(
        event_queue, raw_events, raw_events.c.id == event_queue.c.id
    )
    query = select(func.count()).where(call_outcomes.c.telephony_session_id.in_(unprocessed))
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


def offline_outcomes(notifications: list[dict[str, Any]]) -> dict[str, Outcome]:
    """The classifier's outcome of every session, from all its notifications at once."""
    result = classify_lines([orjson.dumps(n) for n in notifications], now=datetime.now(UTC))
    assert not result.errors
    return {outcome.telephony_session_id: outcome for outcome in result.outcomes}


def expected_row(outcome: Outcome) -> dict[str, Any]:
    values = outcome.model_dump()
    row = {column: values[column] for column in DERIVED_COLUMNS if column in values}
    row |= {
        "direction": outcome.direction.value,
        "category": outcome.category.value,
        "stage": outcome.stage.value,
        "sources": ",".join(source.value for source in outcome.sources),
        "reconciliation": outcome.reconciliation.value,
        "document": outcome_document(outcome, directory={}),
    }
    return row


async def stored_outcomes(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """Each session's outcome row: the derived columns and the document."""
    names = (*DERIVED_COLUMNS, "document")
    query = select(call_outcomes.c.telephony_session_id, *(call_outcomes.c[n] for n in names))
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return {str(row[0]): dict(zip(names, row[1:], strict=True)) for row in rows}


async def stored_legs(engine: AsyncEngine) -> set[tuple[str, str, str | None, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                call_legs.c.telephony_session_id,
                call_legs.c.party_id,
                call_legs.c.extension_id,
                call_legs.c.outcome,
            )
        )
        return {(session, party, extension, leg) for session, party, extension, leg in rows}
