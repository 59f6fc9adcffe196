"""The processor in a process of its own (CALLSIFT_PROCESSOR_MODE=process, the default of
`callsift run` on PostgreSQL), with real processes and real databases: what the webhook takes in
becomes outcomes, counted at the service's /metrics; a SIGKILLed processor process is started
again and its backlog is processed with nothing lost or doubled; Ctrl-C stops the service and
its processor, leaving no process behind."""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.settings import ProcessorMode, Settings
from tests.faults.support import (
    CallsiftProcess,
    Ledger,
    build_calls,
    callsift_run,
    count_outcomes,
    database,
    drained,
    in_delivery_order,
    outcomes_per_session,
    post_with_ledger,
    report,
    session_of,
    stored_uuid_counts,
    wait_until,
)
from tests.support.databases import PostgresTestDatabase

CONNECTIONS = 16


@pytest.fixture
def postgres_url(postgres_database: PostgresTestDatabase) -> str:
    postgres_database.truncate()
    return postgres_database.url


async def readiness(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    ready: dict[str, Any] = response.json()
    return ready


async def running_processor(base_url: str, *, other_than: int | None = None) -> dict[str, Any]:
    """/readyz's `processor` once a processor process runs (one other than `other_than`)."""
    found: dict[str, Any] = {}

    async def running() -> bool:
        found.update((await readiness(base_url))["processor"])
        return bool(found["alive"]) and found["pid"] != other_than

    await wait_until(running, timeout_s=60, what="a running processor process")
    return found


async def metric(base_url: str, name: str) -> float:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def process_alive(pid: int) -> bool:
    """Whether `pid` still exists and is not a zombie left for its parent to reap."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def test_auto_is_a_process_on_postgresql_and_inline_on_sqlite() -> None:
    def mode(url: str) -> ProcessorMode:
        return Settings(_env_file=None, database_url=url).resolved_processor_mode()

    assert mode("postgresql+asyncpg://u@h/db") is ProcessorMode.PROCESS
    assert mode("sqlite+aiosqlite:///x.db") is ProcessorMode.INLINE


def test_a_processor_process_takes_larger_claims_and_two_at_once_on_postgresql() -> None:
    def claims(url: str, mode: ProcessorMode = ProcessorMode.AUTO) -> tuple[int, int | None, int]:
        settings = Settings(_env_file=None, database_url=url, processor_mode=mode)
        return (
            settings.resolved_processor_batch_size(),
            settings.processor_records_per_claim(),
            settings.processor_claims_in_flight(),
        )

    assert claims("postgresql+asyncpg://u@h/db") == (2000, 2000, 2)
    assert claims("postgresql+asyncpg://u@h/db", ProcessorMode.INLINE) == (500, None, 1)
    assert claims("sqlite+aiosqlite:///x.db") == (500, None, 1)


async def test_events_posted_to_the_webhook_become_outcomes_in_the_processor_process(
    database_url: str, tmp_path: Path
) -> None:
    notifications = in_delivery_order(build_calls(60, tag=f"process-{uuid.uuid4().hex[:8]}"))
    ledger = Ledger()
    async with (
        callsift_run(database_url, tmp_path, "service", processor_mode="process") as service,
        database(database_url) as engine,
    ):
        processor = await running_processor(service.base_url)
        assert processor["mode"] == "process"
        assert processor["pid"] != service.process.pid
        await post_with_ledger(service.base_url, notifications, ledger, connections=CONNECTIONS)
        assert len(ledger.acknowledged) == len(notifications)
        await drained(engine)
        outcomes = await outcomes_per_session(engine)

        async def all_counted() -> bool:
            counted = await metric(service.base_url, "callsift_events_processed_total")
            return counted == len(notifications)

        await wait_until(all_counted, timeout_s=30, what="every event counted at /metrics")
        assert await metric(service.base_url, "callsift_processor_lag_seconds_count") > 0

        async def child_loop_probed() -> bool:  # its loop-lag probe reports about once a second
            probed = 'callsift_event_loop_lag_seconds_count{process="processor"}'
            return await metric(service.base_url, probed) > 0

        await wait_until(child_loop_probed, timeout_s=30, what="the processor's loop lag")

        async def rollups_refreshed() -> bool:  # once the calls' quarters stopped changing
            recomputed = "callsift_stats_rollup_quarters_recomputed_total"
            return await metric(service.base_url, recomputed) > 0

        await wait_until(rollups_refreshed, timeout_s=30, what="the child's rollup refresher")
    assert outcomes.keys() == {session_of(n) for n in notifications}
    assert set(outcomes.values()) == {1}


async def test_a_killed_processor_process_is_restarted_and_loses_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    notifications = in_delivery_order(build_calls(300, tag=f"restart-{uuid.uuid4().hex[:8]}"))
    half = len(notifications) // 2
    first, second = Ledger(), Ledger()
    async with (
        callsift_run(postgres_url, tmp_path, "service") as service,
        database(postgres_url) as engine,
    ):
        killed = await running_processor(service.base_url)
        assert killed["mode"] == "process"  # as shipped on PostgreSQL
        await post_with_ledger(
            service.base_url, notifications[:half], first, connections=CONNECTIONS
        )

        async def some_outcomes() -> bool:
            return await count_outcomes(engine) > 0

        await wait_until(some_outcomes, timeout_s=60, what="a first outcome", interval_s=0.01)
        os.kill(killed["pid"], signal.SIGKILL)  # mid-stream, the processor likely mid-claim
        await post_with_ledger(
            service.base_url, notifications[half:], second, connections=CONNECTIONS
        )
        await running_processor(service.base_url, other_than=killed["pid"])
        await drained(engine)
        restarts = await metric(service.base_url, "callsift_processor_restarts_total")
        stored = await stored_uuid_counts(engine)
        outcomes = await outcomes_per_session(engine)
        outcomes_total = await count_outcomes(engine)
    assert len(first.acknowledged) + len(second.acknowledged) == len(notifications)
    assert len(stored) == len(notifications)
    assert set(stored.values()) == {1}
    assert outcomes.keys() == {session_of(n) for n in notifications}
    assert set(outcomes.values()) == {1}
    assert restarts == 1
    assert "processor.process_exited" in service.output()
    report(f"processor process killed and restarted: {outcomes_total} outcomes, none lost")


async def test_a_processor_process_stopped_alone_is_restarted(
    postgres_url: str, tmp_path: Path
) -> None:
    async with callsift_run(postgres_url, tmp_path, "stopped-alone") as service:
        stopped = await running_processor(service.base_url)
        os.kill(stopped["pid"], signal.SIGTERM)
        await running_processor(service.base_url, other_than=stopped["pid"])
        restarts = await metric(service.base_url, "callsift_processor_restarts_total")
    assert restarts == 1
    assert "processor.process_exited" in service.output()


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm-to-both"])
async def test_a_signal_stops_the_service_and_its_processor_process(
    stop: str, postgres_url: str, tmp_path: Path
) -> None:
    """Ctrl-C reaches the service (the child ignores SIGINT); a SIGTERM sent to both at once, as
    systemd or a process-group kill sends it, is a shutdown too: no restart is announced."""
    service = CallsiftProcess(postgres_url, tmp_path, stop)
    try:
        service.start()
        await service.wait_serving()
        processor = await running_processor(service.base_url)
        assert process_alive(processor["pid"])
        if stop == "ctrl-c":
            service.process.send_signal(signal.SIGINT)
        else:
            os.kill(processor["pid"], signal.SIGTERM)
            service.process.send_signal(signal.SIGTERM)
        assert service.process.wait(timeout=30) == 0
    finally:
        service.close()
    assert not process_alive(processor["pid"])
    assert "processor.process_stopped" in service.output()
    assert "processor.process_exited" not in service.output()
