"""Turn the results of one `python -m bench` run into bench/results/latest.md."""

from __future__ import annotations

import math
from typing import Any

MiB = 1024 * 1024


def _n(value: float | None, digits: int = 0) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def _spread(figure: dict[str, Any] | None, digits: int = 0, unit: str = "") -> str:
    if not figure:
        return "n/a"
    middle = _n(figure["median"], digits)
    low, high = _n(figure["min"], digits), _n(figure["max"], digits)
    if len(figure.get("runs", [])) <= 1:
        return f"{middle}{unit}"
    return f"{middle}{unit} ({low}–{high})"


def _yes(met: bool | None) -> str:
    return {True: "**met**", False: "**not met**", None: "not measured"}[met]


# Issue 14: `/v1/stats/outcomes` over the month, every group_by.
# Issue 14's query goals: (result name, label, p95 limit in ms). Month reports run over
# 1,000,000 outcomes; the live queue comes with the poll's summary, computed again after every
# change.
QUERY_GOALS = (
    ("stats_month_by_day", "the month by day (1,000,000 outcomes)", 300),
    ("stats_month_by_hour", "the month by hour (1,000,000 outcomes)", 300),
    ("stats_month_by_extension", "the month by extension (1,000,000 outcomes)", 300),
    ("stats_month_by_queue", "the month by queue (1,000,000 outcomes)", 300),
    ("stats_month_by_agent", "the month by agent (1,000,000 outcomes)", 300),
    ("abandoned_after_change_200", "the poll after a change (summary with the live queue)", 20),
    ("callbacks", "the callback list", 20),
    ("stats_day_by_agent", "a day by agent", 20),
)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issues 8, 11 and 14, with the figure it is judged on."""
    ingest = results.get("ingest", {}).get("targets", {})
    ratios = results.get("ingest", {}).get("ratios", {})
    processing = results.get("processing", {})
    queries = results.get("queries", {}).get("results", {})
    memory = results.get("memory", {})
    found: list[dict[str, Any]] = []

    def add(name: str, value: float | None, rule: str, met: bool | None, unit: str = "") -> None:
        found.append({"target": name, "value": value, "rule": rule, "met": met, "unit": unit})

    d_over_b = ratios.get("d/b")
    add("(d) >= 0.8 x (b) rps", d_over_b, ">= 0.8", None if d_over_b is None else d_over_b >= 0.8)
    d_over_c = ratios.get("d/c")
    add("(d) >= 4 x (c) rps", d_over_c, ">= 4", None if d_over_c is None else d_over_c >= 4)
    p99 = ingest.get("d", {}).get("p99_ms", {}).get("median")
    add(
        "p99 of (d) at 70% of its saturation",
        p99,
        "< 25 ms",
        None if p99 is None else p99 < 25,
        " ms",
    )
    f_over_b = ratios.get("f/b")
    add(
        "(f) as shipped >= 0.9 x (b) rps",
        f_over_b,
        ">= 0.9",
        None if f_over_b is None else f_over_b >= 0.9,
    )
    f_p99 = ingest.get("f", {}).get("p99_ms", {}).get("median")
    add(
        "p99 of (f) at 70% of its saturation",
        f_p99,
        "< 25 ms",
        None if f_p99 is None else f_p99 < 25,
        " ms",
    )
    f_lag = ingest.get("f", {}).get("lag_p99_ms", {}).get("median")
    add(
        "processor lag p99 of (f) at 70% of its saturation",
        f_lag,
        "< 1,000 ms",
        None if f_lag is None else f_lag < 1000,
        " ms",
    )
    backlog = processing.get("backlog", {}).get("events_per_s", {}).get("median")
    d_rps = ingest.get("d", {}).get("rps", {}).get("median")
    add(
        "processor events/s >= 1.5 x (d) rps",
        None if backlog is None or d_rps is None else backlog / d_rps,
        ">= 1.5 (ratio)",
        None if backlog is None or d_rps is None else backlog >= 1.5 * d_rps,
    )
    lag = processing.get("lag", {}).get("lag_p99_ms")
    add(
        "lag p99 at 50% of (d)",
        lag,
        "< 1,000 ms",
        None if lag is None else lag < 1000,
        " ms",
    )
    unchanged = queries.get("abandoned_unchanged_304", {}).get("p95_ms")
    add(
        "/v1/abandoned unchanged (304) p95",
        unchanged,
        "< 2 ms",
        None if unchanged is None else unchanged < 2,
        " ms",
    )
    changed = queries.get("abandoned_changed_200", {}).get("p95_ms")
    add(
        "/v1/abandoned changed p95",
        changed,
        "< 20 ms",
        None if changed is None else changed < 20,
        " ms",
    )
    day = queries.get("stats_day_by_hour", {}).get("p95_ms")
    add(
        "/v1/stats/outcomes for a day p95",
        day,
        "< 100 ms",
        None if day is None else day < 100,
        " ms",
    )
    for name, label, limit_ms in QUERY_GOALS:
        p95 = queries.get(name, {}).get("p95_ms")
        add(f"{label} p95", p95, f"< {limit_ms} ms", None if p95 is None else p95 < limit_ms, " ms")
    stalls = [
        (f"({key}) saturation", _loop(ingest.get(key, {}).get("loop_lag_saturation")))
        for key in ("d", "f")
    ]
    stalls.append(("the query section", _loop(results.get("queries", {}).get("loop_lag"))))
    for section, figures in stalls:
        largest = figures.get("largest_ms")
        add(
            f"largest event-loop stall, {section}",
            largest,
            "< 50 ms",
            None if largest is None else largest < 50,
            " ms",
        )
    rss = memory.get("peak_rss_mib")
    add("peak RSS, 60 s saturation", rss, "< 300 MiB", None if rss is None else rss < 300, " MiB")
    calllog = results.get("calllog", {})
    only = calllog.get("throughput", {}).get("call_log_only", {})
    stored = only.get("stored_per_s", {}).get("median")
    add(
        "call-log records stored",
        stored,
        ">= 5,000/s",
        None if stored is None else stored >= 5000,
        "/s",
    )
    reconciled = only.get("reconciled_per_s", {}).get("median")
    add(
        "call-log records reconciled (calls known only from the call log)",
        reconciled,
        ">= 5,000/s",
        None if reconciled is None else reconciled >= 5000,
        "/s",
    )
    ratio = calllog.get("backfill", {}).get("p99_ratio", {}).get("median")
    add(
        "webhook p99 during a backfill / without",
        ratio,
        "<= 1.2 (within noise)",
        None if ratio is None else ratio <= 1.2,
    )
    return found


def _loop(lags: dict[str, Any] | None, process: str = "service") -> dict[str, Any]:
    """One event loop's figures from a section's `loop_lag` (bench.harness.loop_lag)."""
    found: dict[str, Any] = (lags or {}).get(process, {})
    return found


def _stall_text(lags: dict[str, Any] | None) -> str:
    """`largest (stalls)` for the service's loop and, when it has one, the processor's."""
    parts = []
    for process in ("service", "processor"):
        figures = _loop(lags, process)
        if figures:
            parts.append(
                f"{process} {_n(figures.get('largest_ms'), 1)} ms "
                f"({_n(figures.get('stalls'))} over 50 ms)"
            )
    return ", ".join(parts) or "n/a"


def _machine(machine: dict[str, Any]) -> list[str]:
    pg = machine.get("postgresql", {})
    fsync = machine.get("pg_test_fsync", {})
    packages = ", ".join(f"{k} {v}" for k, v in machine.get("packages", {}).items())
    fsync_text = (
        f"{_n(fsync.get('fdatasync_us'))} µs per fdatasync "
        f"({_n(fsync.get('fdatasync_ops_per_s'))} ops/s, pg_test_fsync, one 8 kB write)"
        if fsync.get("fdatasync_us")
        else "pg_test_fsync not available"
    )
    return [
        "## Machine",
        "",
        f"- {machine.get('cores')} cores, {machine.get('cpu_model')}, "
        f"{machine.get('memory_gib')} GiB RAM, {machine.get('kernel')}",
        f"- Python {machine.get('python')}; {packages}",
        f"- PostgreSQL {pg.get('version')} on the same machine: shared_buffers "
        f"{pg.get('shared_buffers')}, synchronous_commit {pg.get('synchronous_commit')}, fsync "
        f"{pg.get('fsync')}, wal_sync_method {pg.get('wal_sync_method')}, commit_delay "
        f"{pg.get('commit_delay')}, max_connections {pg.get('max_connections')}",
        f"- Disk: {fsync_text}",
        f"- Load generator: {machine.get('wrk')}; bench/loadgen/paced.c (compiled with cc -O2)",
        "- Servers, load generators and PostgreSQL share the machine's cores.",
        "",
    ]


def _ingest(ingest: dict[str, Any]) -> list[str]:
    rows = ingest.get("targets", {})
    if not rows:
        return []
    b = rows.get("b", {}).get("rps", {}).get("median")
    lines = [
        "## Ingest, side by side",
        "",
        f"Same payload (one {ingest.get('body_bytes')}-byte telephony notification per "
        "request, each with its own uuid and session id), same harness, one run. Saturation: "
        f"wrk, {ingest.get('connections')} keep-alive connections, "
        f"{ingest.get('warmup_s'):g} s warm-up, "
        f"then {ingest.get('runs')} runs of {ingest.get('seconds'):g} s (median, min–max). "
        "Latency: the open-loop paced generator at 70% of each server's own median saturation "
        f"rate, {ingest.get('runs')} runs of {ingest.get('seconds'):g} s after 2 s unrecorded, "
        "latency counted from each request's scheduled send time (no coordinated omission).",
        "",
        "| server | requests/s at saturation | × (b) | rate at 70% | p50 | p99 | p99.9 | "
        "non-2xx + errors | stored rows ≥ acknowledged |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows.values():
        rps = row["rps"]["median"]
        stored = row.get("stored_rows")
        acknowledged = row.get("acknowledged_in_measured_runs")
        check = "–" if stored is None else ("yes" if stored >= acknowledged else "**NO**")
        lines.append(
            f"| {row['label']} | {_spread(row['rps'])} | "
            f"{_n(rps / b if b else None, 2)} | {_n(row['latency_rate'])}/s | "
            f"{_spread(row['p50_ms'], 2, ' ms')} | {_spread(row['p99_ms'], 2, ' ms')} | "
            f"{_spread(row['p999_ms'], 2, ' ms')} | {row['errors']} | {check} |"
        )
    lines += _checkpoints(rows)
    lines += _processor_alongside(rows)
    lines += _cpu_by_process(rows)
    lines += [
        "",
        "Largest event-loop stall (service/looplag.py: how late a probe due every 10 ms woke), "
        "since the server started, so its warm-up included; in brackets the stalls over 50 ms "
        "during the saturation runs:",
        "",
    ]
    for key, row in rows.items():
        if row.get("loop_lag_saturation"):
            lines.append(f"- ({key}): {_stall_text(row['loop_lag_saturation'])}")
    lines += ["", "Ratios (medians of this run):", ""]
    for name, value in ingest.get("ratios", {}).items():
        lines.append(f"- {name} = {value:.2f}")
    lines += [
        "",
        "Notes: (c) uses a fixed pool of 20 connections (SQLAlchemy's default 5 + 10 overflow "
        "opens and closes connections under this load and ran about 500 requests/s); callsift "
        "uses its default pool of 10 and its group commit (one statement per batch). (d) and "
        "(e) run with the processor off, as a receive-only replica "
        "(`CALLSIFT_PROCESSOR_ENABLED=false`); (f) runs `callsift run` as shipped (processor on, "
        "`CALLSIFT_PROCESSOR_MODE` at its default, a process of its own on PostgreSQL) and (g) "
        "with the processor inline in the webhook's event loop. "
        "`stored rows ≥ acknowledged` checks that every 200 of the measured runs is in the "
        "database.",
        "",
    ]
    return lines


def _checkpoints(rows: dict[str, Any]) -> list[str]:
    """Each paced run's p99 beside what PostgreSQL's checkpoints did during it."""
    measured = [row for row in rows.values() if "checkpoint_sync_ms" in row.get("paced", [{}])[0]]
    if not measured:
        return []
    runs = max(len(row["paced"]) for row in measured)
    lines = [
        "",
        "PostgreSQL's checkpoints and its disk during the paced runs (pg_stat_bgwriter, the "
        "whole server; /proc/diskstats, the whole device): each run's p99, then the "
        "checkpoints that started in it and the time the final syncs of those that ended in it "
        "took (a sync flushes every data file), then the disk's largest second of writes and "
        "its average over the run (the kernel writes the data files' dirty pages back in "
        "bursts; the commits' WAL flushes wait behind either on the same disk; "
        "docs/operations.md).",
        "",
        "| server | " + " | ".join(f"paced run {n}" for n in range(1, runs + 1)) + " |",
        "|---|" + "---|" * runs,
    ]
    for row in measured:
        cells = [
            f"p99 {_n(run['p99_ms'], 1)} ms; started {run['checkpoints_started']}, "
            f"sync {_n(run['checkpoint_sync_ms'])} ms{_disk(run)}"
            for run in row["paced"]
        ]
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return lines


def _disk(run: dict[str, Any]) -> str:
    if "disk_peak_mb_per_s" not in run:
        return ""
    peak, mean = _n(run["disk_peak_mb_per_s"]), _n(run["disk_mean_mb_per_s"])
    return f"; disk {peak} MB in its largest second ({mean} MB/s on average)"


def _processor_alongside(rows: dict[str, Any]) -> list[str]:
    """The processor while the webhook is loaded, for the targets that run it."""
    running = [row for row in rows.values() if "lag_p99_ms" in row]
    if not running:
        return []
    lines = [
        "",
        "The processor meanwhile ((f), (g), bench/alongside.py): a saturation run's one-event "
        "calls are the processor's worst case; what a run left unprocessed is counted, then "
        "marked processed so the next starts clean. The paced runs (latency above) send "
        "ten-event calls; lag = time a poller (every 10 ms) first sees an event processed − its "
        "`received_at`, for the events of their recorded part. Stood back: the seconds the "
        "processor in its own process held its claims back for the webhook "
        "(service/processing/standback.py).",
        "",
        "| server | left unprocessed by a 10 s saturation run | stood back in it | lag p50 at 70% "
        "| lag p99 at 70% | lag max at 70% | stood back in a paced run | drained after the paced "
        "run | left after 60 s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in running:
        lines.append(
            f"| {row['label']} | {_spread(row['unprocessed_after_saturation'])} | "
            f"{_spread(row.get('stood_back_saturation_s', {}), 1, ' s')} | "
            f"{_spread(row['lag_p50_ms'], 0, ' ms')} | {_spread(row['lag_p99_ms'], 0, ' ms')} | "
            f"{_spread(row['lag_max_ms'], 0, ' ms')} | "
            f"{_spread(row.get('stood_back_paced_s', {}), 1, ' s')} | "
            f"{_spread(row['drained_after_paced_s'], 1, ' s')} | "
            f"{row['unprocessed_after_drain_limit']} |"
        )
    return lines


CPU_ROLES = (
    ("server", "server's process"),
    ("server's children", "its child processes"),
    ("postgresql", "PostgreSQL"),
    ("load generator", "load generator"),
    ("other", "other processes"),
)


def _cpu_by_process(rows: dict[str, Any]) -> list[str]:
    """Where the two cores went in each target's runs (bench.harness.ForeignCpu)."""
    measured = [row for row in rows.values() if row.get("cpu_by_process")]
    if not measured:
        return []
    lines = [
        "",
        "CPU by process, in cores (median of the runs, from /proc): the server's own process, "
        "the processes it started ((f): the processor's), PostgreSQL (every backend: the "
        "server's and its processor's), the load generator (with the harness), the rest of "
        "the machine.",
        "",
        "| server | load | " + " | ".join(name for _, name in CPU_ROLES) + " |",
        "|---|---|" + "---|" * len(CPU_ROLES),
    ]
    for row in measured:
        for load, name in (("saturation", "saturation"), ("paced", "70%")):
            found = row["cpu_by_process"].get(load, {})
            cells = [_spread(found.get(role), 2) if role in found else "–" for role, _ in CPU_ROLES]
            lines.append(f"| {row['label']} | {name} | " + " | ".join(cells) + " |")
    return lines


