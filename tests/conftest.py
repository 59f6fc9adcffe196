"""Shared fixtures: both databases, and the service running on a real loopback socket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from service.app import create_app, with_fast_paths
from service.serving import RunningServer, serve
from service.settings import Settings
from tests.support.databases import PostgresTestDatabase, SqliteTemplate, postgres_admin_url

WEBHOOK_TOKEN = "test-verification-token-5b0e2c"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresTestDatabase]:
    database = PostgresTestDatabase(postgres_admin_url())
    database.create()
    yield database
    database.drop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        template: SqliteTemplate = request.getfixturevalue("sqlite_template")
        return template.fresh_copy(tmp_path)
    database: PostgresTestDatabase = request.getfixturevalue("postgres_database")
    database.truncate()
    return database.url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        webhook_verification_token=SecretStr(WEBHOOK_TOKEN),
    )


@dataclass(frozen=True, slots=True)
class LiveService:
    app: FastAPI
    server: RunningServer
    client: httpx.AsyncClient

    @property
    def webhook_url(self) -> str:
        return f"{self.server.base_url}/webhooks/ringcentral"


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[LiveService]:
    app = create_app(settings)
    # served as `callsift run` serves it, fast paths included
    served = with_fast_paths(app)
    async with serve(served) as server, httpx.AsyncClient(base_url=server.base_url) as client:
        yield LiveService(app, server, client)
