"""The database made unreachable and back while `callsift run` serves webhooks, with no restart.
PostgreSQL: a TCP proxy between the service and the server closes every connection it carries and
refuses new ones, then forwards again. SQLite: another connection holds the file's write lock
(`BEGIN EXCLUSIVE`), then lets go.

While down, no webhook is answered 200 (503: RingCentral will redeliver) and none is stored. On
PostgreSQL the /v1 routes that read the database and /readyz answer 503 (with Retry-After on
/v1); on SQLite, whose WAL lets readers go on past a writer's lock, they answer 200. Once up,
webhooks are answered 200 again, the redelivered ones included; everything answered 200 is stored
exactly once and the processor catches up on its own."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.tables import call_outcomes
from tests.faults.support import (
    CuttableProxy,
    Ledger,
    build_calls,
    callsift_run,
    create_api_key,
    database,
    drained,
    in_delivery_order,
    outcomes_per_session,
    post_with_ledger,
    report,
    stored_sessions,
    stored_uuid_counts,
    uuid_of,
)

CALLS = 12  # 120 notifications
DURING_OUTAGE = 6  # webhooks sent while the database is down
# the /v1 routes that read the database (`/v1/info` answers from memory once the key is verified)
V1_PATHS = ("/v1/calls", "/v1/calls.csv", "/v1/abandoned", "/v1/stats/outcomes", "/v1/extensions")


@dataclass
class Outage:
    """How the service reaches the database, and the switch that takes it away."""

    service_url: str
    proxy: CuttableProxy | None
    sqlite_path: str | None
    _lock: sqlite3.Connection | None = None

    async def down(self) -> None:
        if self.proxy is not None:
            await asyncio.to_thread(self.proxy.cut)
            return
        assert self.sqlite_path is not None
        self._lock = await asyncio.to_thread(_write_lock, self.sqlite_path)

    async def up(self) -> None:
        if self.proxy is not None:
            await asyncio.to_thread(self.proxy.restore)
            return
        assert self._lock is not None
        self._lock.execute("ROLLBACK")
        self._lock.close()
        self._lock = None

    def close(self) -> None:
        if self._lock is not None:
            self._lock.close()


def _write_lock(path: str) -> sqlite3.Connection:
    """A connection holding the SQLite file's exclusive (write) lock."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    connection.execute("BEGIN EXCLUSIVE")
    return connection


@contextlib.contextmanager
def outage_switch(database_url: str) -> Iterator[Outage]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        outage = Outage(database_url, None, url.database)
        try:
            yield outage
        finally:
            outage.close()
        return
    with CuttableProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        proxied = url.set(host="127.0.0.1", port=proxy.port)
        yield Outage(proxied.render_as_string(hide_password=False), proxy, None)


@contextlib.asynccontextmanager
async def api_client(base_url: str, key: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        yield client


async def test_no_200_while_the_database_is_down_and_all_200s_stored_once_after(
    database_url: str, tmp_path: Path
) -> None:
    notifications = in_delivery_order(build_calls(CALLS, tag=f"outage-{uuid.uuid4().hex[:8]}"))
    third = len(notifications) // 3
    before = notifications[:third]
    during = notifications[third : third + DURING_OUTAGE]
    after = notifications[third + DURING_OUTAGE :]
    key = await asyncio.to_thread(create_api_key, database_url, tmp_path)
    answered = Ledger()
    outage_ledger = Ledger()
    with outage_switch(database_url) as outage:
        async with (
            callsift_run(outage.service_url, tmp_path, "service") as service,
            api_client(service.base_url, key) as api,
            database(database_url) as engine,
        ):
            await post_with_ledger(service.base_url, before, answered, connections=8)
            assert answered.statuses() == {200: len(before)}
            assert (await api.get("/v1/calls")).status_code == 200  # the key is verified now
            await drained(engine)

            await outage.down()
            started = time.monotonic()
            try:
                webhooks = asyncio.create_task(
                    post_with_ledger(
                        service.base_url, during, outage_ledger, connections=DURING_OUTAGE
                    )
                )
                readiness, info, *api_answers = await asyncio.gather(
                    api.get("/readyz"), api.get("/v1/info"), *(api.get(path) for path in V1_PATHS)
                )
                await webhooks
            finally:
                await outage.up()
            outage_s = time.monotonic() - started
            not_stored = await stored_uuid_counts(engine)

            redelivered = [n for n in during if uuid_of(n) in outage_ledger.refused]
            await post_with_ledger(service.base_url, after + redelivered, answered, connections=8)
            assert (await api.get("/v1/calls")).status_code == 200
            await drained(engine)
            stored = await stored_uuid_counts(engine)
            sessions = await stored_sessions(engine)
            outcomes = await outcomes_per_session(engine)
            failed = await classification_failures(engine)

    outage_figures = {
        "webhooks": dict(outage_ledger.statuses()),
        "/readyz": readiness.status_code,
        "/v1/info": info.status_code,
        **{path: answer.status_code for path, answer in zip(V1_PATHS, api_answers, strict=True)},
    }
    assert outage_ledger.statuses() == {503: DURING_OUTAGE}, outage_figures
    assert not set(outage_ledger.sent) & not_stored.keys()  # a 503 stored nothing
    assert info.status_code == 200, outage_figures
    if outage.proxy is not None:
        for path, answer in zip(V1_PATHS, api_answers, strict=True):
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["retry-after"] == "5", path
            assert answer.json()["error"]["code"] == "database_unavailable", path
        assert readiness.status_code == 503
        assert outage.proxy.connections_cut > 0  # the service's pooled connections were cut
    else:  # SQLite in WAL mode: a writer's lock holds up writers only, readers go on
        assert {answer.status_code for answer in api_answers} == {200}, outage_figures
        assert readiness.status_code == 200

    assert answered.statuses() == {200: len(notifications)}, answered.statuses()
    assert set(answered.acknowledged) == {uuid_of(n) for n in notifications}
    assert stored == dict.fromkeys(answered.acknowledged, 1)
    assert outcomes.keys() == sessions
    assert set(outcomes.values()) == {1}
    assert failed == 0
    cut = outage.proxy.connections_cut if outage.proxy is not None else 0
    report(
        f"outage: {len(before)} acknowledged before; {cut} connections cut; during "
        f"{outage_s:.1f} s {outage_figures}; "
        f"{len(after)} new and {len(redelivered)} redelivered acknowledged "
        f"after; {len(stored)} stored, {len(sessions)} sessions, {len(outcomes)} outcomes"
    )


async def classification_failures(engine: AsyncEngine) -> int:
    """Outcomes stored as `classification_failed`: what the processor set aside."""
    query = select(func.count()).where(call_outcomes.c.reason == "classification_failed")
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())
