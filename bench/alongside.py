"""The processor alongside the webhook, for the ingest targets that run it ((f) as shipped, (g)
inline): how many events a saturation run left unprocessed and how long they took to drain, and
the lag (stored -> outcome visible) of the events of a paced run, read by `LagPoller`.

Every measured run of such a target starts with nothing left to process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.harness import fetchval, percentile
from bench.processing import LagPoller

UNPROCESSED = "SELECT count(*) FROM raw_events WHERE processed_at IS NULL"
DRAIN_LIMIT_S = 300.0


def unprocessed(url: str) -> int:
    return int(asyncio.run(fetchval(url, UNPROCESSED)))


def drain_time(url: str) -> float:
    """Seconds until no stored event is left unprocessed (DRAIN_LIMIT_S at most)."""
    started = time.monotonic()
    while unprocessed(url) and time.monotonic() - started < DRAIN_LIMIT_S:
        time.sleep(0.1)
    return time.monotonic() - started


def saturation_with_backlog(url: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()` (a wrk run), then what it left unprocessed and how long that took to drain."""
    figures = run()
    figures["unprocessed_at_end"] = unprocessed(url)
    figures["drained_after_s"] = drain_time(url)
    return figures


def paced_with_lag(url: str, run: Callable[[], dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """`run()` (a paced run that records after `warmup_s`) with the lag of each event stored
    during its recorded part, polled until every event is processed."""
    poller = LagPoller(url)
    poller.start()
    started = time.time()
    try:
        figures = run()
        figures["drained_after_s"] = drain_time(url)
    finally:
        poller.stop()
    window = sorted(lag for arrived, lag in poller.samples if arrived >= started + warmup_s)
    figures["lag_samples"] = len(window)
    figures["lag_p50_ms"] = percentile(window, 0.50) * 1000
    figures["lag_p99_ms"] = percentile(window, 0.99) * 1000
    figures["lag_max_ms"] = (window[-1] if window else float("nan")) * 1000
    return figures
