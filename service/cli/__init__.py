"""The `callsift` command line: the composition root that reads settings and starts things."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
import uvicorn

from service.app import create_app
from service.db.engine import create_engine
from service.db.migrate import upgrade
from service.logging import configure_logging
from service.settings import Settings

app = typer.Typer(
    help="callsift: RingCentral call events in, trustworthy call outcomes out.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the command's options (when given) on top."""
    return Settings(**{name: value for name, value in overrides.items() if value is not None})


async def _upgrade(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (callsift run does this too)."""
    settings = Settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    asyncio.run(_upgrade(settings))
    typer.echo(f"database is up to date: {_describe_database(settings)}")


@app.command()
def run(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [default: 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port [default: 8000].")] = None,
) -> None:
    """Run the service: webhook ingest and its workers, on the embedded SQLite default."""
    settings = _settings(host=host, port=port)
    configure_logging(level=settings.log_level, json=settings.log_json)
    asyncio.run(_upgrade(settings))
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


def _describe_database(settings: Settings) -> str:
    if settings.is_sqlite:
        return settings.database_url.split("///", 1)[-1]
    return settings.database_url.split("@", 1)[-1]


def main() -> None:
    app()
