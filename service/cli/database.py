"""`callsift db ...`: database maintenance."""

from __future__ import annotations

import asyncio

import typer

from service.cli.common import describe_database, load_settings, migrate
from service.logging import configure_logging

app = typer.Typer(help="Database commands.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (callsift run does this too)."""
    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    asyncio.run(migrate(settings))
    typer.echo(f"database is up to date: {describe_database(settings)}")
