"""Processing: how fast the processor turns stored events into outcomes, and how far behind it
runs while the webhook is under load.

- Backlog: 200,000 raw events (20,000 ten-event calls of bench/classifier.py's five shapes, built by
  fixtures/builder.py, about 20 calls in progress at any moment) are stored in event-time order
  on PostgreSQL; then the service's own processor (`ProcessorWorker.drain`, the service's
  batch size and claims in flight, its collector settings, uvloop, a process of its own) drains
  them. Events per second = events / time to drain. A first unmeasured drain's outcomes, copied
  under new session ids, give the outcome tables 200,000 calls of history (a running service's
  tables are not empty, and the planner has statistics); between runs the backlog is made
  unprocessed again and its outcomes deleted.
- Lag: `callsift run` (processor on, as deployed) takes ten-event sessions from the paced
  generator at 50% of (d)'s saturation rate; a poller reads every 10 ms which events are
  processed and records, per event, poll time minus `received_at` (the webhook's arrival time,
  a few milliseconds before its commit). The outcome is written in the transaction that marks the
  event processed, so "processed" is "outcome visible".

    python -m bench.processing backlog [--events 200000] [--runs 3]
    python -m bench.processing lag --rate 2000 [--seconds 30]
    python -m bench.processing drain --url ...      (the child process of `backlog`)
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.classifier import EVENTS_PER_SESSION, build_sessions
from bench.harness import (
    DEFAULT_POSTGRES_URL,
    PYTHON,
    ROOT,
    TMP,
    Server,
    asyncpg_dsn,
    callsift_command,
    callsift_env,
    create_database,
    drop_database,
    execute,
    log,
    percentile,
    run_paced,
    running,
    spread,
    wait_for_quiet,
)
from bench.payloads import session_templates
from classifiers import DirectoryEntry
from service.calllog.expectation import NO_CALL_LOG, CallLogExpectation
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.metrics import Metrics
from service.processing.child import prepare_collector
from service.processing.worker import ProcessorWorker, processor_of, utc_now
from service.settings import Settings
from service.webhooks.envelope import read_envelope
from service.webhooks.queries import insert_raw_events

# --- backlog ---------------------------------------------------------------------------------


async def load_backlog(url: str, events: int) -> dict[str, Any]:
    """Migrate, then store `events` raw events (ten per session) in event-time order."""
    settings = Settings(_env_file=None, database_url=url)
    engine = create_engine(settings)
    try:
        await upgrade(engine)
        started = time.perf_counter()
        notifications = [
            n for session in build_sessions(events // EVENTS_PER_SESSION) for n in session
        ]
        notifications.sort(key=lambda n: n["body"]["eventTime"])
        rows = await store_notifications(engine, notifications, received_at=datetime.now(UTC))
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    await execute(url, "VACUUM ANALYZE")
    sizes = [len(row["payload"]) for row in rows]
    return {
        "events": len(rows),
        "sessions": len(rows) // EVENTS_PER_SESSION,
        "mean_body_bytes": sum(sizes) / len(sizes),
        "load_s": seconds,
    }


async def store_notifications(
    engine: AsyncEngine, notifications: Iterable[dict[str, Any]], *, received_at: datetime
) -> list[dict[str, Any]]:
    """Store notifications as raw events, as the webhook does, 5,000 to a transaction; returns
    the rows stored."""
    rows = []
    for notification in notifications:
        payload = orjson.dumps(notification)
        envelope = read_envelope(orjson.loads(payload))
        rows.append(envelope.row(payload=payload.decode(), received_at=received_at))
    for first in range(0, len(rows), 5000):
        async with engine.begin() as connection:
            await insert_raw_events(connection, rows[first : first + 5000])
    return rows


HISTORY_SUFFIX = "-h"  # history copies are "<session id>-h<n>"; the SQL below matches '%-h%'


async def reset_processing(url: str) -> None:
    """Make the backlog unprocessed again and forget its outcomes (history stays)."""
    await execute(
        url,
        "INSERT INTO event_queue (id) SELECT id FROM raw_events ON CONFLICT DO NOTHING",
        "DELETE FROM call_legs WHERE telephony_session_id NOT LIKE '%-h%'",
        "DELETE FROM call_outcomes WHERE telephony_session_id NOT LIKE '%-h%'",
        "UPDATE outcome_changes SET last_seq = coalesce((SELECT max(change_seq) "
        "FROM call_outcomes), 0)",
        "VACUUM ANALYZE",
    )


async def add_history(url: str, copies: int) -> int:
    """Copy the processor's outcomes and legs `copies` times under new session ids and days
    earlier, every column (the callers' numbers and recoveries too), so the drain writes into
    tables with history, as a running service does (`reset_processing` then gives the planner
    its statistics). Returns the number of historical outcomes."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        for n in range(1, copies + 1):
            async with connection.transaction():
                last = int(await connection.fetchval("SELECT max(change_seq) FROM call_outcomes"))
                await connection.execute(
                    "INSERT INTO call_outcomes SELECT telephony_session_id || $1, direction, "
                    "category, reason, stage, is_abandoned, ever_abandoned, final, "
                    "started_at - $2 * interval '1 day', answered_at - $2 * interval '1 day', "
                    "ended_at - $2 * interval '1 day', ring_s, wait_s, talk_s, hold_s, "
                    "voicemail_s, time_to_abandon_s, queue, from_number, to_number, "
                    "rules_version, document, revision, created_at, updated_at, "
                    "$3 + row_number() OVER (ORDER BY change_seq), "
                    "last_event_at - $2 * interval '1 day', sources, reconciliation, "
                    "session_id || $1, caller_key, recovered_at - $2 * interval '1 day', "
                    "recovered_by || $1, time_to_recovery_s "
                    "FROM call_outcomes WHERE telephony_session_id NOT LIKE '%-h%'",
                    f"{HISTORY_SUFFIX}{n}",
                    float(n),
                    last,
                )
                await connection.execute(
                    "INSERT INTO call_legs SELECT telephony_session_id || $1, party_id, "
                    "extension_id, outcome, started_at - $2 * interval '1 day' "
                    "FROM call_legs WHERE telephony_session_id NOT LIKE '%-h%'",
                    f"{HISTORY_SUFFIX}{n}",
                    float(n),
                )
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM call_outcomes WHERE telephony_session_id LIKE '%-h%'"
            )
        )
    finally:
        await connection.close()


