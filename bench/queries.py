"""The query API on PostgreSQL with 1,000,000 outcomes: the dashboard poll, the call list and the
stats report, over HTTP on loopback.

How the month is built: `--base-calls` recorded fixture calls (bench/api_latency.py's mix of
answered, abandoned, short-abandoned, voicemail, missed and outbound calls) are placed at random
times over the 30 days before now, stored as raw events and classified by the real processor.
Those processor-written outcome and leg rows are then copied in SQL (`INSERT ... SELECT`) with
new session ids, new random start times in the same month (every timestamp column moved by the
same amount) and fresh change numbers, until there are `--outcomes` outcomes. Copies keep each
call's category, durations, queue and legs; their `document` JSON keeps the original times.

A real month has a few calls in progress at any moment: `LIVE_CALLS` copies of queue and IVR
abandons are turned into calls waiting now (category `in_progress`, not final, started in the
last ten minutes), so the poll summary's live block has something to find.

Then `callsift run` serves the database and one keep-alive connection (http.client, so the
client adds little) measures, sequentially:
- `GET /v1/abandoned` caught up, with `If-None-Match` (304), and 50 changes behind (200);
- `GET /v1/abandoned` caught up after a change (200): before each request the change counter is
  moved on, as the processor does, so the summary (its windows and what is live) is computed
  again each time;
- `GET /v1/calls` with filters (a day of abandoned calls; an extension's week; a category over
  the month);
- `GET /v1/stats/outcomes` for a day (by hour) and for the month (by day);
- the month by hour (in UTC and in Asia/Kathmandu, +05:45) and by queue;
- the supervisor's queries: the callback list (`/v1/abandoned?unrecovered=true`), a day and
  the month by agent, and today's trend against a normal day (`/v1/stats/trend`).
Copies call from `CALLERS` random numbers, so the callback list is a day of unrecovered abandons
(copies keep no recovery: the processor computes those as calls arrive).

The copies are written behind the processor's back, so their quarter hours are marked for the
stats rollups as the migration marks existing data (`mark_everything`); the service's own
refresher then builds the rollups, and the requests are measured once no mark is left. How long
that took is reported on its own (`rollups`). `--reuse URL` measures a database kept by an earlier
`--keep` run instead of building one; with `BENCH_CALLSIFT_SOURCE` naming an older checkout, the
same database measures the service before the rollups (a service with them migrates it on start:
that is the upgrade of existing data, and `rollups` times its refresh).

    python -m bench.queries [--outcomes 1000000] [--base-calls 40000] [--keep] [--reuse URL]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import asyncpg
import orjson

from bench.api_latency import MIX, Placer
from bench.harness import (
    DEFAULT_POSTGRES_URL,
    Server,
    asyncpg_dsn,
    callsift_command,
    callsift_env,
    create_database,
    drop_database,
    log,
    loop_lag,
    percentile,
    running,
    wait_for_quiet,
)
from classifiers import Thresholds
from service.api.cursors import encode_changes_cursor
from service.cli.apikeys import create_key
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.processing.processor import ProcessingContext, process_new_events
from service.rollups.queries import mark_everything
from service.settings import Settings
from service.webhooks.envelope import read_envelope
from service.webhooks.queries import postgres_insert_raw_events

DAYS = 30
# Copies call from this many numbers (the fixture calls share one): about three calls a number
# over the month, so the callback list holds the day's unrecovered abandons.
CALLERS = 300_000
CHUNK_CALLS = 5000
SAMPLES = {"poll": 1000, "calls": 100, "stats_day": 50, "stats_month": 10}
LIVE_CALLS = 40
ROLLUPS_LIMIT_S = 3600.0

# Copies of the processor's rows: a new session id per copy, every time moved by `shift`.
COPY_OUTCOMES = """
INSERT INTO call_outcomes
SELECT o.telephony_session_id || '-c' || c.n,
       direction, category, reason, stage, is_abandoned, ever_abandoned, final,
       started_at + c.shift, answered_at + c.shift, ended_at + c.shift,
       ring_s, wait_s, talk_s, hold_s, voicemail_s, time_to_abandon_s, queue,
       from_number, to_number, rules_version,
       replace(document, o.telephony_session_id, o.telephony_session_id || '-c' || c.n),
       revision, created_at, updated_at,
       $2 + row_number() OVER (ORDER BY c.n, o.change_seq),
       last_event_at + c.shift,
       sources, reconciliation, session_id,
       CASE WHEN o.caller_key IS NULL THEN NULL ELSE c.caller_key END
