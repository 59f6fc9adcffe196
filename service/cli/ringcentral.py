"""`callsift extensions ...`, `callsift subscriptions sync` and `callsift secrets rotate`."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from service.calllog import queries as calllog_queries
from service.calllog.queries import SyncOverview
from service.cli.common import fail, run_with_engine, table_console
from service.processing.worker import utc_now
from service.ringcentral import queries
from service.ringcentral.loop import SubscriptionLoop
from service.ringcentral.registry import (
    RegistrationError,
    Removed,
    add_extension,
    remove_extension,
    rotate_secrets,
)
from service.ringcentral.runtime import (
    NotConfigured,
    RingCentralRuntime,
    build_runtime,
    policy,
    secret_box,
)
from service.secrets import SecretsUnavailable
from service.settings import Settings
from subscriptions.errors import RingCentralError
from subscriptions.lifecycle import Mode, SyncResult

extensions_app = typer.Typer(
    help="Monitored extensions and their JWT credentials.", no_args_is_help=True
)
subscriptions_app = typer.Typer(help="Webhook subscriptions at RingCentral.", no_args_is_help=True)
secrets_app = typer.Typer(help="Encryption keys of stored credentials.", no_args_is_help=True)

Result = TypeVar("Result")
Work = Callable[[Settings, AsyncEngine, RingCentralRuntime], Awaitable[Result]]


def run_with_ringcentral(work: Work[Result]) -> Result:
    """Run `work` with the database migrated and the RingCentral side assembled."""

    async def with_runtime(settings: Settings, engine: AsyncEngine) -> Result:
        runtime = build_runtime(settings, engine, clock=utc_now)
        try:
            return await work(settings, engine, runtime)
        finally:
            await runtime.aclose()

    try:
        return run_with_engine(with_runtime)
    except (NotConfigured, SecretsUnavailable, RegistrationError) as exc:
        fail(str(exc))
    except RingCentralError as exc:
        typer.echo(f"callsift: RingCentral refused: {exc}", err=True)
        raise typer.Exit(1) from exc


def _read_jwt(jwt_file: Path | None, jwt: str | None) -> str:
    if jwt is not None and jwt != "-":
        fail("--jwt only takes '-' (stdin): a JWT typed on the command line lands in shell history")
    if (jwt_file is None) == (jwt is None):
        fail("give the credential with exactly one of --jwt-file FILE or --jwt - (stdin)")
    try:
        text = sys.stdin.read() if jwt_file is None else jwt_file.read_text()
    except OSError as exc:
        fail(f"--jwt-file: cannot read {jwt_file}: {exc.strerror}")
    credential = text.strip()
    if credential.count(".") != 2:
        fail("the credential does not look like a JWT (three dot-separated parts)")
    return credential


@extensions_app.command("add")
def extensions_add(
    jwt_file: Annotated[
        Path | None, typer.Option("--jwt-file", help="File holding the JWT credential.")
    ] = None,
    jwt: Annotated[
        str | None, typer.Option("--jwt", help="'-' reads the JWT credential from stdin.")
    ] = None,
    account_level: Annotated[
        bool, typer.Option(help="An admin JWT watched with one account-level subscription.")
    ] = False,
) -> None:
    """Register an extension with its JWT credential (stored encrypted)."""
    credential = _read_jwt(jwt_file, jwt)
    mode = Mode.ACCOUNT if account_level else Mode.EXTENSION

    async def work(_: Settings, engine: AsyncEngine, runtime: RingCentralRuntime) -> str:
        registered = await add_extension(engine, runtime, jwt=credential, mode=mode)
        verb = "updated" if registered.replaced else "added"
        return f"{verb} extension {registered.extension_id} ({mode.value}-level subscription)"

    typer.echo(run_with_ringcentral(work))


@extensions_app.command("list")
def extensions_list() -> None:
    """Show monitored extensions with their credential, subscription and call-log health."""

    async def read(
        _: Settings, engine: AsyncEngine
    ) -> tuple[list[queries.ExtensionHealth], dict[str, SyncOverview]]:
        async with engine.connect() as connection:
            health = await queries.extension_overview(connection)
            syncs = await calllog_queries.sync_overview(connection)
            return health, syncs

    table = Table(
        "extension", "name", "mode", "credential", "subscription", "status", "expires",
        "last event", "call log read to", "call-log records", "last error",
    )  # fmt: skip
    rows, syncs = run_with_engine(read)
    for row in rows:
        sync = syncs.get(row.extension_id)
        errors = [row.last_error, row.status_reason, sync.last_error if sync else None]
        table.add_row(
            row.extension_id,
            row.name or "",
            row.mode,
            row.status,
            row.subscription_id or "",
            row.subscription_status or "",
            when(row.expires_at),
            when(row.last_event_at),
            when(sync.synced_through) if sync and sync.synced_through else "not yet",
            str(sync.records_stored) if sync else "",
            next((error for error in errors if error), "")[:60],
        )
    table_console().print(table)


@extensions_app.command("remove")
def extensions_remove(extension_id: Annotated[str, typer.Argument(help="Extension id.")]) -> None:
    """Delete the extension's subscription at RingCentral, revoke its session and forget it."""

    async def work(
        settings: Settings, engine: AsyncEngine, runtime: RingCentralRuntime
    ) -> Removed | None:
        keeper = runtime.keeper(engine, policy(settings))
        return await remove_extension(engine, keeper, extension_id)

    removed = run_with_ringcentral(work)
    if removed is None:
        fail(f"extension {extension_id} is not registered")
    typer.echo(f"removed extension {extension_id}")
    if removed.remote_error:
        typer.echo(
            f"warning: RingCentral clean-up failed ({removed.remote_error}); its subscription "
            "expires on its own and its deliveries are refused meanwhile",
            err=True,
        )


@subscriptions_app.command("sync")
def subscriptions_sync() -> None:
    """Run one create/renew pass now and show what it did."""

    async def work(
        settings: Settings, engine: AsyncEngine, runtime: RingCentralRuntime
    ) -> list[SyncResult]:
        loop = SubscriptionLoop(
            engine,
            runtime,
            policy=policy(settings),
            interval_s=settings.subscription_loop_interval_s,
            directory_refresh=timedelta(seconds=settings.directory_refresh_s),
            clock=utc_now,
        )
        return await loop.run_pass()

    results = run_with_ringcentral(work)
    table = Table("extension", "action", "subscription", "expires", "detail")
    for result in results:
        table.add_row(
            result.extension_id,
            result.action.value,
            result.subscription_id or "",
            when(result.expires_at),
            result.detail[:80],
        )
    table_console().print(table if results else "nothing was due")


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every stored credential and token with the first key of CALLSIFT_SECRET_KEYS."""
    try:
        count = run_with_engine(
            lambda settings, engine: rotate_secrets(engine, secret_box(settings))
        )
    except SecretsUnavailable as exc:
        fail(str(exc))
    typer.echo(f"re-encrypted {count} secrets with the newest key")


def when(moment: datetime | None) -> str:
    """A time as the tables show it (UTC, to the minute), or nothing."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