def _drain_child(url: str) -> dict[str, Any]:
    command = [PYTHON, "-m", "bench.processing", "drain", "--url", url]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, Any] = orjson.loads(output.stdout.strip().splitlines()[-1])
    return result


def shipped_processor(
    settings: Settings, engine: AsyncEngine, clock: Callable[[], datetime] | None = None
) -> ProcessorWorker:
    """The processor `callsift run` runs with these settings, without a directory or call-log
    sync (a process of its own on PostgreSQL: its claim size and claims in flight)."""

    async def no_directory() -> dict[str, DirectoryEntry]:
        return {}

    async def no_call_log() -> CallLogExpectation:
        return NO_CALL_LOG

    return processor_of(
        settings,
        engine,
        Metrics(),
        directory=no_directory,
        call_log=no_call_log,
        clock=clock or utc_now,
    )


async def drain(url: str) -> dict[str, Any]:
    """Run the service's processor until no event is left; the child process of `backlog`."""
    prepare_collector()  # as the processor's own process does
    settings = Settings(_env_file=None, database_url=url)
    engine = create_engine(settings)
    worker = shipped_processor(settings, engine)
    try:
        started = time.perf_counter()
        cpu_started = time.process_time()
        drained = await worker.drain()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    finally:
        await engine.dispose()
    return {
        "events": drained.events,
        "sessions_recomputed": drained.sessions,
        "outcomes_written": drained.changed,
        "batches": drained.claims,
        "batch_size": settings.resolved_processor_batch_size(),
        "claims_in_flight": settings.processor_claims_in_flight(),
        "seconds": seconds,
        "process_cpu_s": cpu,
        "events_per_s": drained.events / seconds,
    }


def run_backlog(
    *,
    admin_url: str = DEFAULT_POSTGRES_URL,
    events: int = 200_000,
    runs: int = 3,
    history_copies: int = 10,
) -> dict[str, Any]:
    url = asyncio.run(create_database(admin_url, "backlog"))
    try:
        log(f"processing: storing a backlog of {events:,} events")
        loaded = asyncio.run(load_backlog(url, events))
        # A first, unmeasured drain: its outcomes, copied, become the tables' history.
        _drain_child(url)
        history = asyncio.run(add_history(url, history_copies))
        log(f"  {history:,} outcomes of history in place")
        results = []
        for _ in range(runs):
            asyncio.run(reset_processing(url))
            wait_for_quiet()
            results.append(_drain_child(url))
            log(
                f"  drained {results[-1]['events']:,} events in {results[-1]['seconds']:.1f} s: "
                f"{results[-1]['events_per_s']:,.0f} events/s"
            )
        outcomes = asyncio.run(_count(url, "SELECT count(*) FROM call_outcomes"))
    finally:
        asyncio.run(drop_database(admin_url, url))
    return {
        **loaded,
        "history_outcomes": history,
        "events_per_s": spread([r["events_per_s"] for r in results]),
        "sessions_per_s": spread([r["events_per_s"] / EVENTS_PER_SESSION for r in results]),
        "runs": results,
        "outcomes": outcomes,
    }