def _processing(processing: dict[str, Any]) -> list[str]:
    backlog = processing.get("backlog")
    lag = processing.get("lag")
    lines = ["## Processing", ""]
    if backlog:
        run = backlog["runs"][0] if backlog.get("runs") else {}
        lines += [
            f"Backlog: {backlog['events']:,} stored events ({backlog['sessions']:,} ten-event "
            f"calls, mean body {backlog['mean_body_bytes']:.0f} bytes, stored in event-time "
            "order, about 20 calls overlapping) drained by the service's processor "
            f"(batch size {run.get('batch_size')}, {run.get('claims_in_flight', 1)} claims in "
            "flight, one process, uvloop) on PostgreSQL, "
            f"{len(backlog['runs'])} runs.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| events/s | {_spread(backlog['events_per_s'])} |",
            f"| calls (sessions)/s | {_spread(backlog['sessions_per_s'])} |",
            f"| sessions recomputed per run | {_n(run.get('sessions_recomputed'))} |",
            f"| claims per run | {_n(run.get('batches'))} |",
            f"| processor CPU / wall time | {_n(run.get('process_cpu_s'), 1)} s / "
            f"{_n(run.get('seconds'), 1)} s |",
            "",
        ]
    if lag:
        load = lag["load"]
        lines += [
            f"Lag: `callsift run` (processor on) receiving {_n(lag['rate'])} notifications/s "
            "(50% of (d)'s median saturation rate; ten-event calls, each call's events sent "
            f"back to back), one run of {lag['seconds']:g} s after {lag['warmup_s']:g} s of "
            "warm-up. "
            "Lag = time a poller (every 10 ms) first sees the event processed − the event's "
            "`received_at`.",
            "",
            "| figure | value |",
            "|---|---|",
            f"| lag p50 / p90 / p99 / max | {_n(lag['lag_p50_ms'])} / {_n(lag['lag_p90_ms'])} / "
            f"{_n(lag['lag_p99_ms'])} / {_n(lag['lag_max_ms'])} ms |",
            f"| events measured | {lag['lag_samples']:,} |",
            f"| webhook latency meanwhile p50 / p99 | {_n(load['p50_ms'], 2)} / "
            f"{_n(load['p99_ms'], 2)} ms (non-2xx {load['non2xx']}, errors {load['errors']}) |",
            f"| backlog left when the load stopped, drained after | "
            f"{_n(lag['backlog_drained_after_s'], 2)} s |",
            f"| events stored / outcomes | {lag['events_stored']:,} / {lag['outcomes']:,} |",
            *(
                [
                    "| change numbers taken (outcome writes, recoveries revised) | "
                    f"{lag['outcome_writes']:,} |"
                ]
                if "outcome_writes" in lag
                else []
            ),
            "",
        ]
    return lines


