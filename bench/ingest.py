"""Ingest side by side: the same payloads and the same harness against seven servers.

(a) bare ASGI, (b) FastAPI no-op, (c) FastAPI + SQLAlchemy ORM with a commit per request on
PostgreSQL, (d) callsift's webhook on PostgreSQL with its processor off (a receive-only replica,
`CALLSIFT_PROCESSOR_ENABLED=false`), (e) the same on SQLite, (f) callsift on PostgreSQL as
`callsift run` ships (processor on, `CALLSIFT_PROCESSOR_MODE` at its default: a process of its
own), (g) the same with the processor inline in the webhook's event loop. For each: warm up with
wrk, measure the saturation rate with wrk (median of runs), then measure latency with the
open-loop paced generator at 70% of that server's own saturation rate (median of runs). For (f)
and (g) every run starts with nothing left to process; `bench.alongside` records what a
saturation run left unprocessed and the processor's lag during the paced runs, which send
ten-event calls.

    python -m bench.ingest [--targets a,b,c,d,e,f,g] [--runs 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.alongside import paced_with_lag, saturation_with_backlog, skip_backlog
from bench.classifier import EVENTS_PER_SESSION
from bench.harness import (
    CONNECTIONS,
    DEFAULT_POSTGRES_URL,
    TMP,
    Server,
    callsift_command,
    callsift_env,
    create_database,
    drop_database,
    during_checkpoints,
    fetchval,
    log,
    loop_lag,
    measured_quietly,
    metric_total,
    run_paced,
    run_wrk,
    running,
    spread,
    stalls_between,
    uvicorn_command,
)
from bench.payloads import ingest_templates, session_templates

LATENCY_LOAD = 0.70
STOOD_BACK = "callsift_processor_stood_back_seconds_total"  # service.processing.standback
PACED_WARMUP_S = 2.0
# the targets that run the processor, and how (beside the settings of `callsift_env`)
PROCESSOR_ON = {"f": {}, "g": {"CALLSIFT_PROCESSOR_MODE": "inline"}}
SERVER_NAMES = {
    "d": "callsift-postgresql",
    "e": "callsift-sqlite",
    "f": "callsift-shipped",
    "g": "callsift-inline",
}


@dataclass(frozen=True)
class Target:
    key: str
    label: str
    # yields a Server ready to start, and the SQL (or None) counting stored rows afterwards
    prepare: Callable[[str], Any]


@contextmanager
def _postgres(admin_url: str, label: str) -> Iterator[str]:
    url = asyncio.run(create_database(admin_url, label))
    try:
        yield url
    finally:
        asyncio.run(drop_database(admin_url, url))


@contextmanager
def target_server(key: str, admin_url: str, **callsift_extra: str) -> Iterator[Server]:
    """The server of target `key`, running; its stored rows can be counted with `stored_rows`.

    `d` and `e` run `callsift run` exactly as it ships."""
    command = callsift_command()
    if key == "a":
        server = Server("bare-asgi", uvicorn_command("bench.peers:bare_app"), health_path="/")
        with running(server):
            yield server
    elif key == "b":
        with running(Server("fastapi-noop", uvicorn_command("bench.peers:fastapi_app"))) as s:
            yield s
    elif key == "c":
        with _postgres(admin_url, "orm") as url:
            server = Server(
                "fastapi-orm",
                uvicorn_command("bench.peers:orm_app", factory=True),
                env={"BENCH_PEER_DATABASE_URL": url},
                database_url=url,
            )
            with running(server):
                yield server
    elif key in SERVER_NAMES:
        with _callsift_database(key, admin_url) as url:
            processor = PROCESSOR_ON.get(key)
            extra = {**(processor or {}), **callsift_extra}
            env = callsift_env(url, processor=processor is not None, **extra)
            server = Server(SERVER_NAMES[key], command, env=env, database_url=url)
            with running(server):
                yield server
    else:
        msg = f"unknown target {key!r}"
        raise ValueError(msg)


@contextmanager
def _callsift_database(key: str, admin_url: str) -> Iterator[str]:
    if key != "e":
        with _postgres(admin_url, "ingest") as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(dir=TMP) as directory:
            yield f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"


LABELS = {
    "a": "(a) bare ASGI, read body, 200",
    "b": "(b) FastAPI, read body, 200",
    "c": "(c) FastAPI + SQLAlchemy ORM session, INSERT + COMMIT per request (PostgreSQL)",
    "d": "(d) callsift webhook on PostgreSQL",
    "e": "(e) callsift webhook on SQLite",
    "f": "(f) callsift on PostgreSQL as shipped: processor on, in its own process",
    "g": "(g) callsift on PostgreSQL, processor on, inline in the webhook's event loop",
}


def label(key: str) -> str:
    return LABELS.get(key, f"({key}) callsift variant")


def stored_rows(server: Server) -> int | None:
    url = server.database_url
    if url is None:
        return None
    if url.startswith("sqlite"):
        import sqlite3

        path = url.split("///", 1)[1]
        with sqlite3.connect(path) as connection:
            count: int = connection.execute("SELECT count(*) FROM raw_events").fetchone()[0]
            return count
    table = "webhook_events" if server.name == "fastapi-orm" else "raw_events"
    return int(asyncio.run(fetchval(url, f"SELECT count(*) FROM {table}")))  # noqa: S608


def measure_target(
    key: str,
    *,
    admin_url: str,
    templates: Path,
    runs: int,
    seconds: float,
    warmup: float,
) -> dict[str, Any]:
    """Saturation, then latency at 70% of it."""
    log(f"ingest {label(key)}")
    processing = key in PROCESSOR_ON
    with target_server(key, admin_url) as server:
        url = server.database_url or ""

        def wrk() -> dict[str, Any]:
            return run_wrk(server.webhook_url, templates, seconds=seconds)

        def paced_run() -> dict[str, Any]:
            if processing:  # ten-event calls: see bench.alongside
                return run_paced(
                    server.webhook_url,
                    session_templates(TMP),
                    rate=rate,
                    seconds=seconds,
                    warmup=PACED_WARMUP_S,
                    group=EVENTS_PER_SESSION,
                )
            return run_paced(
                server.webhook_url, templates, rate=rate, seconds=seconds, warmup=PACED_WARMUP_S
            )

        def stood_back(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
            """`run()` with the seconds the processor stood back for the webhook meanwhile."""
            before = metric_total(server, STOOD_BACK)
            figures = run()
            figures["processor_stood_back_s"] = metric_total(server, STOOD_BACK) - before
            return figures

        def saturate() -> dict[str, Any]:
            if not processing:
                return wrk()
            return stood_back(lambda: saturation_with_backlog(url, wrk))

        def paced_alone() -> dict[str, Any]:
            if not processing:
                return paced_run()
            return stood_back(lambda: paced_with_lag(url, paced_run, PACED_WARMUP_S))

        def pace() -> dict[str, Any]:
            if not url.startswith("postgresql"):
                return paced_alone()
            return during_checkpoints(admin_url, paced_alone)

        run_wrk(server.webhook_url, templates, seconds=warmup)
        if processing:
            skip_backlog(url)
        callsift = key in SERVER_NAMES
        lag_before = loop_lag(server) if callsift else {}
        saturation, paced, foreign = [], [], []
        cpu: dict[str, list[dict[str, float]]] = {"saturation": [], "paced": []}
        for _ in range(runs):
            figures, accounted = measured_quietly(saturate, server.pid)
            saturation.append(figures)
            foreign.append(accounted.cores)
            cpu["saturation"].append(accounted.by_process)
            errors = figures["errors"]
            log(f"  saturation {figures['rps']:,.0f} rps (errors {errors}){_left(figures)}")
        lag = stalls_between(lag_before, loop_lag(server)) if callsift else {}
        log(f"  event loops after saturation: {lag}")
        rps = spread([s["rps"] for s in saturation])
        rate = rps["median"] * LATENCY_LOAD
        for _ in range(runs):
            figures, accounted = measured_quietly(pace, server.pid)
            paced.append(figures)
            foreign.append(accounted.cores)
            cpu["paced"].append(accounted.by_process)
            log(
                f"  at {rate:,.0f} rps: p50 {figures['p50_ms']:.2f} ms, "
                f"p99 {figures['p99_ms']:.2f} ms (achieved {figures['achieved_rps']:,.0f}, "
                f"non-2xx {figures['non2xx']}, errors {figures['errors']}){_lag(figures)}"
            )
        completed = sum(s["requests"] for s in saturation) + sum(p["completed"] for p in paced)
        stored = stored_rows(server)
    return {
        "key": key,
        "label": label(key),
        "rps": rps,
        "latency_rate": rate,
        "p50_ms": spread([p["p50_ms"] for p in paced]),
        "p99_ms": spread([p["p99_ms"] for p in paced]),
        "p999_ms": spread([p["p999_ms"] for p in paced]),
        "achieved_rps": spread([p["achieved_rps"] for p in paced]),
        "errors": sum(s["errors"] for s in saturation)
        + sum(p["errors"] + p["non2xx"] + p["unfinished"] for p in paced),
        "wrk": saturation,
        "paced": paced,
        "stored_rows": stored,
        "foreign_cpu_cores": foreign,
        "cpu_by_process": {load: _cores_by_process(found) for load, found in cpu.items()},
        "acknowledged_in_measured_runs": completed,
        "loop_lag_saturation": lag,
        **(_processor_figures(saturation, paced) if processing else {}),
    }


def _cores_by_process(runs: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Cores each kind of process used, median (min, max) over the runs."""
    roles = sorted({role for found in runs for role in found})
    return {role: spread([found.get(role, 0.0) for found in runs]) for role in roles}