async def _count(url: str, query: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(await connection.fetchval(query))
    finally:
        await connection.close()


# --- lag under load --------------------------------------------------------------------------


# The events processed since the last poll: those above the last id seen processed and below
# the oldest still queued above it. An event processed ahead of an older one still queued is
# seen when the queue has moved past it (its lag counted up to then, never less than it was);
# one committed after a later id was seen is not counted. Reading every stored event above
# `low` and probing the queue for each instead took about 50 ms a poll with a few thousand
# queued. The queue's index keeps the entries of the events processed since its last vacuum (up
# to a minute of them: autovacuum's nap), all below `low`: a `min(id)` not bounded by it walked
# them at every poll (2-4 ms and some 600 pages under load, 100 times a second).
POLL_PROCESSED = (
    "SELECT id, received_at FROM raw_events WHERE id > $1 AND id < "
    "COALESCE((SELECT min(id) FROM event_queue WHERE id > $1), 9223372036854775807) ORDER BY id"
)


LAST_STORED = "SELECT COALESCE(max(id), 0) FROM raw_events"


class LagPoller:
    """Polls which events are processed; lag = first time seen processed - received_at. It
    watches the events stored after it started: the database may hold hundreds of thousands
    from earlier runs, and reading them all in one poll at the start of a run loaded the
    machine the run measures."""

    def __init__(self, url: str, interval_s: float = 0.01) -> None:
        self._url = url
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.samples: list[tuple[float, float]] = []  # (received_at epoch, lag seconds)
        self.polls = 0
        self.rows_read = 0  # rows the polls returned: the poller's own load on the machine
        self.poll_s = 0.0
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        """Start polling; returns once the poller knows the last event stored before it."""
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    async def _run(self) -> None:
        try:
            connection = await asyncpg.connect(asyncpg_dsn(self._url))
            # planned for each poll's `low` (a generic plan may read every event from the first)
            await connection.execute("SET plan_cache_mode = force_custom_plan")
            low = await connection.fetchval(LAST_STORED)  # the last id seen processed
        finally:
            self._ready.set()
        try:
            while not self._stop.is_set():
                asked = time.perf_counter()
                rows = await connection.fetch(POLL_PROCESSED, low)
                now = time.time()
                self.polls += 1
                self.rows_read += len(rows)
                self.poll_s += time.perf_counter() - asked
                for record_id, received_at in rows:
                    arrived = received_at.timestamp()
                    self.samples.append((arrived, now - arrived))
                    low = record_id
                await asyncio.sleep(self._interval_s)
        finally:
            await connection.close()


def run_lag(
    *,
    rate: float,
    admin_url: str = DEFAULT_POSTGRES_URL,
    seconds: float = 30,
    warmup: float = 5,
    command: list[str] | None = None,
) -> dict[str, Any]:
    templates = session_templates(TMP)
    url = asyncio.run(create_database(admin_url, "lag"))
    try:
        env = callsift_env(url, processor=True)
        server = Server("callsift-lag", command or callsift_command(), env=env, database_url=url)
        with running(server):
            wait_for_quiet()
            poller = LagPoller(url)
            poller.start()
            started = time.time()
            load = run_paced(
                server.webhook_url,
                templates,
                rate=rate,
                seconds=seconds,
                warmup=warmup,
                group=EVENTS_PER_SESSION,
            )
            stopped = time.time()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                backlog = asyncio.run(_count(url, "SELECT count(*) FROM event_queue"))
                if backlog == 0:
                    break
                time.sleep(0.2)
            drained_after = time.time() - stopped
            time.sleep(0.1)
            poller.stop()
            peak_rss = server.peak_rss_bytes()
        stored = asyncio.run(_count(url, "SELECT count(*) FROM raw_events"))
        outcomes = asyncio.run(_count(url, "SELECT count(*) FROM call_outcomes"))
        # each outcome write (and each recovery revised) takes a change number: more than one
        # per outcome when claims took a call's events in several parts
        writes = asyncio.run(_count(url, "SELECT last_seq FROM outcome_changes"))
    finally:
        asyncio.run(drop_database(admin_url, url))
    window = [
        lag
        for arrived, lag in poller.samples
        if started + warmup <= arrived <= started + warmup + seconds
    ]
    window.sort()
    return {
        "rate": rate,
        "seconds": seconds,
        "warmup_s": warmup,
        "load": load,
        "events_stored": stored,
        "outcomes": outcomes,
        "outcome_writes": writes,
        "lag_samples": len(window),
        "lag_p50_ms": percentile(window, 0.50) * 1000,
        "lag_p90_ms": percentile(window, 0.90) * 1000,
        "lag_p99_ms": percentile(window, 0.99) * 1000,
        "lag_max_ms": (window[-1] if window else float("nan")) * 1000,
        "backlog_drained_after_s": drained_after,
        "polls": poller.polls,
        "peak_rss_bytes": peak_rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    backlog = sub.add_parser("backlog")
    backlog.add_argument("--events", type=int, default=200_000)
    backlog.add_argument("--runs", type=int, default=3)
    lag = sub.add_parser("lag")
    lag.add_argument("--rate", type=float, required=True)
    lag.add_argument("--seconds", type=float, default=30)
    child = sub.add_parser("drain")
    child.add_argument("--url", required=True)
    args = parser.parse_args()
    if args.command == "drain":
        import uvloop

        print(orjson.dumps(uvloop.run(drain(args.url))).decode())
    elif args.command == "backlog":
        result = run_backlog(events=args.events, runs=args.runs)
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        result = run_lag(rate=args.rate, seconds=args.seconds)
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
