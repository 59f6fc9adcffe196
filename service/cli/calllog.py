"""`callsift calllog sync`: read the call log of every credential (or one) now, store what is new,
and take it into the outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from service.calllog.loop import CallLogLoop, ExpectationCache
from service.cli.common import fail, parse_time, table_console
from service.cli.ringcentral import run_with_ringcentral, when
from service.metrics import Metrics
from service.processing.worker import Drained, ProcessorWorker, utc_now
from service.ringcentral import queries
from service.ringcentral.directory import DirectoryCache
from service.ringcentral.runtime import RingCentralRuntime
from service.settings import Settings
from subscriptions.calllog import CallLogSyncReport, PageProgress

app = typer.Typer(help="RingCentral's call log: the record of every call.", no_args_is_help=True)

PROCESS_CLAIM_SIZE = 1000


@app.command("sync")
def sync(
    since: Annotated[
        str | None,
        typer.Option(
            help="Read from this time (ISO 8601) instead of from where each sync stands; a "
            "read that leaves a gap before the cursor does not move it."
        ),
    ] = None,
    extension: Annotated[
        str | None, typer.Option("--extension", help="Only this extension's credential.")
    ] = None,
) -> None:
    """Read the call log now (every credential, or one), then update the outcomes it touches."""
    start = parse_time(since, "--since")
    if start is not None and start > utc_now():
        fail("--since is in the future")
    console = Console(stderr=True)

    async def work(
        settings: Settings, engine: AsyncEngine, runtime: RingCentralRuntime
    ) -> tuple[list[CallLogSyncReport], Drained]:
        async with engine.connect() as connection:
            known = [row.extension_id for row in await queries.extension_overview(connection)]
        if extension is not None and extension not in known:
            fail(f"extension {extension} is not registered (see callsift extensions list)")
        wanted = [extension] if extension is not None else known
        loop = CallLogLoop.of_settings(settings, engine, runtime, clock=utc_now)
        with _progress(console) as on_page:
            reports = await loop.run_pass(extension_ids=wanted, since=start, on_page=on_page)
        return reports, await _process(settings, engine)

    reports, drained = run_with_ringcentral(work)
    table = Table("extension", "pages", "records read", "new", "changed", "read to", "result")
    for report in reports:
        table.add_row(
            report.extension_id,
            str(report.pages),
            str(report.records),
            str(report.new),
            str(report.changed),
            when(report.synced_through),
            "credential invalid" if report.credential_invalid else (report.error or "ok")[:60],
        )
    out = table_console()
    out.print(table if reports else "no credential to sync (or another process holds them)")
    out.print(
        f"{drained.changed} outcomes updated, {drained.corrections} corrected by the call log"
    )
    if drained.set_aside:
        out.print(f"{drained.set_aside} events or records set aside (see the log)")
    if any(report.error for report in reports):
        raise typer.Exit(1)


class _progress:
    """A spinner line per credential, counting pages and records as they are stored."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> Callable[[PageProgress], None]:
        self._progress.start()
        return self._on_page

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def _on_page(self, page: PageProgress) -> None:
        task = self._tasks.get(page.extension_id)
        if task is None:
            task = self._tasks[page.extension_id] = self._progress.add_task(
                f"extension {page.extension_id}", detail=""
            )
        detail = f"{page.records} records, {page.pages} pages, up to {_short(page.window_end)}"
        self._progress.update(task, detail=detail)


def _short(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


async def _process(settings: Settings, engine: AsyncEngine) -> Drained:
    """Take what was stored into the outcomes, as a running service's processor would."""
    worker = ProcessorWorker(
        engine,
        thresholds=settings.thresholds(),
        metrics=Metrics(),
        claim_size=PROCESS_CLAIM_SIZE,
        directory=DirectoryCache(engine).current,
        call_log=ExpectationCache(engine, clock=utc_now).current,
        recovery_window=timedelta(seconds=settings.recovery_window_s),
    )
    return await worker.drain()