def _processor_figures(
    saturation: list[dict[str, Any]], paced: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "unprocessed_after_saturation": spread([s["unprocessed_at_end"] for s in saturation]),
        "stood_back_saturation_s": spread([s["processor_stood_back_s"] for s in saturation]),
        "stood_back_paced_s": spread([p["processor_stood_back_s"] for p in paced]),
        "drained_after_paced_s": spread([p["drained_after_s"] for p in paced]),
        "unprocessed_after_drain_limit": sum(p["unprocessed_after_drain_limit"] for p in paced),
        "lag_p50_ms": spread([p["lag_p50_ms"] for p in paced]),
        "lag_p99_ms": spread([p["lag_p99_ms"] for p in paced]),
        "lag_max_ms": spread([p["lag_max_ms"] for p in paced]),
    }


def _left(figures: dict[str, Any]) -> str:
    if "unprocessed_at_end" not in figures:
        return ""
    return (
        f", {figures['unprocessed_at_end']:,} left unprocessed, the processor stood back "
        f"{figures['processor_stood_back_s']:.1f} s"
    )


def _lag(figures: dict[str, Any]) -> str:
    if "lag_p99_ms" not in figures:
        return ""
    return (
        f", lag p50 {figures['lag_p50_ms']:.0f} ms, p99 {figures['lag_p99_ms']:.0f} ms, "
        f"stood back {figures['processor_stood_back_s']:.1f} s, "
        f"drained after {figures['drained_after_s']:.1f} s "
        f"({figures['unprocessed_after_drain_limit']:,} left then)"
    )


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, float]:
    def rps(key: str) -> float:
        return float(results[key]["rps"]["median"])

    found = {}
    pairs = [("a", "b"), ("d", "b"), ("d", "c"), ("e", "b"), ("e", "c"), ("d", "a"), ("c", "b")]
    pairs += [("f", "b"), ("f", "d"), ("g", "b"), ("g", "d"), ("f", "g")]
    for top, bottom in pairs:
        if top in results and bottom in results:
            found[f"{top}/{bottom}"] = rps(top) / rps(bottom)
    return found


