"""Helpers shared by the commands: settings with overrides, time options, usage errors, and
running a command's work against the migrated database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine

from service.db.engine import create_engine
from service.db.errors import is_unavailable, sqlstate_of
from service.db.migrate import upgrade_database
from service.logging import configure_logging
from service.settings import Settings

USAGE_ERROR = 2
INVALID_CATALOG_NAME = "3D000"  # PostgreSQL: the database does not exist
PIPED_WIDTH = 160  # tables written to a pipe or a file are not wrapped to 80 columns

Result = TypeVar("Result")


def table_console() -> Console:
    """Where tables are printed: the terminal's width, or a wide page when not a terminal."""
    return Console() if sys.stdout.isatty() else Console(width=PIPED_WIDTH)


def fail(message: str) -> NoReturn:
    """Report bad input on stderr and exit with status 2."""
    typer.echo(f"callsift: error: {message}", err=True)
    raise typer.Exit(USAGE_ERROR)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command's options (when given) on top."""
    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        fail(f"setting CALLSIFT_{field.upper()}: {message}" if field else message)


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value as aware UTC (a value without a zone is taken as UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be an ISO 8601 time such as 2026-11-29T10:00:00Z, not {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_with_engine(work: Callable[[Settings, AsyncEngine], Awaitable[Result]]) -> Result:
    """Run a command's `work` with the current settings (logging configured) against their
    database, migrated first; the engine is disposed of afterwards."""
    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)

    async def main() -> Result:
        await migrate(settings)
        engine = create_engine(settings)
        try:
            return await work(settings, engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def migrate(settings: Settings) -> None:
    """Bring the database's schema up to date; a database that cannot be reached or opened is a
    usage error (one line saying what to check), not a traceback."""
    try:
        await upgrade_database(settings)
    except Exception as exc:
        problem = database_problem(settings, exc)
        if problem is None:
            raise
        fail(problem)


def database_problem(settings: Settings, error: BaseException) -> str | None:
    """What to tell the user when the database cannot be used at all (None for other errors)."""
    where = describe_database(settings)
    if sqlstate_of(error) == INVALID_CATALOG_NAME:
        return f"the database {where} does not exist: create it or fix CALLSIFT_DATABASE_URL"
    if not is_unavailable(error):
        return None
    reason = str(getattr(error, "orig", None) or error).splitlines()[0]
    if settings.is_sqlite:
        hint = "does its directory exist, and may this user write there?"
    else:
        hint = "is PostgreSQL running there, and are the host, port and credentials right?"
    return f"cannot open the database {where} ({reason}): {hint} (CALLSIFT_DATABASE_URL)"


def describe_database(settings: Settings) -> str:
    if settings.is_sqlite:
        return settings.database_url.split("///", 1)[-1]
    return settings.database_url.split("@", 1)[-1]
