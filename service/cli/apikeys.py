"""`callsift api-keys create|list|revoke`: bearer keys of the query API (/v1).

A key is printed once, by `create`; only its SHA-256 is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from service.apikeys import queries
from service.apikeys.keys import NewKey, generate_key
from service.apikeys.queries import StoredKey
from service.cli.common import fail, run_with_engine, table_console
from service.processing.worker import utc_now

app = typer.Typer(help="API keys of the query API (/v1).", no_args_is_help=True)

Result = TypeVar("Result")


def _with_engine(work: Callable[[AsyncEngine], Awaitable[Result]]) -> Result:
    """Run `work` against the migrated database of the current settings."""
    return run_with_engine(lambda _settings, engine: work(engine))


async def create_key(engine: AsyncEngine, name: str) -> tuple[int, NewKey]:
    key = generate_key()
    async with engine.begin() as connection:
        key_id = await queries.insert_key(connection, name=name, key=key, now=utc_now())
    return key_id, key


async def list_keys(engine: AsyncEngine) -> list[StoredKey]:
    async with engine.connect() as connection:
        return await queries.list_keys(connection)


async def revoke_key(engine: AsyncEngine, key_id: int) -> bool:
    async with engine.begin() as connection:
        return await queries.revoke_key(connection, key_id, utc_now())


@app.command("create")
def create(
    name: Annotated[
        str, typer.Option("--name", help="Who or what uses the key, e.g. 'wallboard'.")
    ],
) -> None:
    """Create a key and print it once (it cannot be shown again)."""
    label = name.strip()
    if not label or len(label) > 100:
        fail("--name must be 1 to 100 characters")
    key_id, key = _with_engine(lambda engine: create_key(engine, label))
    typer.echo(key.secret)
    typer.echo(
        f"created API key {key_id} ({label!r}, {key.prefix}...): store it now, "
        "it is not shown again",
        err=True,
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ") if moment else "-"


@app.command("list")
def list_() -> None:
    """List keys (never the keys themselves: id, name, prefix and dates)."""
    keys = _with_engine(list_keys)
    table = Table("id", "name", "prefix", "created", "last used", "revoked")
    for key in keys:
        table.add_row(
            str(key.id),
            key.name,
            key.prefix + "...",
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
    table_console().print(table)


@app.command("revoke")
def revoke(key_id: Annotated[int, typer.Argument(help="The key's id (see `list`).")]) -> None:
    """Revoke a key: requests with it get 401 (within `api_key_cache_s` on running services)."""
    if not _with_engine(lambda engine: revoke_key(engine, key_id)):
        fail(f"no active API key with id {key_id}")
    typer.echo(f"revoked API key {key_id}")
