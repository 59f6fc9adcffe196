"""`make bench`: every benchmark in one go, written to bench/results/latest.md and latest.json.

    python -m bench                      # everything (about 20 minutes)
    python -m bench --quick              # a smoke run: short runs, small data, tmp/ output
    python -m bench --sections ingest,memory

Sections: machine, ingest, memory, processing, calllog, classifier, queries, profiles. Needs
PostgreSQL (CALLSIFT_BENCH_POSTGRES_URL or --postgres-url, default the local trust-auth server:
throwaway databases are created and dropped), wrk (installed with apt-get when missing) and a C
compiler (for bench/loadgen/paced.c). See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import (
    calllog,
    classifier_runs,
    ingest,
    machine,
    memory,
    processing,
    profile,
    queries,
    report,
)
from bench.harness import (
    BENCH,
    DEFAULT_POSTGRES_URL,
    RESULTS,
    ROOT,
    TMP,
    ensure_paced,
    ensure_wrk,
    log,
    quiet_log,
)

SECTIONS = (
    "machine",
    "ingest",
    "memory",
    "processing",
    "calllog",
    "classifier",
    "queries",
    "profiles",
)


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return result.stdout.strip()


def _notes() -> str:
    """bench/notes.md: what was tried and what holds unmet targets back (appended to the report)."""
    path = BENCH / "notes.md"
    return path.read_text() if path.exists() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run into tmp/")
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CALLSIFT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL),
    )
    parser.add_argument("--output", type=Path, help="where to write <name>.md and <name>.json")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="rewrite <name>.md from <name>.json (after editing bench/notes.md or report.py)",
    )
    args = parser.parse_args()
    if args.render_only:
        output = args.output or RESULTS / "latest"
        stored = orjson.loads(output.with_suffix(".json").read_bytes())
        output.with_suffix(".md").write_text(report.render(stored, _notes()))
        log(f"wrote {output.with_suffix('.md')}")
        return
    sections = [s for s in args.sections.split(",") if s]
    quick = args.quick
    output = args.output or (TMP / "quick" if quick else RESULTS / "latest")
    TMP.mkdir(parents=True, exist_ok=True)
    ensure_wrk()
    ensure_paced()

    started = time.monotonic()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        # the reports this writes are not code: a run after a run is still of the commit
        "dirty": bool(
            _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
        ),
        "quick": quick,
    }
    seconds, runs = (3.0, 1) if quick else (10.0, 3)
    url = args.postgres_url

    def section(name: str, work: Callable[[], Any]) -> None:
        if name not in sections:
            return
        log(f"== {name}")
        try:
            results[name] = work()
        except Exception as exc:  # one failing section must not lose the others
            traceback.print_exc()
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}

    section("machine", lambda: machine.facts(url))
    targets = ["a", "b", "c", "d", "e", "f", "g"]
    section(
        "ingest",
        lambda: ingest.run(
            targets, admin_url=url, runs=runs, seconds=seconds, warmup=2 if quick else 5
        ),
    )
    section("memory", lambda: memory.run(admin_url=url, seconds=10 if quick else 60))

    def processing_section() -> dict[str, Any]:
        found: dict[str, Any] = {
            "backlog": processing.run_backlog(
                admin_url=url, events=20_000 if quick else 200_000, runs=runs
            )
        }
        d_rps = results.get("ingest", {}).get("targets", {}).get("d", {}).get("rps", {})
        rate = 0.5 * d_rps["median"] if d_rps else 2000.0
        log(f"processing: lag at {rate:,.0f} notifications/s")
        found["lag"] = processing.run_lag(
            rate=rate, admin_url=url, seconds=10 if quick else 30, warmup=2 if quick else 5
        )
        return found

    section("processing", processing_section)
    section("calllog", lambda: calllog.run(admin_url=url, quick=quick))
    section(
        "classifier",
        lambda: classifier_runs.run(sessions=1000 if quick else 5000, runs=runs),
    )
    section(
        "queries",
        lambda: queries.run(
            admin_url=url,
            outcomes=50_000 if quick else 1_000_000,
            base_calls=2_500 if quick else 40_000,
        ),
    )

    def profiles() -> dict[str, Any]:
        found: dict[str, Any] = {}
        log("profile: d")
        found["d"] = profile.profile_target("d", seconds=seconds, admin_url=url)
        log("profile: processor")
        found["processor"] = profile.profile_processor(
            admin_url=url, events=20_000 if quick else 50_000
        )
        return found

    section("profiles", profiles)

    foreign = results.get("ingest", {}).get("targets", {})
    results["quiet"] = {
        "busy_before_runs": quiet_log,
        "max_foreign_cores": max(
            (c for row in foreign.values() for c in row.get("foreign_cpu_cores", [])), default=0.0
        ),
    }
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_s"] = time.monotonic() - started
    output.parent.mkdir(parents=True, exist_ok=True)
    json_path = output.with_suffix(".json")
    json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    markdown = output.with_suffix(".md")
    markdown.write_text(report.render(results, _notes()))
    log(f"wrote {markdown} and {json_path}")


if __name__ == "__main__":
    main()
