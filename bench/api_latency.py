"""Latency of the dashboard poll and the stats report over a day of 100,000 calls on PostgreSQL.

Builds the day the way production does: recorded fixture calls (a realistic mix of answered,
abandoned, short-abandoned, voicemail, missed and outbound calls) placed at random times of one
day, stored as raw events and turned into outcomes by the real processor in large batches. Then
starts `callsift run` on that database and measures, over HTTP on loopback with one keep-alive
connection:

- `GET /v1/abandoned` unchanged: a caught-up poll with `If-None-Match` (304);
- `GET /v1/abandoned` changed: a poll whose cursor is 50 changes behind (200 with the changes);
- `GET /v1/stats/outcomes` for the whole day, per `group_by`;
- the poll summary's recomputation (once a minute in production), called directly.

    python -m bench.api_latency [--postgres-url postgresql+asyncpg://postgres@127.0.0.1/test]
                                [--calls 100000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from fastapi import FastAPI

from bench.harness import create_database, drop_database
from classifiers import Thresholds
from service.api.cursors import encode_changes_cursor
from service.api.queries import last_change_seq
from service.api.summary import compute_summary
from service.app import create_app
from service.cli.apikeys import create_key
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.db.sql import begin_snapshot
from service.processing.processor import ProcessingContext, process_new_events
from service.settings import Settings
from service.webhooks.envelope import read_envelope
from service.webhooks.queries import insert_raw_events

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sessions"
DAY = datetime(2026, 11, 27, tzinfo=UTC)
MIX = {  # fixture -> weight (percent of calls)
    "answered-direct-ext": 25,
    "answered-queue-account": 25,
    "answered-park-pickup-account": 5,
    "abandoned-queue-account": 6,
    "abandoned-ringing-account": 4,
    "abandoned-ivr-account": 3,
    "short-abandon-ringing-account": 3,
    "short-abandon-ivr-account": 2,
    "voicemail-left-ext-time": 5,
    "voicemail-greeting-hangup-account": 3,
    "missed-ring-timeout-account": 7,
    "outbound-connected-ext": 8,
    "abandoned-ringing-internal": 4,
}
TIMESTAMP = re.compile(rb'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)"')
CHUNK_CALLS = 5000
SAMPLES = {"poll": 1000, "stats": 50, "summary": 20}


def app() -> FastAPI:
    """The service as `callsift run` builds it, without the demo companion (uvicorn --factory)."""
    return create_app(Settings())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_service(database_url: str) -> Iterator[str]:
    """The service in its own process (uvloop, httptools, one worker) on `database_url`."""
    port = free_port()
    env = {**os.environ, "CALLSIFT_DATABASE_URL": database_url, "CALLSIFT_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "uvicorn", "bench.api_latency:app", "--factory"]
    command += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    process = subprocess.Popen(command, env=env)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _healthy(base_url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the service did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


class Placer:
    """Fixture calls moved to a new start time under a new session id."""

    def __init__(self) -> None:
        self.lines = {name: (FIXTURES / f"{name}.jsonl").read_bytes().splitlines() for name in MIX}
        self.starts = {name: self._start(lines) for name, lines in self.lines.items()}
        self.hexes = {name: self._hex(lines) for name, lines in self.lines.items()}

    @staticmethod
    def _start(lines: list[bytes]) -> datetime:
        return min(
            datetime.fromisoformat(orjson.loads(line)["body"]["eventTime"].replace("Z", "+00:00"))
            for line in lines
            if b"telephonySessionId" in line
        )

    @staticmethod
    def _hex(lines: list[bytes]) -> bytes:
        session: str = orjson.loads(lines[0])["body"]["telephonySessionId"]
        return session.removeprefix("s-").encode()

    def place(self, name: str, at: datetime, number: int) -> list[bytes]:
        shift = at - self.starts[name]
        new_hex = f"{number:032x}".encode()

        def moved(match: re.Match[bytes]) -> bytes:
            moment = datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00"))
            text = (moment + shift).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            return b'"' + text.encode() + b'"'

        placed = []
        for position, line in enumerate(self.lines[name]):
            body = TIMESTAMP.sub(moved, line).replace(self.hexes[name], new_hex)
            notification = orjson.loads(body)
            notification["uuid"] = f"{number:032x}-{position}"
            placed.append(orjson.dumps(notification))
        return placed


async def load_day(settings: Settings, calls: int) -> None:
    engine = create_engine(settings)
    rng = random.Random(2026)
    placer = Placer()
    names, weights = list(MIX), list(MIX.values())
    context = ProcessingContext(
        now=DAY + timedelta(days=1, hours=1), thresholds=Thresholds(), directory={}
    )
    started = time.perf_counter()
    try:
        for first in range(0, calls, CHUNK_CALLS):
            rows = []
            for number in range(first, min(first + CHUNK_CALLS, calls)):
                at = DAY + timedelta(seconds=rng.uniform(0, 86_000))
                for payload in placer.place(rng.choices(names, weights)[0], at, number + 1):
                    envelope = read_envelope(orjson.loads(payload))
                    rows.append(envelope.row(payload=payload.decode(), received_at=at))
            async with engine.begin() as connection:
                await insert_raw_events(connection, rows)
            while True:
                async with engine.begin() as connection:
                    stats = await process_new_events(connection, context=context, claim_size=20_000)
                if not stats.events:
                    break
            done = min(first + CHUNK_CALLS, calls)
            print(f"  loaded {done:>7} calls ({time.perf_counter() - started:.0f} s)", flush=True)
        # What autovacuum does in production: statistics, and the visibility map that lets
        # PostgreSQL answer from an index alone.
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM ANALYZE")
    finally:
        await engine.dispose()


async def make_key(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        _, key = await create_key(engine, "bench")
    finally:
        await engine.dispose()
    return key.secret


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)] * 1000
    return f"p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})"


def timed(client: httpx.Client, count: int, expect: int, **request: Any) -> list[float]:
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(**request)
        samples.append(time.perf_counter() - started)
        assert response.status_code == expect, response.text[:300]
    return samples


def unchanged_polls(client: httpx.Client, count: int) -> list[float]:
    """Caught-up polls with If-None-Match. When the minute turns the summary's windows move and
    one poll gets a 200 with the new summary: that poll is not counted, its ETag is taken."""
    first = client.get("/v1/abandoned")
    cursor, etag = first.json()["cursor"], first.headers["ETag"]
    samples: list[float] = []
    while len(samples) < count:
        started = time.perf_counter()
        response = client.get(
            "/v1/abandoned", params={"since": cursor}, headers={"If-None-Match": etag}
        )
        elapsed = time.perf_counter() - started
        if response.status_code == 304:
            samples.append(elapsed)
            continue
        assert response.status_code == 200, response.text[:300]
        cursor, etag = response.json()["cursor"], response.headers["ETag"]
    return samples


def measure_http(base_url: str, key: str, last_seq: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as client:
        unchanged = unchanged_polls(client, SAMPLES["poll"])
        print(f"GET /v1/abandoned  unchanged (304)       {figures(unchanged)}")
        behind = {"since": encode_changes_cursor(max(0, last_seq - 50))}
        changed = timed(client, SAMPLES["poll"], 200, url="/v1/abandoned", params=behind)
        count = len(client.get("/v1/abandoned", params=behind).json()["changes"])
        print(f"GET /v1/abandoned  changed ({count:>2} changes)   {figures(changed)}")
        day = {"from": DAY.isoformat(), "to": (DAY + timedelta(days=1)).isoformat()}
        for group_by in ("hour", "day", "extension", "queue"):
            params = {**day, "group_by": group_by}
            samples = timed(client, SAMPLES["stats"], 200, url="/v1/stats/outcomes", params=params)
            print(f"GET /v1/stats/outcomes  {group_by:<10}     {figures(samples)}")
        local = {**day, "group_by": "hour", "tz": "America/New_York"}
        samples = timed(client, SAMPLES["stats"], 200, url="/v1/stats/outcomes", params=local)
        print(f"GET /v1/stats/outcomes  hour, New York {figures(samples)}")


async def measure_summary(settings: Settings) -> tuple[int, list[float], int]:
    engine = create_engine(settings)
    samples = []
    try:
        async with engine.connect() as connection:
            last_seq = await last_change_seq(connection)
            await connection.rollback()
            for _ in range(SAMPLES["summary"]):
                started = time.perf_counter()
                await begin_snapshot(connection)
                summary = await compute_summary(
                    connection,
                    as_of=DAY + timedelta(days=1),
                    zone=ZoneInfo("UTC"),
                    sla_s=settings.sla_s,
                )
                samples.append(time.perf_counter() - started)
                await connection.rollback()
    finally:
        await engine.dispose()
    return last_seq, samples, summary["last_24h"]["offered"]


async def prepare(url: str, calls: int) -> tuple[Settings, str]:
    settings = Settings(_env_file=None, database_url=url)
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    await load_day(settings, calls)
    return settings, await make_key(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    url = asyncio.run(create_database(args.postgres_url, "api"))
    try:
        print(f"loading {args.calls} calls of {DAY.date()} into {url.rsplit('/', 1)[1]}")
        settings, key = asyncio.run(prepare(url, args.calls))
        last_seq, summary_samples, offered = asyncio.run(measure_summary(settings))
        print(f"poll summary recomputation ({offered} offered in 24 h) {figures(summary_samples)}")
        with running_service(url) as base_url:
            measure_http(base_url, key, last_seq)
    finally:
        if args.keep:
            print(f"kept {url}")
        else:
            asyncio.run(drop_database(args.postgres_url, url))


if __name__ == "__main__":
    main()
