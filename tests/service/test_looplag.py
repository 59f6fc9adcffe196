"""The event-loop lag probe: its series on /metrics, a callback that blocks the loop counted and
logged as a stall, the watchdog naming what blocked, and the processor process's lags reaching
the service's metrics."""

from __future__ import annotations

import asyncio
import time

import structlog

from service.looplag import LoopLagProbe, Watchdog
from service.metrics import LOOP_STALL_S, PROCESSOR_LOOP, SERVICE_LOOP, Metrics, ProcessorReport
from service.processing.channel import report_line, report_of
from tests.conftest import LiveService

BLOCK_S = 0.2  # a callback that holds the loop this long is a stall whatever the machine
WAIT_S = 30.0


def _stalls(metrics: Metrics, process: str) -> float | None:
    return metrics.registry.get_sample_value(
        "callsift_event_loop_stalls_total", {"process": process}
    )


async def test_the_lag_series_are_on_metrics(service: LiveService) -> None:
    text = (await service.client.get("/metrics")).text
    assert "# TYPE callsift_event_loop_lag_seconds histogram" in text
    assert 'callsift_event_loop_lag_seconds_bucket{le="0.05",process="service"}' in text
    assert 'callsift_event_loop_lag_max_seconds{process="service"}' in text
    assert 'callsift_event_loop_stalls_total{process="service"}' in text


def _block_the_loop() -> None:
    time.sleep(BLOCK_S)  # on purpose: this callback is the stall


async def test_a_blocking_callback_is_a_stall() -> None:
    metrics = Metrics()
    stalled = asyncio.Event()

    def on_lag(lag_s: float) -> None:
        metrics.record_loop_lag(lag_s)
        if lag_s > LOOP_STALL_S:
            stalled.set()

    probe = LoopLagProbe(on_lag, process=SERVICE_LOOP)
    await probe.start()
    try:
        with structlog.testing.capture_logs() as logs:
            asyncio.get_running_loop().call_soon(_block_the_loop)
            await asyncio.wait_for(stalled.wait(), WAIT_S)
    finally:
        await probe.stop()
    assert (_stalls(metrics, SERVICE_LOOP) or 0) >= 1
    largest = metrics.registry.get_sample_value(
        "callsift_event_loop_lag_max_seconds", {"process": SERVICE_LOOP}
    )
    assert largest is not None
    assert largest > LOOP_STALL_S
    stalls = [line for line in logs if line["event"] == "looplag.stalled"]
    assert stalls
    assert stalls[0]["process"] == SERVICE_LOOP
    assert stalls[0]["lag_ms"] > LOOP_STALL_S * 1000


async def test_the_watchdog_names_what_holds_the_loop() -> None:
    watchdog = Watchdog(asyncio.get_running_loop(), stall_s=LOOP_STALL_S)
    watchdog.start()

    def hold_until_seen() -> None:
        due = time.monotonic()
        watchdog.expect(due)
        deadline = due + WAIT_S
        while watchdog.seen_for(due) is None and time.monotonic() < deadline:
            time.sleep(0.005)  # the loop stays blocked until the watchdog has looked

    try:
        asyncio.get_running_loop().call_soon(hold_until_seen)
        await asyncio.sleep(0)  # the callback runs first
    finally:
        watchdog.stop()
    assert watchdog.seen is not None
    assert any("hold_until_seen" in frame for frame in watchdog.seen.frames)


def test_the_processor_process_lags_reach_the_service_metrics() -> None:
    metrics = Metrics()
    sent = report_line(ProcessorReport(loop_lags_s=[0.001, 0.2, 0.004]))
    metrics.record_processor(report_of(sent))
    assert _stalls(metrics, PROCESSOR_LOOP) == 1
    assert _stalls(metrics, SERVICE_LOOP) == 0
    count = metrics.registry.get_sample_value(
        "callsift_event_loop_lag_seconds_count", {"process": PROCESSOR_LOOP}
    )
    assert count == 3