def _calllog(calllog: dict[str, Any]) -> list[str]:
    if not calllog:
        return []
    throughput = calllog.get("throughput", {})
    backfill = calllog.get("backfill", {})
    measured = calllog.get("measured")
    lines = [
        "## The call log (PostgreSQL)",
        "",
        *(
            [
                f"Measured on its own (`python -m bench --sections calllog`) at commit "
                f"{measured['commit']}, {measured['at']}, after the rest of this report.",
                "",
            ]
            if measured
            else []
        ),
        "Records stored in pages of 1,000 as the sync stores them, then taken into the outcomes "
        "by the processor (bench/calllog.py). *call log only*: one record per call, each an "
        "outcome from its record alone. *reconcile with events*: ten events per call already "
        "processed, then two records per call (the agent's and the queue's).",
        "",
        "| workload | records | stored/s | reconciled/s | stored + reconciled/s |",
        "|---|---|---|---|---|",
    ]
    for name, label in (
        ("call_log_only", "call log only"),
        ("reconcile_with_events", "reconcile with events"),
    ):
        found = throughput.get(name)
        if found:
            lines.append(
                f"| {label} | {found['records']:,} | {_spread(found['stored_per_s'])} | "
                f"{_spread(found['reconciled_per_s'])} | {_spread(found['end_to_end_per_s'])} |"
            )
    if backfill:
        base, during = backfill["baseline"], backfill["during_backfill"]
        lines += [
            "",
            f"Backfill: `callsift run` as shipped, {backfill['extensions']} extensions x "
            f"{backfill['days']} days x {backfill['calls_per_day']} calls waiting in the "
            "emulator (its own process, RingCentral's rate limits on). "
            f"{backfill['requests']:,} sequential webhook notifications with the call-log sync "
            "off, then right after a start with it on, while the backfill runs: "
            f"{backfill['pairs']} such pairs, each against a fresh emulator and database "
            "(median, min–max).",
            "",
            "| figure | without | during the backfill |",
            "|---|---|---|",
            *(
                f"| webhook {label} | {_spread(base[figure], digits, ' ms')} | "
                f"{_spread(during[figure], digits, ' ms')} |"
                for label, figure, digits in (
                    ("p50", "p50_ms", 2),
                    ("p99", "p99_ms", 2),
                    ("max", "max_ms", 1),
                )
            ),
            "",
            "p99 during / without, pair by pair: "
            + ", ".join(_n(ratio, 2) for ratio in backfill["p99_ratio"]["runs"])
            + f". The last pair's backfill stored {backfill['records_stored']:,} of "
            f"{backfill['records_expected']:,} records and reconciled them in "
            f"{_n(backfill['backfill_s'])} s ({backfill['records_pending']} left queued); sync "
            f"failures (429s and others): {backfill['sync_failures']}. Records stored while the "
            "webhook was measured, pair by pair: "
            + ", ".join(f"{n:,}" for n in backfill["records_stored_while_measuring"]["runs"])
            + " (while notifications arrive the sync keeps to CALLSIFT_CALLLOG_BUSY_RECORDS_PER_S, "
            "a page of n records stored n / rate after it was read; the backfill goes on at full "
            "speed once they stop).",
            "",
        ]
    return lines


