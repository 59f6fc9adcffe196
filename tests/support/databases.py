"""Real databases for tests: a migrated SQLite file per test, and a PostgreSQL database per test
session (truncated between tests).

PostgreSQL must be reachable: a test that needs it fails (it is never skipped) when it is not.
The server comes from CALLSIFT_TEST_POSTGRES_URL (default: the local trust-auth server).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.db.tables import metadata
from service.settings import Settings

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("CALLSIFT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


async def _migrate(url: str) -> None:
    engine = create_engine(Settings(database_url=url))
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresTestDatabase:
    """A throwaway database on the PostgreSQL server, created and migrated once per session."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"callsift_test_{uuid.uuid4().hex[:12]}"
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> None:
        asyncio.run(self._create())

    async def _create(self) -> None:
        try:
            admin = await asyncpg.connect(_asyncpg_dsn(self.admin_url), timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            msg = (
                f"PostgreSQL is not reachable at {make_url(self.admin_url).host}:"
                f"{make_url(self.admin_url).port} ({exc!r}). The tests need it: start it "
                "(pg_ctlcluster 15 main start) or set CALLSIFT_TEST_POSTGRES_URL."
            )
            raise RuntimeError(msg) from exc
        try:
            await admin.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await admin.close()
        await _migrate(self.url)

    def truncate(self) -> None:
        asyncio.run(self._truncate())

    async def _truncate(self) -> None:
        engine = create_engine(Settings(database_url=self.url))
        tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        try:
            async with engine.begin() as connection:
                await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                await connection.execute(text("INSERT INTO outcome_changes VALUES (1, 0)"))
        finally:
            await engine.dispose()

    def drop(self) -> None:
        asyncio.run(self._drop())

    async def _drop(self) -> None:
        admin = await asyncpg.connect(_asyncpg_dsn(self.admin_url), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            await admin.close()


class SqliteTemplate:
    """A migrated SQLite file copied for each test (faster than migrating each time)."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{self.path}"))

    def fresh_copy(self, directory: Path) -> str:
        target = directory / "callsift.db"
        shutil.copyfile(self.path, target)
        return f"sqlite+aiosqlite:///{target}"
