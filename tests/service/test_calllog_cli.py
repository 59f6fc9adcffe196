"""`callsift calllog sync` as a user runs it: the emulator in its own process, the credential
added with `callsift extensions add`, calls whose webhooks never arrived (no subscription), then
one sync gives each its outcome from the call log; bad options exit 2."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from service.serving import bind_loopback

CALLSIFT = str(Path(sys.executable).parent / "callsift")
CLIENT_ID = "cli-test-client"
CLIENT_SECRET = "cli-test-secret"  # the emulator's test app, not a real one


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the emulator exited"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} never answered")


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[str]:
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [CALLSIFT, "emulator", "--port", str(port), "--seed", "5"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/_emulator/state", process)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def _callsift(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CALLSIFT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def _admin(base: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{base}/_emulator{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def test_a_sync_gives_calls_whose_webhooks_never_came_their_outcome(
    emulator: str, tmp_path: Path
) -> None:
    _admin(emulator, "/apps", {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET})
    account = _admin(emulator, "/accounts", {"demo": True, "name": "CLI Company"})
    admin = next(e for e in account["extensions"] if e["kind"] == "User")
    jwt = _admin(emulator, "/jwt", {"extensionId": admin["id"], "clientId": CLIENT_ID})["jwt"]
    database = tmp_path / "callsift.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    env |= {
        "CALLSIFT_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "CALLSIFT_RC_SERVER": emulator,
        "CALLSIFT_RC_CLIENT_ID": CLIENT_ID,
        "CALLSIFT_RC_CLIENT_SECRET": CLIENT_SECRET,
        "CALLSIFT_SECRET_KEYS": Fernet.generate_key().decode(),
        "CALLSIFT_LOG_LEVEL": "warning",
    }
    added = _callsift(env, "extensions", "add", "--jwt", "-", "--account-level", stdin=jwt)
    assert added.returncode == 0, added.stderr
    # no subscription exists: every notification of these calls is lost, as in an outage
    play = _admin(emulator, "/scenarios/play", {"count": 25, "seed": 2})
    _admin(emulator, "/clock/advance", {"seconds": 30})  # the records are final

    synced = _callsift(env, "calllog", "sync")

    assert synced.returncode == 0, synced.stderr
    assert admin["id"] in synced.stdout
    summary = re.search(r"(\d+) outcomes updated, (\d+) corrected by the call log", synced.stdout)
    assert summary is not None, synced.stdout
    with sqlite3.connect(database) as connection:
        rows = connection.execute(
            "SELECT telephony_session_id, reconciliation FROM call_outcomes"
        ).fetchall()
        records = connection.execute("SELECT count(*) FROM call_log_records").fetchone()[0]
    states = dict(rows)
    main_sessions = {call["telephonySessionId"] for call in play["callList"]}
    assert len(main_sessions) == 25
    assert records >= 25
    assert main_sessions <= set(states)  # every call has its outcome
    assert set(states.values()) == {"call_log_only"}
    # every outcome is new and none had events for the call log to correct
    assert (int(summary[1]), int(summary[2])) == (len(states), 0)

    listed = _callsift(env, "extensions", "list")
    assert listed.returncode == 0, listed.stderr
    assert "call log read to" in listed.stdout
    assert "not yet" not in listed.stdout

    again = _callsift(env, "calllog", "sync")
    assert again.returncode == 0, again.stderr
    assert "0 outcomes updated" in again.stdout  # a re-read stores and changes nothing


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["calllog", "sync", "--since", "yesterday"], "ISO 8601"),
        (["calllog", "sync", "--since", "2999-01-01T00:00:00Z"], "future"),
        (["calllog", "sync", "--extension", "999"], "not registered"),
    ],
)
def test_bad_options_exit_2_with_a_message(
    emulator: str, tmp_path: Path, args: list[str], message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    env |= {
        "CALLSIFT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'callsift.db'}",
        "CALLSIFT_RC_SERVER": emulator,
        "CALLSIFT_RC_CLIENT_ID": CLIENT_ID,
        "CALLSIFT_RC_CLIENT_SECRET": CLIENT_SECRET,
    }
    result = _callsift(env, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
