"""The command line as a user runs it: `callsift classify` reproduces every fixture's expected
outcomes, reports bad lines and exits 2 when nothing is readable; `callsift emulator` serves."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from service.cli import app
from service.serving import bind_loopback

ROOT = Path(__file__).parents[2]
SESSIONS = ROOT / "fixtures" / "sessions"
CALLSIFT = str(Path(sys.executable).parent / "callsift")
STORAGE_FIELDS = ("revision", "updated_at")


def _callsift(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [CALLSIFT, *args], input=stdin, capture_output=True, timeout=120, check=False
    )


def _fixture_args(expected: dict[str, Any]) -> list[str]:
    args = ["--now", expected["now"]]
    if expected["call_log"]:
        args += ["--call-log", str(SESSIONS / expected["call_log"])]
    if expected["directory"]:
        args += ["--directory", str(SESSIONS / expected["directory"])]
    if (expected.get("thresholds") or {}).get("hold_hangup_is_abandon"):
        args.append("--hold-hangup-is-abandon")
    return args


def _without_storage_fields(outcome: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in outcome.items() if key not in STORAGE_FIELDS}


EXPECTED = sorted(SESSIONS.glob("*.expected.json"))


@pytest.mark.parametrize("path", EXPECTED, ids=lambda p: p.name.removesuffix(".expected.json"))
def test_classify_prints_the_fixture_s_expected_outcomes(path: Path) -> None:
    """In process (Typer's runner) for speed; the subprocess tests below cover the real exit."""
    expected = orjson.loads(path.read_bytes())
    events = SESSIONS / path.name.replace(".expected.json", ".jsonl")

    result = CliRunner().invoke(app, ["classify", str(events), *_fixture_args(expected)])

    assert result.exit_code == 0, result.output
    printed = [orjson.loads(line) for line in result.stdout_bytes.splitlines()]
    wanted = sorted(
        expected["outcomes"], key=lambda o: (o["started_at"], o["telephony_session_id"])
    )
    assert [_without_storage_fields(o) for o in printed] == [
        _without_storage_fields(o) for o in wanted
    ]
    assert all(o["revision"] == 1 for o in printed)


def test_classify_reads_stdin_reports_bad_lines_and_keeps_the_good_ones() -> None:
    lines = (SESSIONS / "abandoned-ringing-account.jsonl").read_bytes().splitlines()
    mixed = b"\n".join([lines[0], b"not json", b'{"no": "envelope"}', *lines[1:]]) + b"\n"
    result = _callsift("classify", "-", "--now", "2026-12-01T00:00:00Z", stdin=mixed)
    assert result.returncode == 0
    [outcome] = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert outcome["category"] == "abandoned_ringing"
    errors = result.stderr.decode().splitlines()
    assert errors[0].startswith("-:2: skipped:")
    assert errors[1].startswith("-:3: skipped:")


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (["classify", "-"], b"garbage\n{\n"),
        (["classify", "/nonexistent/file.jsonl"], None),
        (["classify", "-", "--now", "yesterday"], b""),
        (["classify", "-", "--call-log", "/nonexistent/log.json"], b""),
        (["classify"], None),
    ],
)
def test_classify_exits_2_on_unusable_input(args: list[str], stdin: bytes | None) -> None:
    result = _callsift(*args, stdin=stdin)
    assert result.returncode == 2
    assert b"error" in result.stderr


def test_classify_settles_calls_from_the_call_log_alone() -> None:
    """No notification file: every call comes from its call-log records (the webhooks of these
    calls were lost)."""
    expected = orjson.loads((SESSIONS / "calllog-only-results.expected.json").read_bytes())
    result = _callsift(
        "classify", "--call-log", str(SESSIONS / expected["call_log"]), *_fixture_args(expected)
    )
    assert result.returncode == 0, result.stderr
    printed = {
        outcome["telephony_session_id"]: outcome
        for outcome in map(orjson.loads, result.stdout.splitlines())
    }
    assert len(printed) == len(expected["outcomes"]) >= 25
    for outcome in expected["outcomes"]:
        got = printed[outcome["telephony_session_id"]]
        assert (got["category"], got["reason"]) == (outcome["category"], outcome["reason"])
        assert got["reconciliation"] == "call_log_only"


def test_the_emulator_command_serves_the_platform_until_terminated(tmp_path: Path) -> None:
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    log_path = tmp_path / "emulator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CALLSIFT, "emulator", "--port", str(port), "--seed", "3", "--demo"],
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            state = _wait_for_json(f"http://127.0.0.1:{port}/_emulator/state", process)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    assert state["seed"] == 3
    assert state["accounts"] == 1
    assert state["apps"] == 1
    assert b"Traceback" not in log_path.read_bytes()


def _wait_for_json(url: str, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None
        try:
            response = httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        body: dict[str, Any] = response.json()
        return body
    raise AssertionError(f"{url} did not answer")
