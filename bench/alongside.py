"""The processor alongside the webhook, for the ingest targets that run it ((f) as shipped, (g)
inline).

- Saturation runs take the same distinct notifications as every other target, each its own
  one-event call: the processor's worst case (one outcome per event), which no processor
  keeps up with at the webhook's full rate. It works the whole run, as it would as shipped;
  what the run left unprocessed is counted, then marked processed, so that the next run starts
  with nothing to process (how fast a backlog drains is the processing section's subject).
- Paced runs (latency at 70%) send ten-event calls, as the processing section's lag run does,
  and record the lag (stored -> outcome visible, read by `LagPoller`) of every event stored in
  the run's recorded part, waiting up to DRAIN_LIMIT_S after the run for the last ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from bench.harness import fetchval, percentile
from bench.processing import LagPoller

UNPROCESSED = "SELECT count(*) FROM event_queue"
SKIP = "DELETE FROM event_queue"
DRAIN_LIMIT_S = 60.0


def unprocessed(url: str) -> int:
    return int(asyncio.run(fetchval(url, UNPROCESSED)))


def skip_backlog(url: str) -> int:
    """Mark every unprocessed event processed (a bench reset, never the service's way)."""
    left = unprocessed(url)
    if left:
        asyncio.run(fetchval(url, SKIP))
    return left


def drain_time(url: str, limit_s: float = DRAIN_LIMIT_S) -> float:
    """Seconds until no stored event is left unprocessed (`limit_s` at most)."""
    started = time.monotonic()
    while unprocessed(url) and time.monotonic() - started < limit_s:
        time.sleep(0.1)
    return time.monotonic() - started


def saturation_with_backlog(url: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """`run()` (a wrk run), then what it left unprocessed (skipped for the next run)."""
    figures = run()
    figures["unprocessed_at_end"] = skip_backlog(url)
    return figures


def paced_with_lag(url: str, run: Callable[[], dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """`run()` (a paced run that records after `warmup_s`) with the lag of each event stored
    during its recorded part."""
    skip_backlog(url)
    poller = LagPoller(url)
    poller.start()
    started = time.time()
    try:
        figures = run()
        figures["drained_after_s"] = drain_time(url)
    finally:
        poller.stop()
    figures["unprocessed_after_drain_limit"] = skip_backlog(url)
    window = sorted(lag for arrived, lag in poller.samples if arrived >= started + warmup_s)
    figures["lag_samples"] = len(window)
    figures["lag_polls"] = poller.polls
    figures["lag_rows_read"] = poller.rows_read
    figures["lag_poll_s"] = poller.poll_s
    figures["lag_p50_ms"] = percentile(window, 0.50) * 1000
    figures["lag_p99_ms"] = percentile(window, 0.99) * 1000
    figures["lag_max_ms"] = (window[-1] if window else float("nan")) * 1000
    return figures