def _classifier(classifier: dict[str, Any]) -> list[str]:
    if not classifier:
        return []
    lines = [
        "## Classifier alone",
        "",
        f"bench/classifier.py, {classifier['sessions']:,} ten-event sessions per run, one process "
        f"pinned to one core ({'taskset' if classifier['pinned_to_one_core'] else 'not pinned'}), "
        f"3 runs. Outcome mix: {classifier['outcomes']}.",
        "",
        "| path | sessions/s | events/s |",
        "|---|---|---|",
    ]
    for label, figure in classifier["paths"].items():
        events = {k: v * 10 for k, v in figure.items() if k != "runs"}
        lines.append(f"| {label} | {_spread(figure)} | {_n(events['median'])} |")
    return [*lines, ""]


QUERY_LABELS = {
    "abandoned_unchanged_304": "GET /v1/abandoned, caught up, If-None-Match (304)",
    "abandoned_changed_200": "GET /v1/abandoned, 50 changes behind (200)",
    "abandoned_after_change_200": "GET /v1/abandoned, caught up after a change (200: the summary "
    "and its live block computed again)",
    "calls_day_abandoned": "GET /v1/calls: a day, is_abandoned=true, limit 100",
    "calls_extension_week": "GET /v1/calls: an extension's week, limit 100",
    "calls_month_category": "GET /v1/calls: a category over the month, limit 100",
    "calls_day_queue_inbound": "GET /v1/calls: a day, inbound, one queue, limit 100",
    "stats_day_by_hour": "GET /v1/stats/outcomes: a day by hour",
    "stats_day_by_queue": "GET /v1/stats/outcomes: a day by queue",
    "stats_month_by_day": "GET /v1/stats/outcomes: the month by day",
    "stats_month_by_extension": "GET /v1/stats/outcomes: the month by extension",
    "stats_month_by_hour": "GET /v1/stats/outcomes: the month by hour",
    "stats_month_by_queue": "GET /v1/stats/outcomes: the month by queue",
    "stats_month_by_hour_kathmandu": "GET /v1/stats/outcomes: the month by hour, tz=Asia/Kathmandu",
    "callbacks": "GET /v1/abandoned?unrecovered=true: the callback list",
    "stats_day_by_agent": "GET /v1/stats/outcomes: a day by agent",
    "stats_month_by_agent": "GET /v1/stats/outcomes: the month by agent",
    "trend_today": "GET /v1/stats/trend: today against 4 weeks",
}


