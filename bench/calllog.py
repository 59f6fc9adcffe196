"""The call log on PostgreSQL: records stored and reconciled per second, and the webhook's latency
while a backfill runs.

1. throughput (in this process, on a fresh database per run): `records` call-log records are
   stored in pages of 1,000 exactly as the sync stores them (`DatabaseCallLogStore`), then the
   processor takes them into the outcomes. Two workloads: calls known only from the call log (one
   record per call: an outcome from the record alone), and calls whose events are already in
   (ten events and an events-only outcome per call, then two records per call: reconciliation).
   Reported per second: stored, reconciled, and stored + reconciled one after the other.
2. backfill (`callsift run` as shipped, in its own process, against the emulator in another,
   RingCentral's rate limits on): 20 extensions x 7 days x 500 calls wait in the call log. The
   webhook's latency over 6,000 sequential notifications is measured with the call-log sync off
   (baseline), then right after a start with it on, while the backfill runs: three such pairs,
   each against a fresh peer and database; the last waits for every record to be stored and
   reconciled and reads the credentials' sync state (failures, 429s).

    python -m bench.calllog [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.calllog_peer import RECORD_RESULTS
from bench.harness import (
    DEFAULT_POSTGRES_URL,
    PYTHON,
    TMP,
    Server,
    callsift_command,
    callsift_env,
    create_database,
    drop_database,
    log,
    percentile,
    running,
    spread,
)
from bench.ingest_latency import notification_latencies
from bench.processing import shipped_processor, store_notifications
from fixtures.builder import ACCOUNT_VIEW, ALICE, QUEUE, CallBuilder
from fixtures.calls import queue_answered
from service.calllog.store import DatabaseCallLogStore
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.db.tables import call_log_pending, call_log_records, call_log_sync
from service.processing.child import prepare_collector
from service.ringcentral.registry import add_extension
from service.ringcentral.runtime import build_runtime
from service.settings import Settings
from subscriptions.lifecycle import Mode

START = datetime(2026, 11, 1, tzinfo=UTC)
PAGE = 1000


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _record(serial: int, session: str, owner: str) -> dict[str, Any]:
    """A Detailed call-log record of `owner`: 42 s, its result by `serial` (`RECORD_RESULTS`).
    Leaner than `fixtures.builder.CallBuilder.call_log_record` (no `internalType`, no extension
    `uri`, `transport` on the record only): the figures so far were measured with this shape."""
    start = START + timedelta(seconds=serial)
    result, reason = RECORD_RESULTS[serial % len(RECORD_RESULTS)]
    fields: dict[str, Any] = {
        "startTime": _iso(start),
        "duration": 42,
        "durationMs": 42_000,
        "type": "Voice",
        "direction": "Inbound",
        "action": "Phone Call",
        "result": result,
        "to": {"phoneNumber": "+16505550100", "name": "Agent", "extensionId": owner},
        "from": {"phoneNumber": "+14155550123", "name": "CALLER"},
        "extension": {"id": int(owner)},
        "telephonySessionId": session,
        **({"reason": reason} if reason else {}),
    }
    return {
        "uri": f"https://platform.ringcentral.com/restapi/v1.0/account/1/call-log/R{serial}",
        "id": f"R{serial:012d}{owner}",
        "sessionId": str(10**11 + serial),
        **fields,
        "transport": "PSTN",
        "lastModifiedTime": _iso(start + timedelta(minutes=2)),
        "legs": [{**fields, "legType": "Accept", "master": True}],
    }


def _records_only(calls: int) -> list[dict[str, Any]]:
    """Calls known only from the call log: the agent's record of each."""
    return [_record(serial, f"s-{uuid.uuid4().hex}", ALICE) for serial in range(calls)]


async def _records_after_events(
    engine: AsyncEngine, settings: Settings, calls: int, now: datetime
) -> list[dict[str, Any]]:
    """Answered queue calls whose ten events are stored and processed; the agent's and the
    queue's record of each."""
    built = [CallBuilder(f"calllog-{n}", START + timedelta(seconds=n)) for n in range(calls)]
    for call in built:
        queue_answered(call)
    notifications = [n for call in built for n in call.notifications(ACCOUNT_VIEW)]
    await store_notifications(engine, notifications, received_at=now)
    await _drain(engine, settings, now)
    return [
        _record(serial, call.session_id, owner)
        for serial, call in enumerate(built)
        for owner in (ALICE, QUEUE)
    ]


@contextmanager
def _shipped_collector() -> Iterator[None]:
    """The collector settings of the processor's process, for the drains only: that process
    prepares them once when it starts (`prepare_collector`: a full collection, then a freeze),
    so they are set before a drain is timed, not within it."""
    threshold = gc.get_threshold()
    prepare_collector()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


