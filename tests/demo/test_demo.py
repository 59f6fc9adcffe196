"""The demo, end to end: `callsift demo` classifies every simulated call correctly on both
databases, and `callsift run` without a RingCentral app fills the dashboard poll in demo mode and
stops cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.demo.finite import run_demo
from service.serving import bind_loopback
from service.settings import Settings

CALLSIFT = str(Path(sys.executable).parent / "callsift")
DASHBOARD_KEY = re.compile(r"dashboard#key=(csk_[A-Za-z0-9_-]+)")


async def test_two_hundred_calls_with_chaos_are_all_classified_correctly(
    database_url: str,
) -> None:
    settings = Settings(_env_file=None, database_url=database_url, log_level="warning")
    report = await run_demo(
        settings, calls=200, extensions=4, seed=5, chaos=True, database_label="test", timeout_s=240
    )
    assert report.mismatches == []
    assert report.classified == report.sessions >= 200
    assert report.accuracy == 1.0
    assert report.ok
    assert report.abandoned > 0
    assert report.events > report.sessions
    # nothing was lost: the call log and the events agree on every call that has a record
    assert report.call_log_records > 0
    assert report.corrected == report.from_call_log_alone == 0
    assert set(report.reconciliation) <= {"agreed", "events_only"}
    assert report.reconciliation["agreed"] >= report.sessions - 5


async def test_with_thirty_percent_of_the_webhooks_lost_one_sync_gives_every_true_outcome(
    database_url: str,
) -> None:
    settings = Settings(_env_file=None, database_url=database_url, log_level="warning")
    report = await run_demo(
        settings,
        calls=200,
        extensions=4,
        seed=8,
        chaos=True,
        lose_webhooks=0.3,
        database_label="test",
        timeout_s=240,
    )
    assert report.mismatches == []
    assert report.accuracy == 1.0
    assert report.webhooks_lost >= 15
    assert report.starts_lost >= 15
    assert report.from_call_log_alone >= report.webhooks_lost  # each lost call, its sessions
    assert report.corrected > 0  # lost first events had made some calls look abandoned


def test_the_demo_command_prints_its_table_and_exits_0(tmp_path: Path) -> None:
    result = subprocess.run(
        [CALLSIFT, "demo", "--calls", "40", "--seed", "9", "--chaos"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "accuracy vs ground truth" in result.stdout
    assert "100.0%" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture
def demo_service(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """`callsift run` with no RingCentral app configured, on a free port, in an empty folder;
    its stdout goes to out.txt, its log (stderr) to run.log."""
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    with (tmp_path / "out.txt").open("w") as out, (tmp_path / "run.log").open("w") as log:
        process = subprocess.Popen(
            [CALLSIFT, "run", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=log,
            text=True,
        )
        try:
            yield process, f"http://127.0.0.1:{port}", tmp_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


async def test_make_run_demo_mode_fills_the_dashboard_and_stops_cleanly(
    demo_service: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, base_url, folder = demo_service
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        key = await _dashboard_key(folder / "out.txt", process)
        ready = (await client.get("/readyz")).json()
        assert ready["mode"] == "demo"
        abandoned = await _poll_until_abandoned(client, key)
        page = await client.get("/dashboard")
        callbacks = await client.get(
            "/v1/abandoned",
            params={"unrecovered": "true"},
            headers={"Authorization": f"Bearer {key}"},
        )
    assert abandoned
    assert page.status_code == 200
    assert callbacks.status_code == 200
    assert callbacks.json()["recovery"]["abandoned"] >= 1  # abandoned callers with a number

    process.send_signal(signal.SIGINT)  # Ctrl-C
    assert process.wait(timeout=60) == 0
    banner = await asyncio.to_thread((folder / "out.txt").read_text)
    log = await asyncio.to_thread((folder / "run.log").read_text)
    assert f"API key     {key}" in banner
    assert f"{base_url}/docs" in banner
    assert "Traceback" not in log
    assert "DEMO MODE" in log
    assert "demo.ready" in log
    assert key not in log  # the key is in the banner only
    # the service's own server lines, once each (the embedded emulator's are not mistaken for
    # them, nor do they silence them)
    assert log.count("Started server process") == 1
    assert log.count("Application shutdown complete") == 1


async def _dashboard_key(log_path: Path, process: subprocess.Popen[str]) -> str:
    async with asyncio.timeout(90):
        while True:
            output = await asyncio.to_thread(log_path.read_text)
            assert process.poll() is None, output
            found = DASHBOARD_KEY.search(output)
            if found:
                return found.group(1)
            await asyncio.sleep(0.2)


async def _poll_until_abandoned(client: httpx.AsyncClient, key: str) -> list[object]:
    """Poll /v1/abandoned as the dashboard does until abandoned calls appear."""
    headers = {"Authorization": f"Bearer {key}"}
    async with asyncio.timeout(90):
        while True:
            response = await client.get("/v1/abandoned", headers=headers)
            assert response.status_code == 200, response.text
            changes: list[object] = response.json()["changes"]
            if changes:
                return changes
            await asyncio.sleep(0.5)


async def test_a_run_that_cannot_finish_says_how_far_it_got(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}")
    with pytest.raises(TimeoutError) as raised:
        await run_demo(
            settings,
            calls=20,
            extensions=2,
            seed=3,
            chaos=False,
            database_label="sqlite",
            timeout_s=0.001,
        )
    message = str(raised.value)
    assert message.startswith("no result after 0 s, the emulator was delivering the calls")
    assert "calls have a final outcome" in message
    assert "the emulator's notification deliveries" in message


async def test_a_run_whose_outcomes_never_come_says_what_is_missing(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        processor_enabled=False,
    )
    with pytest.raises(TimeoutError) as raised:
        await run_demo(
            settings,
            calls=3,
            extensions=2,
            seed=3,
            chaos=False,
            database_label="sqlite",
            timeout_s=8,
        )
    message = str(raised.value)
    found = re.search(
        r"waiting for the outcomes of the delivered webhooks: 0 of (\d+) calls have a final "
        r"outcome; (\d+) events stored, "
        r"(\d+) of them not yet processed; the emulator's notification deliveries: "
        r"\{'delivered': (\d+)\}",
        message,
    )
    assert found is not None, message
    sessions, stored, pending, delivered = (int(group) for group in found.groups())
    assert sessions >= 3
    assert stored == pending == delivered > sessions
