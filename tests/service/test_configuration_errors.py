"""`callsift run` with a configuration or an environment it cannot work with: one line on stderr
saying what is wrong and what to do, exit code 2, no traceback; `--version`; and one log pipeline
(with JSON logs, uvicorn's lines are JSON too)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from service.serving import bind_loopback

CALLSIFT = str(Path(sys.executable).parent / "callsift")
INGEST_ONLY = {"CALLSIFT_DEMO": "off", "CALLSIFT_WEBHOOK_VERIFICATION_TOKEN": "t"}


def run(tmp_path: Path, port: int, **settings: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    environment["CALLSIFT_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'callsift.db'}"
    environment |= settings
    return subprocess.run(
        [CALLSIFT, "run", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({**INGEST_ONLY, "CALLSIFT_DATABASE_URL": "mysql://x"}, "mysql is not supported"),
        ({**INGEST_ONLY, "CALLSIFT_DATABASE_URL": "not a url"}, "not a database URL"),
        (
            {**INGEST_ONLY, "CALLSIFT_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/x"},
            "is PostgreSQL running there",
        ),
        (
            {**INGEST_ONLY, "CALLSIFT_DATABASE_URL": "sqlite+aiosqlite:////no/such/dir/c.db"},
            "does its directory exist",
        ),
        ({**INGEST_ONLY, "CALLSIFT_LOG_LEVEL": "loud"}, "CALLSIFT_LOG_LEVEL"),
        ({"CALLSIFT_ENV": "production", "CALLSIFT_DEMO": "off"}, "nothing to receive"),
        (
            {
                "CALLSIFT_ENV": "production",
                "CALLSIFT_RC_CLIENT_ID": "app",
                "CALLSIFT_RC_CLIENT_SECRET": "secret",
            },
            "CALLSIFT_SECRET_KEYS must be set in production",
        ),
    ],
)
def test_a_configuration_error_is_one_line_and_exit_2(
    tmp_path: Path, settings: dict[str, str], says: str
) -> None:
    with bind_loopback() as probe:
        port = probe.getsockname()[1]  # free once closed
    result = run(tmp_path, port, **settings)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("callsift: error: ")
    assert says in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_postgresql_database_is_named(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/callsift_no_such_database"
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    result = run(tmp_path, port, **INGEST_ONLY, CALLSIFT_DATABASE_URL=url)
    assert result.returncode == 2, result.stderr
    assert "callsift_no_such_database does not exist" in result.stderr


def test_a_port_in_use_says_so(tmp_path: Path) -> None:
    with bind_loopback() as taken:
        taken.listen()
        result = run(tmp_path, taken.getsockname()[1], **INGEST_ONLY)
    assert result.returncode == 2, result.stderr
    assert "Address already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = subprocess.run(
        [CALLSIFT, "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("callsift 0.1.0 (classification rules ")


def _run_until_started(
    tmp_path: Path, **settings: str
) -> tuple[subprocess.Popen[str], int, list[str]]:
    """`callsift run` (ingest only) up to uvicorn's own "startup complete" line."""
    with bind_loopback() as probe:
        port = probe.getsockname()[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    environment |= {
        **INGEST_ONLY,
        "CALLSIFT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'callsift.db'}",
        **settings,
    }
    process = subprocess.Popen(
        [CALLSIFT, "run", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "startup complete" in line:
            break
    return process, port, lines


def test_with_json_logs_every_line_is_json_and_names_the_address(tmp_path: Path) -> None:
    """uvicorn's lines go through the same pipeline as ours."""
    process, port, lines = _run_until_started(tmp_path, CALLSIFT_LOG_JSON="true")
    try:
        process.send_signal(signal.SIGTERM)
        out, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    records = [json.loads(line) for line in [*lines, *rest.splitlines()] if line.strip()]
    assert process.returncode == 0
    assert {"event": "service.listening", "url": f"http://127.0.0.1:{port}"}.items() <= (
        next(r for r in records if r["event"] == "service.listening").items()
    )
    assert any(r.get("logger") == "uvicorn.error" for r in records)
    assert out == ""


def test_ctrl_c_shuts_down_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    process, _, _ = _run_until_started(tmp_path)
    try:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, rest
    assert "Traceback" not in rest
    assert "Application shutdown complete" in rest