async def _drain(engine: AsyncEngine, settings: Settings, now: datetime) -> None:
    """The processor as `callsift run` ships it on PostgreSQL, until nothing is queued."""
    with _shipped_collector():
        await shipped_processor(settings, engine, clock=lambda: now).drain()


async def _one_run(admin_url: str, records: int, *, with_events: bool) -> dict[str, float]:
    url = await create_database(admin_url, "calllog")
    settings = Settings(_env_file=None, database_url=url)
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        now = START + timedelta(days=3)
        if with_events:
            batch = await _records_after_events(engine, settings, records // 2, now)
        else:
            batch = _records_only(records)
        store = DatabaseCallLogStore(engine, clock=lambda: now, next_due=lambda moment: moment)
        started = time.perf_counter()
        for start in range(0, len(batch), PAGE):
            await store.save_records("300401016", batch[start : start + PAGE], fetched_at=now)
        stored_s = time.perf_counter() - started
        with _shipped_collector():
            started = time.perf_counter()
            await shipped_processor(settings, engine, clock=lambda: now).drain()
            reconciled_s = time.perf_counter() - started
        return {
            "records": len(batch),
            "stored_per_s": len(batch) / stored_s,
            "reconciled_per_s": len(batch) / reconciled_s,
            "end_to_end_per_s": len(batch) / (stored_s + reconciled_s),
        }
    finally:
        await engine.dispose()
        await drop_database(admin_url, url)


def throughput(*, admin_url: str, records: int, runs: int) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for workload, with_events in (("call_log_only", False), ("reconcile_with_events", True)):
        samples = [
            asyncio.run(_one_run(admin_url, records, with_events=with_events)) for _ in range(runs)
        ]
        found[workload] = {
            "records": samples[0]["records"],
            **{
                key: spread([sample[key] for sample in samples])
                for key in ("stored_per_s", "reconciled_per_s", "end_to_end_per_s")
            },
        }
        log(
            f"calllog: {workload}: stored "
            f"{found[workload]['stored_per_s']['median']:,.0f}/s, reconciled "
            f"{found[workload]['reconciled_per_s']['median']:,.0f}/s"
        )
    return found


# --- the webhook while a backfill runs ----------------------------------------------------------


@contextmanager
def _peer(users: int, days: int, calls_per_day: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """The emulator with the backfill waiting (`bench.calllog_peer`): its base URL and the
    credentials it wrote."""
    credentials = TMP / f"calllog-peer-{uuid.uuid4().hex}.json"
    command = [
        PYTHON, "-m", "bench.calllog_peer", "--port", "{port}",
        "--credentials", str(credentials), "--users", str(users), "--days", str(days),
        "--calls-per-day", str(calls_per_day),
    ]  # fmt: skip
    peer = Server("calllog-peer", command, health_path="/_emulator/state")
    try:
        with running(peer, start_timeout_s=300):  # it fills the call log before it serves
            yield peer.base_url, orjson.loads(credentials.read_bytes())
    finally:
        credentials.unlink(missing_ok=True)


def _service(database_url: str, peer: str, found: dict[str, Any], *, sync: bool) -> Server:
    """`callsift run` against the peer, its call-log sync on or off."""
    env = callsift_env(
        database_url,
        processor=True,
        CALLSIFT_DEMO="off",
        CALLSIFT_RC_SERVER=peer,
        CALLSIFT_RC_CLIENT_ID=found["clientId"],
        CALLSIFT_RC_CLIENT_SECRET=found["clientSecret"],
        CALLSIFT_SECRET_KEYS=SECRET_KEY,
        CALLSIFT_CALLLOG_SYNC_ENABLED="true" if sync else "false",
    )
    name = f"callsift-calllog-sync-{'on' if sync else 'off'}"
    return Server(name, callsift_command(), env=env, database_url=database_url)


SECRET_KEY = "x5sQm4O3WcYf3i0eGkQ7ZzJq0pKf3v2bQ0W9gX1yY2c="  # a throwaway Fernet key for the run


def _webhook_latency(service: Server, requests: int) -> dict[str, float]:
    """p50, p99 and max of `requests` sequential notifications, in milliseconds."""
    with httpx.Client() as client:
        samples = notification_latencies(client, service.webhook_url, range(2, requests + 2))
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": percentile(ordered, 0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
    }


async def _register(database_url: str, peer: str, found: dict[str, Any]) -> None:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        rc_server=peer,
        rc_client_id=found["clientId"],
        rc_client_secret=SecretStr(found["clientSecret"]),
        secret_keys=SecretStr(SECRET_KEY),
    )
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        runtime = build_runtime(settings, engine, clock=lambda: datetime.now(UTC))
        try:
            for jwt in found["jwts"].values():
                await add_extension(engine, runtime, jwt=jwt, mode=Mode.EXTENSION)
        finally:
            await runtime.aclose()
    finally:
        await engine.dispose()


