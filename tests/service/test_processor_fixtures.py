"""Every fixture through the running service: its notifications posted over HTTP in shuffled
order with duplicates, processed by the real processor, read back from the database, equal to the
fixture's expected outcome. Both databases.

Fixtures whose outcome depends on a call-log record are left out: the service has no call-log
ingestion yet, so it cannot see that evidence (the classifier tests cover those fixtures)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from classifiers import Outcome
from service.db.engine import create_engine
from service.db.tables import call_outcomes
from service.processing.processor import ProcessingContext, outcome_document, process_new_events
from service.settings import Settings
from tests.classifiers.helpers import expected_files, load_fixture
from tests.service.test_processor import post_all

WITHOUT_CALL_LOG = [p for p in expected_files() if not orjson.loads(p.read_bytes())["call_log"]]
STORAGE_FIELDS = ("revision", "updated_at")


@pytest.mark.parametrize(
    "path", WITHOUT_CALL_LOG, ids=lambda p: p.name.removesuffix(".expected.json")
)
async def test_fixture_through_the_service(
    path: Path, ingest_only: str, manual_settings: Settings
) -> None:
    fixture = load_fixture(path)
    notifications = [orjson.loads(line) for line in fixture.lines]
    rng = random.Random(path.name)
    delivered = notifications + rng.sample(notifications, min(3, len(notifications)))
    rng.shuffle(delivered)
    await post_all(ingest_only, delivered)

    stored = await _process_and_read(manual_settings, fixture)

    # the classifier's outcome, stored as the processor stores it (with its names and label)
    expected = {
        o["telephony_session_id"]: _content(
            orjson.loads(outcome_document(Outcome.model_validate(o), directory=fixture.directory))
        )
        for o in fixture.expected
    }
    assert stored == expected


async def _process_and_read(settings: Settings, fixture: Any) -> dict[str, dict[str, Any]]:
    context = ProcessingContext(
        now=fixture.now, thresholds=fixture.thresholds, directory=fixture.directory
    )
    engine = create_engine(settings)
    try:
        while True:
            async with engine.begin() as connection:
                stats = await process_new_events(connection, context=context, claim_size=4)
            if not stats.events:
                break
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(call_outcomes.c.telephony_session_id, call_outcomes.c.document)
            )
            return {row[0]: _content(orjson.loads(row[1])) for row in rows}
    finally:
        await engine.dispose()


def _content(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in outcome.items() if key not in STORAGE_FIELDS}