def _queries(queries: dict[str, Any]) -> list[str]:
    if not queries or "results" not in queries:
        note = queries.get("error", "") if queries else ""
        return [
            "## Queries",
            "",
            f"**Not measured in this run.** {note}",
            "",
        ]
    data = queries["data"]
    lines = [
        "## Queries (PostgreSQL)",
        "",
        f"{data['outcomes']:,} outcomes and {data['legs']:,} legs over the 30 days before the run. "
        f"{data['base_outcomes']:,} of them were computed by the real processor from "
        f"{data['base_events']:,} stored events of {data['base_calls']:,} recorded fixture calls "
        "(bench/api_latency.py's mix); the rest are SQL copies of those processor-written rows "
        f"({data['copies']} copies each, new session ids, start times moved to random times of "
        "the month, fresh change numbers). `callsift run` serves it; one keep-alive connection "
        "(http.client) sends the requests one after another; percentiles over n requests.",
        "",
        *_rollups(queries.get("rollups")),
        "| request | p50 | p95 | p99 | max | n | body |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, figure in queries["results"].items():
        extra = f" ({figure['changes']} changes)" if "changes" in figure else ""
        if "live_calls" in figure:
            extra = f" ({figure['live_calls']} calls in progress)"
        lines.append(
            f"| {QUERY_LABELS.get(name, name)}{extra} | {_n(figure['p50_ms'], 2)} ms | "
            f"{_n(figure['p95_ms'], 2)} ms | {_n(figure['p99_ms'], 2)} ms | "
            f"{_n(figure['max_ms'], 2)} ms | {figure['n']} | {_n(figure['body_bytes'])} B |"
        )
    lines += [
        "",
        "Largest event-loop stall over the whole section, since the server started (in "
        f"brackets the stalls over 50 ms): {_stall_text(queries.get('loop_lag'))}.",
    ]
    return [*lines, ""]


def _rollups(rollups: dict[str, Any] | None) -> list[str]:
    if not rollups:
        return []
    return [
        f"The copies were marked for the stats rollups ({_n(rollups['marks'])} quarter hours); "
        f"the service's refresher brought the rollups up to date in "
        f"{_n(rollups['refresh_s'], 1)} s ({_n(rollups['rollup_rows'])} rows), before the "
        "requests below.",
        "",
    ]


def _memory(memory: dict[str, Any]) -> list[str]:
    if not memory:
        return []
    return [
        "## Memory",
        "",
        f"`callsift run` on PostgreSQL (processor on) under wrk at saturation, one run of "
        f"{memory['seconds']:g} s ({_n(memory['rps'])} requests/s, errors {memory['errors']}): "
        f"peak RSS (VmHWM) **{_n(memory['peak_rss_mib'], 1)} MiB**; RSS at start "
        f"{_n(memory['rss_at_start_mib'], 1)} MiB, largest 1-second sample "
        f"{_n(memory['max_sampled_rss_mib'], 1)} MiB, after the run "
        f"{_n(memory['rss_after_mib'], 1)} MiB. The processor's own process (the default on "
        f"PostgreSQL) peaked at {_n(memory.get('processor_process_peak_rss_mib'), 1)} MiB "
        "besides.",
        "",
    ]


def _profile(
    title: str, profile: dict[str, Any] | None, *, total: bool, top: int = 15
) -> list[str]:
    if not profile or not profile.get("samples"):
        return []
    lines = [f"### {title}", "", f"{profile['samples']:,} samples.", ""]
    if not total:
        lines += ["| self | function |", "|---|---|"]
        lines += [f"| {share:.1%} | `{name}` |" for name, share in profile["self"][:top]]
        return [*lines, ""]
    lines += ["| self | function | | total | function |", "|---|---|---|---|---|"]
    for (own_name, own), (total_name, share) in zip(
        profile["self"][:top], profile["total"][:top], strict=False
    ):
        lines.append(f"| {own:.1%} | `{own_name}` | | {share:.1%} | `{total_name}` |")
    return [*lines, ""]


def render(results: dict[str, Any], notes: str) -> str:
    found = targets(results)
    lines = [
        "# callsift benchmarks",
        "",
        f"Written by `make bench` (`python -m bench`) on {results['finished_at']} in "
        f"{results['duration_s'] / 60:.0f} minutes, from commit {results.get('commit', '?')}"
        + (" with uncommitted changes" if results.get("dirty") else "")
        + ". Raw figures: bench/results/latest.json.",
        "",
        "## Targets (issues 8, 11 and 14, ratios from this run)",
        "",
        "| target | measured | threshold | |",
        "|---|---|---|---|",
    ]
    for target in found:
        digits = 2 if target["unit"] == "" else (2 if (target["value"] or 0) < 10 else 0)
        lines.append(
            f"| {target['target']} | {_n(target['value'], digits)}{target['unit']} | "
            f"{target['rule']} | {_yes(target['met'])} |"
        )
    lines.append("")
    lines += _machine(results.get("machine", {}))
    quiet = results.get("quiet", {})
    lines += [
        "## Method",
        "",
        "- Every server is its own process: one uvicorn worker with uvloop and httptools "
        "(`callsift run` for callsift). Saturation load comes from wrk with "
        "bench/wrk/notifications.lua, which makes every request a distinct notification; the "
        "fixed-rate load comes from bench/loadgen/paced.c (wrk2 is not packaged for Debian), an "
        "open-loop generator that fills the same templates and measures from each request's "
        "scheduled send time.",
        "- Each figure is the median of 3 runs with min and max, unless marked otherwise.",
        "- This machine may be shared. Before each measured run the harness waits until the "
        "machine is nearly idle, measures the CPU that other processes used during the run, and "
        "repeats a run disturbed by more than 0.1 core (up to 3 times, keeping the quietest). "
        f"Largest foreign CPU in a kept ingest run: {_n(quiet.get('max_foreign_cores'), 2)} "
        "cores. The host is shared too, which the harness cannot see: the same CPU-bound work "
        "can take 20% longer from one run to the next (see the notes at the end).",
        "",
    ]
    lines += _ingest(results.get("ingest", {}))
    lines += _processing(results.get("processing", {}))
    lines += _calllog(results.get("calllog", {}))
    lines += _classifier(results.get("classifier", {}))
    lines += _queries(results.get("queries", {}))
    lines += _memory(results.get("memory", {}))
    profiles = results.get("profiles", {})
    if profiles:
        lines += [
            "## Profiles (py-spy, CPU samples)",
            "",
            "Self time: the function itself was running (a collection by the garbage collector "
            "is charged to the function that allocated). Waiting for PostgreSQL is not a sample.",
            "",
        ]
        lines += _profile(
            "(d) callsift webhook on PostgreSQL at saturation, as `callsift run` ships",
            profiles.get("d"),
            total=False,
        )
        lines += _profile(
            "The processor draining a backlog (stacks under process_new_events)",
            profiles.get("processor"),
            total=True,
        )
    lines += [notes.strip(), ""]
    return "\n".join(lines)