def run(
    targets: list[str],
    *,
    admin_url: str = DEFAULT_POSTGRES_URL,
    runs: int = 3,
    seconds: float = 10,
    warmup: float = 5,
) -> dict[str, Any]:
    templates = ingest_templates(TMP)
    results: dict[str, dict[str, Any]] = {}
    for key in targets:
        results[key] = measure_target(
            key,
            admin_url=admin_url,
            templates=templates,
            runs=runs,
            seconds=seconds,
            warmup=warmup,
        )
    return {
        "targets": results,
        "ratios": ratios(results),
        "body_bytes": len(templates.read_bytes().splitlines()[0]),
        "seconds": seconds,
        "warmup_s": warmup,
        "runs": runs,
        "latency_load": LATENCY_LOAD,
        "connections": CONNECTIONS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="a,b,c,d,e,f,g")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    result = run(
        args.targets.split(","),
        admin_url=args.postgres_url,
        runs=args.runs,
        seconds=args.seconds,
        warmup=args.warmup,
    )
    for key, figures in result["targets"].items():
        print(
            f"{key}: {figures['rps']['median']:>9,.0f} rps  "
            f"p50 {figures['p50_ms']['median']:.2f} ms  p99 {figures['p99_ms']['median']:.2f} ms"
        )
    for name, value in result["ratios"].items():
        print(f"{name}: {value:.2f}")
    if args.json:
        args.json.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
