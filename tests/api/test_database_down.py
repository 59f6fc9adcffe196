"""With the database down, every /v1 route answers 503 with Retry-After and logs one line (no
traceback), on an unreachable PostgreSQL and a SQLite file that cannot be opened."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from service.app import create_app, with_fast_paths
from service.serving import serve
from service.settings import Settings
from tests.conftest import WEBHOOK_TOKEN


@pytest.mark.parametrize(
    "unreachable_url",
    [
        pytest.param("postgresql+asyncpg://postgres@127.0.0.1:1/stopped", id="postgresql"),
        pytest.param("sqlite+aiosqlite:///{tmp}/missing-directory/callsift.db", id="sqlite"),
    ],
)
async def test_every_v1_route_answers_503_with_retry_after(
    tmp_path: Path, unreachable_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=unreachable_url.format(tmp=tmp_path),
        webhook_verification_token=SecretStr(WEBHOOK_TOKEN),
        db_connect_timeout_s=1,
        processor_enabled=False,
        subscription_loop_enabled=False,
        calllog_sync_enabled=False,
    )
    headers = {"Authorization": "Bearer csk_some-key-the-database-would-check"}
    async with (
        serve(with_fast_paths(create_app(settings))) as server,
        httpx.AsyncClient(base_url=server.base_url, headers=headers) as client,
    ):
        schema = (await client.get("/openapi.json")).json()
        paths = [
            path.replace("{telephony_session_id}", "s-1")
            for path, item in schema["paths"].items()
            if path.startswith("/v1/") and "get" in item
        ]
        assert len(paths) >= 7
        caplog.clear()
        with capture_logs() as logs, caplog.at_level(logging.WARNING):
            responses = {path: await client.get(path) for path in paths}

    for path, response in responses.items():
        assert response.status_code == 503, (path, response.text)
        assert response.headers["retry-after"] == "5", path
        assert response.json()["error"]["code"] == "database_unavailable", path
    lines = [entry for entry in logs if entry["event"] == "request.database_unavailable"]
    assert sorted(entry["path"] for entry in lines) == sorted(paths)  # one line per request
    assert all("exc_info" not in entry for entry in logs)
    assert not [record for record in caplog.records if record.exc_info]  # no traceback
