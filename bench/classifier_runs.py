"""Classifier throughput for the report: bench/classifier.py (someone else's script, unchanged)
run as a separate process pinned to one core, three times; each of its paths as median, min and
max of those runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

from bench.harness import PYTHON, ROOT, log, spread, wait_for_quiet

LINE = re.compile(r"^(?P<label>.+?)\s+(?P<rate>[\d,]+)\s+(?P<us>[\d.]+)$")


def run(*, sessions: int = 5000, runs: int = 3) -> dict[str, Any]:
    command = [PYTHON, "-m", "bench.classifier", "--sessions", str(sessions), "--runs", "1"]
    taskset = shutil.which("taskset")
    if taskset:
        command = [taskset, "-c", "1", *command]
    rates: dict[str, list[float]] = {}
    outcomes = ""
    for _ in range(runs):
        wait_for_quiet()
        output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        for line in output.stdout.splitlines():
            if line.startswith("outcomes:"):
                outcomes = line.split(":", 1)[1].strip()
            match = LINE.match(line.strip())
            if match and not line.startswith("path"):
                rate = float(match.group("rate").replace(",", ""))
                rates.setdefault(match.group("label").strip(), []).append(rate)
    log("classifier: " + ", ".join(f"{k}: {v[-1]:,.0f}/s" for k, v in rates.items()))
    return {
        "sessions": sessions,
        "events_per_session": 10,
        "pinned_to_one_core": bool(taskset),
        "outcomes": outcomes,
        "paths": {label: spread(values) for label, values in rates.items()},
    }