FROM call_outcomes AS o
JOIN copies AS c ON c.base_id = o.telephony_session_id
WHERE c.n BETWEEN $1 AND $1 + 9
"""

COPY_LEGS = """
INSERT INTO call_legs
SELECT l.telephony_session_id || '-c' || c.n, party_id, extension_id, outcome, started_at + c.shift
FROM call_legs AS l
JOIN copies AS c ON c.base_id = l.telephony_session_id
WHERE c.n BETWEEN $1 AND $1 + 9
"""


# Copies of queue and IVR abandons made calls waiting now: started in the last ten minutes, not
# final, not abandoned (yet); their legs move with them.
LIVE = """
CREATE TEMP TABLE live AS
SELECT telephony_session_id AS id,
       $1::timestamptz - random() * interval '10 minutes' - started_at AS shift
FROM call_outcomes
WHERE stage IN ('queue', 'ivr') AND telephony_session_id LIKE '%-c%'
ORDER BY change_seq DESC
LIMIT $2
"""
LIVE_OUTCOMES = """
UPDATE call_outcomes AS o
SET category = 'in_progress', reason = NULL, final = false, is_abandoned = false,
    ever_abandoned = false, started_at = started_at + l.shift, answered_at = NULL,
    ended_at = NULL, time_to_abandon_s = NULL, last_event_at = started_at + l.shift
