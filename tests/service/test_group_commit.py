"""Group commit and database failures: nothing claims success without a durable write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from sqlalchemy import text

from fixtures.notifications import telephony_notification
from service.app import create_app
from service.db.engine import create_engine
from service.serving import serve
from service.settings import Settings
from service.webhooks.envelope import read_envelope
from service.webhooks.writer import (
    LINGER_ROWS,
    BatchReport,
    GroupCommitWriter,
    StoreUnavailable,
    linger_s,
)
from tests.conftest import WEBHOOK_TOKEN, LiveService
from tests.service.test_webhook_ingest import AUTHENTIC, stored_uuids
from tests.support.notifications import encode, post_concurrently

POISON_UUID = "poison-row"
GONE_UUID = "zz-database-goes-away"  # PostgreSQL only: fails as a shutdown would; sorts last

POSTGRES_TRIGGER = [
    f"""CREATE FUNCTION reject_poison() RETURNS trigger AS $$
        BEGIN
            IF NEW.uuid = '{POISON_UUID}' THEN RAISE EXCEPTION 'poisoned row'; END IF;
            IF NEW.uuid = '{GONE_UUID}' THEN
                RAISE EXCEPTION 'shutting down' USING ERRCODE = '57P01';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql""",
    "CREATE TRIGGER reject_poison BEFORE INSERT ON raw_events "
    "FOR EACH ROW EXECUTE FUNCTION reject_poison()",
]
POSTGRES_CLEANUP = ["DROP TRIGGER reject_poison ON raw_events", "DROP FUNCTION reject_poison()"]
SQLITE_TRIGGER = [
    f"""CREATE TRIGGER reject_poison BEFORE INSERT ON raw_events
        WHEN NEW.uuid = '{POISON_UUID}' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END"""
]
SQLITE_CLEANUP = ["DROP TRIGGER reject_poison"]


async def _execute(settings: Settings, statements: list[str]) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
async def poisoned_database(settings: Settings) -> AsyncIterator[Settings]:
    """The database rejects (inside the INSERT) any row whose uuid is POISON_UUID."""
    if settings.is_sqlite:
        install, cleanup = SQLITE_TRIGGER, SQLITE_CLEANUP
    else:
        install, cleanup = POSTGRES_TRIGGER, POSTGRES_CLEANUP
    await _execute(settings, install)
    yield settings
    await _execute(settings, cleanup)


def _row(notification: dict[str, Any]) -> dict[str, Any]:
    body = encode(notification)
    return read_envelope(orjson.loads(body)).row(
        payload=body.decode(), received_at=datetime.now(UTC)
    )


class TestGroupCommitWriter:
    async def test_a_row_the_database_refuses_fails_only_its_own_request(
        self, poisoned_database: Settings
    ) -> None:
        """The batch fails; written again row by row, only the poisoned row is refused."""
        engine = create_engine(poisoned_database)
        reports: list[BatchReport] = []
        writer = GroupCommitWriter(engine, on_batch=reports.append)
        await writer.start()
        try:
            good = [_row(telephony_notification(sequence=n)) for n in range(2, 6)]
            poison = _row(telephony_notification(uuid=POISON_UUID))
            outcomes = await asyncio.gather(
                *(writer.store_event(row) for row in [*good[:2], poison, *good[2:]]),
                return_exceptions=True,
            )
            assert isinstance(outcomes[2], StoreUnavailable)
            assert [outcomes[n] for n in (0, 1, 3, 4)] == [True] * 4
            assert reports == [
                BatchReport(
                    size=5, inserted=4, duplicates=0, quarantined=0, failed=False, refused=1
                )
            ]
            assert await stored_uuids(poisoned_database) == sorted(row["uuid"] for row in good)

            assert await writer.store_event(good[0]) is False  # stored once
        finally:
            await writer.stop()
            await engine.dispose()

    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    async def test_once_the_database_goes_away_the_rows_left_fail_at_once(
        self, poisoned_database: Settings
    ) -> None:
        """Row by row, a write that fails for another reason than the row ends the retry: the
        rows after it fail with it instead of each waiting for its own timeout."""
        engine = create_engine(poisoned_database)
        reports: list[BatchReport] = []
        writer = GroupCommitWriter(engine, on_batch=reports.append)
        await writer.start()
        try:
            first, *after = [_row(telephony_notification(sequence=n)) for n in range(2, 5)]
            poison = _row(telephony_notification(uuid=POISON_UUID))
            gone = _row(telephony_notification(uuid=GONE_UUID))
            outcomes = await asyncio.gather(
                *(writer.store_event(row) for row in [first, poison, gone, *after]),
                return_exceptions=True,
            )
        finally:
            await writer.stop()
            await engine.dispose()
        assert outcomes[0] is True
        assert all(isinstance(outcome, StoreUnavailable) for outcome in outcomes[1:])
        assert reports == [
            BatchReport(size=5, inserted=1, duplicates=0, quarantined=0, failed=True, refused=2)
        ]
        assert await stored_uuids(poisoned_database) == [first["uuid"]]

    async def test_concurrent_requests_share_one_transaction(self, settings: Settings) -> None:
        engine = create_engine(settings)
        reports: list[BatchReport] = []
        writer = GroupCommitWriter(engine, on_batch=reports.append)
        await writer.start()
        try:
            rows = [_row(telephony_notification(sequence=n)) for n in range(2, 52)]
            results = await asyncio.gather(*(writer.store_event(row) for row in [*rows, rows[0]]))
        finally:
            await writer.stop()
            await engine.dispose()
        assert results == [True] * 50 + [False]
        assert reports == [
            BatchReport(size=51, inserted=50, duplicates=1, quarantined=0, failed=False)
        ]

    async def test_under_load_a_batch_waits_for_the_commit_delay(self, settings: Settings) -> None:
        """Rows arriving one loop turn apart right after a batch started share the next one
        (the clock stands still: every batch is "just after" the previous)."""
        engine = create_engine(settings)
        reports: list[BatchReport] = []
        writer = GroupCommitWriter(
            engine, commit_delay_s=0.2, on_batch=reports.append, clock=lambda: 100.0
        )
        await writer.start()
        try:
            first, *wave = [_row(telephony_notification(sequence=n)) for n in range(2, 8)]
            assert await writer.store_event(first) is True  # the first batch never waits
            requests = []
            for row in wave:
                requests.append(asyncio.create_task(writer.store_event(row)))
                await asyncio.sleep(0)
            assert await asyncio.gather(*requests) == [True] * len(wave)
        finally:
            await writer.stop()
            await engine.dispose()
        assert [report.size for report in reports] == [1, len(wave)]
        assert await stored_uuids(settings) == sorted(row["uuid"] for row in [first, *wave])

    async def test_a_stopped_writer_refuses_instead_of_hanging(self, settings: Settings) -> None:
        engine = create_engine(settings)
        writer = GroupCommitWriter(engine)
        await writer.start()
        await writer.stop()
        with pytest.raises(StoreUnavailable):
            await writer.store_event(_row(telephony_notification()))
        await engine.dispose()


async def test_over_http_only_the_refused_row_is_not_acknowledged(
    poisoned_database: Settings, service: LiveService
) -> None:
    notifications = [telephony_notification(sequence=n) for n in range(2, 42)]
    notifications.insert(20, telephony_notification(uuid=POISON_UUID))
    bodies = [encode(n) for n in notifications]
    responses = await post_concurrently(service.server.base_url, bodies, AUTHENTIC)

    statuses = {n["uuid"]: r.status_code for n, r in zip(notifications, responses, strict=True)}
    assert set(statuses.values()) <= {200, 503}
    assert statuses[POISON_UUID] == 503
    assert sorted(statuses.values()) == [200] * 40 + [503]
    acknowledged = sorted(uuid for uuid, status in statuses.items() if status == 200)
    assert await stored_uuids(poisoned_database) == acknowledged
    failed = [r for r in responses if r.status_code == 503]
    assert all(r.json()["error"]["code"] == "store_unavailable" for r in failed)


@pytest.mark.parametrize(
    "unreachable_url",
    [
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/stopped", id="postgresql"),
        pytest.param("sqlite+aiosqlite:///{tmp}/missing-directory/callsift.db", id="sqlite"),
    ],
)
async def test_database_down_gives_503_and_never_200(tmp_path: Path, unreachable_url: str) -> None:
    settings = Settings(
        _env_file=None,
        database_url=unreachable_url.format(tmp=tmp_path),
        webhook_verification_token=SecretStr(WEBHOOK_TOKEN),
        db_connect_timeout_s=1,
    )
    async with (
        serve(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.base_url) as client,
    ):
        responses = await asyncio.gather(
            *(
                client.post(
                    "/webhooks/ringcentral",
                    content=encode(telephony_notification(sequence=n)),
                    headers=AUTHENTIC,
                )
                for n in range(2, 12)
            )
        )
        ready = await client.get("/readyz")
    assert [r.status_code for r in responses] == [503] * 10
    assert responses[0].json()["error"]["code"] == "store_unavailable"
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "database_unavailable"


class TestLinger:
    def test_a_batch_right_after_another_waits_out_the_delay(self) -> None:
        assert linger_s(waiting=1, since_previous_s=0.0005, commit_delay_s=0.002) == pytest.approx(
            0.0015
        )

    def test_batches_further_apart_than_the_delay_start_at_once(self) -> None:
        assert linger_s(waiting=1, since_previous_s=0.002, commit_delay_s=0.002) == 0.0
        assert linger_s(waiting=1, since_previous_s=5.0, commit_delay_s=0.002) == 0.0

    def test_enough_rows_waiting_start_at_once(self) -> None:
        assert linger_s(waiting=LINGER_ROWS, since_previous_s=0.0, commit_delay_s=0.002) == 0.0
        assert linger_s(waiting=LINGER_ROWS - 1, since_previous_s=0.0, commit_delay_s=0.002) > 0

    def test_no_delay_never_waits(self) -> None:
        assert linger_s(waiting=1, since_previous_s=0.0, commit_delay_s=0.0) == 0.0


def test_the_commit_delay_is_postgresqls_by_default_and_can_be_set() -> None:
    def delay_s(url: str, **values: Any) -> float:
        return Settings(_env_file=None, database_url=url, **values).resolved_ingest_commit_delay_s()

    assert delay_s("postgresql+asyncpg://u@h/db") == 0.002
    assert delay_s("sqlite+aiosqlite:///x.db") == 0.0
    assert delay_s("sqlite+aiosqlite:///x.db", ingest_commit_delay_ms=1) == 0.001
    assert delay_s("postgresql+asyncpg://u@h/db", ingest_commit_delay_ms=0) == 0.0
