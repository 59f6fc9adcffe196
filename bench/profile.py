"""Where a server spends its time under saturation: py-spy samples it while wrk drives it.

py-spy is not a dependency of callsift: `make bench` profiles only when it is installed
(`.venv/bin/pip install py-spy`). The summary lists the functions with the most samples, by
self time (the function itself was running) and by total time (it was on the stack).

    python -m bench.profile --target d [--seconds 10] [--top 25]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from bench.harness import DEFAULT_POSTGRES_URL, TMP, log, run_wrk
from bench.ingest import target_server
from bench.payloads import ingest_templates


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def summarise(collapsed: Path, top: int, *, within: str | None = None) -> dict[str, Any]:
    """Top functions of a py-spy raw profile; `within` keeps only stacks through that function
    (shares are then of those stacks)."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        if within is not None:
            inside = [i for i, frame in enumerate(frames) if frame.startswith(within + " (")]
            if not inside:
                continue
            frames = frames[inside[0] :]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    if not samples:
        return {"samples": 0, "self": [], "total": []}
    return {
        "samples": samples,
        "self": [(name, count / samples) for name, count in own.most_common(top)],
        "total": [(name, count / samples) for name, count in total.most_common(top)],
    }


def _short(frame: str) -> str:
    """`function (path/to/file.py:12)` -> `function (file.py)`; keeps the package for ours."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("service", "classifiers", "bench"):
        if anchor in parts:
            path = "/".join(parts[parts.index(anchor) :])
            break
    else:
        path = "/".join(parts[-2:]) if len(parts) >= 2 else path
    return f"{name} ({path})"


def profile_target(
    key: str, *, seconds: float = 10, top: int = 25, admin_url: str = DEFAULT_POSTGRES_URL
) -> dict[str, Any] | None:
    spy = py_spy()
    if spy is None:
        log("py-spy is not installed: no profile (pip install py-spy into .venv)")
        return None
    templates = ingest_templates(TMP)
    output = TMP / f"profile-{key}.txt"
    with target_server(key, admin_url) as server:
        run_wrk(server.webhook_url, templates, seconds=3)
        command = [spy, "record", "--pid", str(server.pid), "--duration", f"{seconds + 1:g}"]
        command += ["--rate", "250", "--format", "raw", "--output", str(output), "--nonblocking"]
        recorder = threading.Thread(
            target=subprocess.run,
            args=(command,),
            kwargs={"check": False, "capture_output": True},
        )
        recorder.start()
        figures = run_wrk(server.webhook_url, templates, seconds=seconds)
        recorder.join()
    if not output.exists():
        log("py-spy wrote no profile")
        return None
    summary = summarise(output, top)
    summary["rps_while_profiled"] = figures["rps"]
    return summary


def profile_processor(
    *, admin_url: str = DEFAULT_POSTGRES_URL, events: int = 50_000, top: int = 25
) -> dict[str, Any] | None:
    """py-spy on the processor draining a backlog (bench/processing.py's drain child)."""
    import asyncio

    from bench.harness import PYTHON, ROOT, create_database, drop_database
    from bench.processing import load_backlog

    spy = py_spy()
    if spy is None:
        return None
    output = TMP / "profile-processor.txt"
    url = asyncio.run(create_database(admin_url, "profile"))
    try:
        asyncio.run(load_backlog(url, events))
        command = [spy, "record", "--rate", "250", "--format", "raw", "--output", str(output)]
        command += ["--", PYTHON, "-m", "bench.processing", "drain", "--url", url]
        subprocess.run(command, cwd=ROOT, check=False, capture_output=True)
    finally:
        asyncio.run(drop_database(admin_url, url))
    if not output.exists():
        return None
    return summarise(output, top, within="process_new_events")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="d")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    summary = profile_target(args.target, seconds=args.seconds, top=args.top)
    if summary is None:
        return
    print(f"{summary['samples']} samples, {summary['rps_while_profiled']:,.0f} rps while profiled")
    for kind in ("self", "total"):
        print(f"-- by {kind} time")
        for name, share in summary[kind]:
            print(f"{share:6.1%}  {name}")


if __name__ == "__main__":
    main()