FROM live AS l
WHERE o.telephony_session_id = l.id
"""
LIVE_LEGS = """
UPDATE call_legs AS g SET started_at = g.started_at + l.shift
FROM live AS l
WHERE g.telephony_session_id = l.id
"""


def month_start(now: datetime) -> datetime:
    return (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)


async def load_month(url: str, *, outcomes: int, base_calls: int, now: datetime) -> dict[str, Any]:
    settings = Settings(_env_file=None, database_url=url)
    engine = create_engine(settings)
    rng = random.Random(2026)
    placer = Placer()
    names, weights = list(MIX), list(MIX.values())
    start = month_start(now)
    span = (now - start).total_seconds() - 3 * 3600  # calls end before now
    context = ProcessingContext(now=now, thresholds=Thresholds(), directory={})
    started = time.perf_counter()
    events = 0
    try:
        await upgrade(engine)
        for first in range(0, base_calls, CHUNK_CALLS):
            rows = []
            for number in range(first, min(first + CHUNK_CALLS, base_calls)):
                at = start + timedelta(seconds=rng.uniform(0, span))
                for payload in placer.place(rng.choices(names, weights)[0], at, number + 1):
                    envelope = read_envelope(orjson.loads(payload))
                    rows.append(envelope.row(payload=payload.decode(), received_at=at))
            events += len(rows)
            async with engine.connect() as connection:
                pooled = await connection.get_raw_connection()
                for part in range(0, len(rows), 5000):
                    await postgres_insert_raw_events(
                        pooled.driver_connection, rows[part : part + 5000]
                    )
            while True:
                async with engine.begin() as connection:
                    stats = await process_new_events(connection, context=context, claim_size=5000)
                if not stats.events:
                    break
            log(f"  processed {min(first + CHUNK_CALLS, base_calls):,} base calls")
        processed_s = time.perf_counter() - started
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        base = int(await connection.fetchval("SELECT count(*) FROM call_outcomes"))
        copies = max(0, -(-outcomes // base) - 1)
        log(f"  {base:,} outcomes from the processor; copying them {copies} times")
        await connection.execute(
            "CREATE TEMP TABLE copies AS "
            "SELECT o.telephony_session_id AS base_id, n, "
            "  ($1::timestamptz + random() * ($2::float8 * interval '1 second')) - o.started_at "
            "  AS shift, "
            "  '1' || (2000000000 + floor(random() * $4::int))::bigint::text AS caller_key "
            "FROM call_outcomes AS o, generate_series(1, $3::int) AS n",
            start,
            span,
            copies,
            CALLERS,
        )
        await connection.execute("CREATE INDEX ON copies (base_id, n)")
        for first in range(1, copies + 1, 10):
            async with connection.transaction():
                last = int(await connection.fetchval("SELECT max(change_seq) FROM call_outcomes"))
                await connection.execute(COPY_OUTCOMES, first, last)
                await connection.execute(COPY_LEGS, first)
        # keep exactly `outcomes` rows: drop the surplus copies (newest change numbers)
        await connection.execute(
            "DELETE FROM call_legs WHERE telephony_session_id IN (SELECT telephony_session_id "
            "FROM call_outcomes ORDER BY change_seq DESC LIMIT greatest(0, "
            "(SELECT count(*) FROM call_outcomes) - $1))",
            outcomes,
        )
        await connection.execute(
            "DELETE FROM call_outcomes WHERE change_seq IN (SELECT change_seq FROM call_outcomes "
            "ORDER BY change_seq DESC "
            "LIMIT greatest(0, (SELECT count(*) FROM call_outcomes) - $1))",
            outcomes,
        )
        await connection.execute(LIVE, now, LIVE_CALLS)
        await connection.execute(LIVE_OUTCOMES)
        await connection.execute(LIVE_LEGS)
        await connection.execute(
            "UPDATE outcome_changes SET last_seq = (SELECT max(change_seq) FROM call_outcomes)"
        )
    finally:
        await connection.close()
    await mark_copies(url)
    return await describe_month(url, now) | {
        "base_calls": base_calls,
        "base_outcomes": base,
        "base_events": events,
        "copies": copies,
        "processor_load_s": processed_s,
        "load_s": time.perf_counter() - started,
    }


async def mark_copies(url: str) -> None:
    """The SQL copies bypassed the processor: mark every quarter for the rollup refresher."""
    engine = create_engine(Settings(_env_file=None, database_url=url))
    try:
        async with engine.begin() as connection:
            quarters = await mark_everything(connection)
    finally:
        await engine.dispose()
    log(f"  {quarters:,} quarter hours marked for the stats rollups")


async def describe_month(url: str, now: datetime) -> dict[str, Any]:
    """What the measurements need to know of the stored month."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("VACUUM ANALYZE")
        total = int(await connection.fetchval("SELECT count(*) FROM call_outcomes"))
        legs = int(await connection.fetchval("SELECT count(*) FROM call_legs"))
        live = int(await connection.fetchval("SELECT count(*) FROM call_outcomes WHERE NOT final"))
        last_seq = int(await connection.fetchval("SELECT last_seq FROM outcome_changes"))
        extension = await connection.fetchval(
            "SELECT extension_id FROM call_legs WHERE extension_id IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
    finally:
        await connection.close()
    return {
        "outcomes": total,
        "legs": legs,
        "in_progress": live,
        "last_seq": last_seq,
        "busiest_extension": extension,
        "month_start": month_start(now).isoformat(),
    }


async def wait_for_rollups(url: str) -> dict[str, Any] | None:
    """Wait until the service's refresher has left no mark; None for a service without rollups
    (the service is up: it migrated the database before it answered its health check)."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    started = time.perf_counter()
    try:
        if await connection.fetchval("SELECT to_regclass('stats_rollup_marks')") is None:
            return None
        marked = int(await connection.fetchval("SELECT count(*) FROM stats_rollup_marks"))
        while time.perf_counter() - started < ROLLUPS_LIMIT_S:
            left = int(await connection.fetchval("SELECT count(*) FROM stats_rollup_marks"))
            if not left:
                break
            await asyncio.sleep(0.5)
        rows = int(await connection.fetchval("SELECT count(*) FROM stats_rollups"))
    finally:
        await connection.close()
    seconds = time.perf_counter() - started
    log(f"  rollups up to date after {seconds:.1f} s ({marked:,} marks, {rows:,} rollup rows)")
    return {"refresh_s": seconds, "marks": marked, "rollup_rows": rows}


async def make_key(url: str) -> str:
    engine = create_engine(Settings(_env_file=None, database_url=url))
    try:
        _, key = await create_key(engine, "bench")
    finally:
        await engine.dispose()
    return key.secret


class Client:
    """One keep-alive HTTP/1.1 connection (stdlib http.client: little client overhead)."""

    def __init__(self, port: int, key: str) -> None:
        self._port = port
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self._headers = {"Authorization": f"Bearer {key}"}

    def reconnect(self) -> None:
        """A new connection (the server closes one idle past its keep-alive timeout)."""
        self._connection.close()
        self._connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=120)

    def get(
        self, path: str, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes, float]:
        target = f"{path}?{urlencode(params, doseq=True)}" if params else path
        started = time.perf_counter()
        self._connection.request("GET", target, headers={**self._headers, **(headers or {})})
        response = self._connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - started
        return response.status, dict(response.getheaders()), body, elapsed

    def timed(
        self,
        count: int,
        expect: int,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        before: Callable[[], None] | None = None,
        **kw: Any,
    ) -> dict[str, Any]:
        """`count` requests; `before` (not timed) runs before each."""
        samples = []
        size = 0
        for _ in range(count):
            if before is not None:
                before()
            status, _headers, body, elapsed = self.get(path, params, **kw)
            if status != expect:
                msg = f"GET {path} {params}: {status} {body[:300]!r}"
                raise RuntimeError(msg)
            samples.append(elapsed)
            size = len(body)
        samples.sort()
        return {
            "n": count,
            "p50_ms": percentile(samples, 0.50) * 1000,
            "p95_ms": percentile(samples, 0.95) * 1000,
            "p99_ms": percentile(samples, 0.99) * 1000,
            "max_ms": samples[-1] * 1000,
            "body_bytes": size,
        }

    def close(self) -> None:
        self._connection.close()


# The poll's ETag carries its summary, whose windows move on every `summary_max_age_s`: a 304
# series that crosses that moment gets one 200, rightly. Its requests take about a second.
SUMMARY_PERIOD_S = Settings.model_fields["summary_max_age_s"].default
LEAST_LEFT_S = 10.0


def _start_of_summary_period(client: Client) -> None:
    """Wait for the summary's next period when less than LEAST_LEFT_S of this one is left."""
    left = SUMMARY_PERIOD_S - time.time() % SUMMARY_PERIOD_S
    if left < LEAST_LEFT_S:
        time.sleep(left + 0.1)
        client.reconnect()


def measure(
    port: int, key: str, loaded: dict[str, Any], now: datetime, change: Callable[[], None]
) -> dict[str, Any]:
    """The requests, in order; `change` moves the change counter on (a change was written)."""
    client = Client(port, key)
    results: dict[str, Any] = {}
    try:
        params: dict[str, Any] = {}
        while True:  # catch up, as a dashboard does after its first poll
            status, headers, body, _ = client.get("/v1/abandoned", params)
            assert status == 200, body[:300]
            answer = orjson.loads(body)
            params = {"since": answer["cursor"]}
            if not answer["has_more"]:
                break
        cursor = answer["cursor"]
        _start_of_summary_period(client)
        status, headers, body, _ = client.get("/v1/abandoned", {"since": cursor})
        assert status == 200, body[:300]
        etag = headers.get("etag") or headers["ETag"]
        for _ in range(50):  # warm-up: key cache, summary, prepared statements
            client.get("/v1/abandoned", {"since": cursor}, headers={"If-None-Match": etag})
        results["abandoned_unchanged_304"] = client.timed(
            SAMPLES["poll"],
            304,
            "/v1/abandoned",
            {"since": cursor},
            headers={"If-None-Match": etag},
        )
        behind = {"since": encode_changes_cursor(max(0, loaded["last_seq"] - 50))}
        _, _, body, _ = client.get("/v1/abandoned", behind)
        results["abandoned_changed_200"] = client.timed(
            SAMPLES["poll"], 200, "/v1/abandoned", behind
        )
        results["abandoned_changed_200"]["changes"] = len(orjson.loads(body)["changes"])
        latest = {"since": encode_changes_cursor(loaded["last_seq"])}
        results["abandoned_after_change_200"] = client.timed(
            SAMPLES["calls"], 200, "/v1/abandoned", latest, before=change
        )
        results["abandoned_after_change_200"]["live_calls"] = loaded["in_progress"]
        day_end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        day = {"from": (day_end - timedelta(days=1)).isoformat(), "to": day_end.isoformat()}
        week = {"from": (day_end - timedelta(days=7)).isoformat(), "to": day_end.isoformat()}
        month = {"from": loaded["month_start"], "to": day_end.isoformat()}
        calls = {
            "calls_day_abandoned": {**day, "is_abandoned": "true", "limit": 100},
            "calls_extension_week": {
                **week,
                "extension_id": loaded["busiest_extension"],
                "limit": 100,
            },
            "calls_month_category": {**month, "category": "abandoned_queue", "limit": 100},
            "calls_day_queue_inbound": {
                **day,
                "direction": "inbound",
                "queue": "Sales Queue",
                "limit": 100,
            },
        }
        for name, params in calls.items():
            client.get("/v1/calls", params)
            results[name] = client.timed(SAMPLES["calls"], 200, "/v1/calls", params)
            results[name]["params"] = params
        for name, params, count in (
            ("stats_day_by_hour", {**day, "group_by": "hour"}, SAMPLES["stats_day"]),
            ("stats_day_by_queue", {**day, "group_by": "queue"}, SAMPLES["stats_day"]),
            ("stats_month_by_day", {**month, "group_by": "day"}, SAMPLES["stats_month"]),
            ("stats_month_by_hour", {**month, "group_by": "hour"}, SAMPLES["stats_month"]),
            ("stats_month_by_queue", {**month, "group_by": "queue"}, SAMPLES["stats_month"]),
            (  # +05:45: each local hour is four quarter slices, the most a zone reads
                "stats_month_by_hour_kathmandu",
                {**month, "group_by": "hour", "tz": "Asia/Kathmandu"},
                SAMPLES["stats_month"],
            ),
            (
                "stats_month_by_extension",
                {**month, "group_by": "extension"},
                SAMPLES["stats_month"],
            ),
        ):
            client.get("/v1/stats/outcomes", params)
            results[name] = client.timed(count, 200, "/v1/stats/outcomes", params)
            results[name]["params"] = params
        supervisor: tuple[tuple[str, str, dict[str, Any], int], ...] = (
            ("callbacks", "/v1/abandoned", {"unrecovered": "true"}, SAMPLES["calls"]),
            ("stats_day_by_agent", "/v1/stats/outcomes", {**day, "group_by": "agent"}, 50),
            (
                "stats_month_by_agent",
                "/v1/stats/outcomes",
                {**month, "group_by": "agent"},
                SAMPLES["stats_month"],
            ),
            ("trend_today", "/v1/stats/trend", {}, SAMPLES["stats_day"]),
        )
        for name, path, params, count in supervisor:
            client.get(path, params)
            results[name] = client.timed(count, 200, path, params)
            results[name]["params"] = params
    finally:
        client.close()
    return results


def run(
    *,
    admin_url: str = DEFAULT_POSTGRES_URL,
    outcomes: int = 1_000_000,
    base_calls: int = 40_000,
    keep: bool = False,
    reuse: str | None = None,
) -> dict[str, Any]:
    url = reuse or asyncio.run(create_database(admin_url, "queries"))
    now = datetime.now(UTC)
    try:
        if reuse:
            log(f"queries: measuring the month kept in {reuse}")
            loaded = asyncio.run(describe_month(url, now))
        else:
            log(f"queries: building a month of {outcomes:,} outcomes")
            loaded = asyncio.run(load_month(url, outcomes=outcomes, base_calls=base_calls, now=now))
        key = asyncio.run(make_key(url))
        server = Server(
            "callsift-queries",
            callsift_command(),
            callsift_env(url, processor=True),
            database_url=url,
        )
        with running(server), asyncio.Runner() as runner:
            rollups = runner.run(wait_for_rollups(url))
            changes = runner.run(asyncpg.connect(asyncpg_dsn(url)))

            def change() -> None:
                runner.run(changes.execute("UPDATE outcome_changes SET last_seq = last_seq + 1"))

            wait_for_quiet()
            results = measure(server.port, key, loaded, now, change)
            runner.run(changes.close())
            lag = loop_lag(server)
        log(f"  event loops: {lag}")
    finally:
        if keep or reuse:
            log(f"kept {url}")
        else:
            asyncio.run(drop_database(admin_url, url))
    return {"data": loaded, "rollups": rollups, "results": results, "loop_lag": lag}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=1_000_000)
    parser.add_argument("--base-calls", type=int, default=40_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", metavar="URL", help="measure a database kept by --keep")
    args = parser.parse_args()
    result = run(
        outcomes=args.outcomes, base_calls=args.base_calls, keep=args.keep, reuse=args.reuse
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
