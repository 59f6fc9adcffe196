"""Helpers shared by the commands: settings with overrides, time options, usage errors."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from service.db.migrate import upgrade_database
from service.settings import Settings

USAGE_ERROR = 2
PIPED_WIDTH = 160  # tables written to a pipe or a file are not wrapped to 80 columns


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
        fail(f"setting {field}: {first['msg']}")


def parse_time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 option value as aware UTC (a value without a zone is taken as UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option} must be an ISO 8601 time such as 2026-11-29T10:00:00Z, not {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def migrate(settings: Settings) -> None:
    await upgrade_database(settings)


def describe_database(settings: Settings) -> str:
    if settings.is_sqlite:
        return settings.database_url.split("///", 1)[-1]
    return settings.database_url.split("@", 1)[-1]