async def _progress(database_url: str) -> tuple[int, int, int, list[str]]:
    engine = create_engine(Settings(_env_file=None, database_url=database_url))
    try:
        async with engine.connect() as connection:
            stored = await connection.scalar(select(func.count()).select_from(call_log_records))
            pending = await connection.scalar(select(func.count()).select_from(call_log_pending))
            failures = await connection.scalar(select(func.sum(call_log_sync.c.failures)))
            errors = (
                await connection.execute(
                    select(call_log_sync.c.last_error).where(
                        call_log_sync.c.last_error.is_not(None)
                    )
                )
            ).scalars()
            return int(stored or 0), int(pending or 0), int(failures or 0), list(errors)
    finally:
        await engine.dispose()


def _wait_for_backfill(
    database_url: str, expected: int, started: float
) -> tuple[int, int, int, list[str]]:
    while True:
        stored, pending, failures, errors = asyncio.run(_progress(database_url))
        if (stored >= expected and not pending) or time.monotonic() - started > 1800:
            return stored, pending, failures, errors
        time.sleep(1.0)


def backfill(
    *, admin_url: str, users: int, days: int, calls_per_day: int, requests: int, pairs: int
) -> dict[str, Any]:
    """`pairs` interleaved pairs of runs, each against a fresh peer and database: the webhook
    without the sync, then right after a start with it on. The ratio of two p99s moves by ~0.15
    between runs with nothing changed, so the ratio judged is the median of the pairs'. A fresh
    peer per pair, because one peer's rate limits (10 call-log reads a minute per user) carry
    the earlier pairs' reads into the next. The last pair's backfill is waited for to its end."""
    expected = users * days * calls_per_day
    baselines: list[dict[str, float]] = []
    durings: list[dict[str, float]] = []
    stored_while_measuring: list[int] = []
    finished: tuple[int, int, int, list[str]] | None = None
    elapsed = 0.0
    for pair in range(pairs):
        with _peer(users, days, calls_per_day) as (peer, found):
            database_url = asyncio.run(create_database(admin_url, "backfill"))
            try:
                asyncio.run(_register(database_url, peer, found))
                with running(_service(database_url, peer, found, sync=False)) as service:
                    baselines.append(_webhook_latency(service, requests))
                started = time.monotonic()
                with running(_service(database_url, peer, found, sync=True)) as service:
                    durings.append(_webhook_latency(service, requests))
                    stored_while_measuring.append(asyncio.run(_progress(database_url))[0])
                    if pair == pairs - 1:
                        finished = _wait_for_backfill(database_url, expected, started)
                        elapsed = time.monotonic() - started
            finally:
                asyncio.run(drop_database(admin_url, database_url))
        log(
            f"calllog: webhook p99 without / during a backfill {baselines[-1]['p99_ms']:.2f}"
            f" / {durings[-1]['p99_ms']:.2f} ms ({stored_while_measuring[-1]:,} records "
            "stored while measured)"
        )
    assert finished is not None
    stored, pending, failures, errors = finished
    log(f"calllog: the backfill stored {stored:,} records in {elapsed:.0f} s")
    return {
        "extensions": users,
        "days": days,
        "calls_per_day": calls_per_day,
        "requests": requests,
        "pairs": pairs,
        "baseline": _spreads(baselines),
        "during_backfill": _spreads(durings),
        "p99_ratio": spread(
            [d["p99_ms"] / b["p99_ms"] for b, d in zip(baselines, durings, strict=True)]
        ),
        "records_stored_while_measuring": spread(stored_while_measuring),
        "records_expected": expected,
        "records_stored": stored,
        "records_pending": pending,
        "backfill_s": elapsed,
        "sync_failures": failures,
        "sync_errors": errors[:5],
    }


def _spreads(runs: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    return {figure: spread([run[figure] for run in runs]) for figure in runs[0]}


def run(*, admin_url: str, quick: bool) -> dict[str, Any]:
    return {
        "throughput": throughput(
            admin_url=admin_url, records=4_000 if quick else 20_000, runs=1 if quick else 3
        ),
        "backfill": backfill(
            admin_url=admin_url,
            users=4 if quick else 20,
            days=7,
            calls_per_day=100 if quick else 500,
            # about 15 s of requests: long enough that the sync, paced while the webhook is busy
            # (a page of 1,000 records stored 10 s after its read), stores some of its records
            requests=500 if quick else 6_000,
            pairs=1 if quick else 3,
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CALLSIFT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    args = parser.parse_args()
    result = run(admin_url=args.postgres_url, quick=args.quick)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
