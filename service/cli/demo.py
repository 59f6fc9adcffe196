"""`callsift demo`: a finite end-to-end run against the embedded emulator, with a scored table."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.cli.common import load_settings, table_console
from service.demo.finite import DemoReport, run_demo
from service.logging import configure_logging


def demo(
    calls: Annotated[int, typer.Option(min=1, max=100_000, help="Calls to play.")] = 300,
    extensions: Annotated[
        int, typer.Option(min=0, max=4, help="Users registered beside the account admin.")
    ] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the emulator and the call mix.")] = 1,
    chaos: Annotated[bool, typer.Option(help="Duplicate and reorder deliveries.")] = False,
    lose_webhooks: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of calls whose webhooks are lost (half all of them, half their first "
            "events); the call-log sync must still give every call its true outcome.",
        ),
    ] = 0.0,
    database_url: Annotated[
        str | None,
        typer.Option(help="Database to use (default: a new SQLite file in a temporary folder)."),
    ] = None,
) -> None:
    """Play simulated calls end to end and check every outcome against the ground truth."""
    if database_url is None:
        folder = Path(tempfile.mkdtemp(prefix="callsift-demo-"))
        database_url = f"sqlite+aiosqlite:///{folder / 'callsift.db'}"
        label = str(folder / "callsift.db")
    else:
        label = database_url.split("@", 1)[-1]
    settings = load_settings(database_url=database_url, log_level="warning")
    configure_logging(level="warning", json=settings.log_json)
    console = Console(stderr=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        report = asyncio.run(
            run_demo(
                settings,
                calls=calls,
                extensions=extensions,
                seed=seed,
                chaos=chaos,
                lose_webhooks=lose_webhooks,
                database_label=label,
                progress=lambda phase, done, total: bar.update(
                    task, description=phase, completed=done, total=total
                ),
            )
        )
    output = table_console()
    output.print(_categories(report))
    output.print(_summary(report))
    output.print(f"database: {report.database}", soft_wrap=True)
    for problem in report.mismatches[:20]:
        console.print(f"[red]mismatch[/red] {problem}")
    if not report.ok:
        raise typer.Exit(1)


def _categories(report: DemoReport) -> Table:
    table = Table(title=f"callsift demo: {report.calls} calls, {report.sessions} sessions")
    table.add_column("category")
    table.add_column("expected", justify="right")
    table.add_column("classified", justify="right")
    for category in sorted(set(report.expected) | set(report.found)):
        table.add_row(category, str(report.expected[category]), str(report.found[category]))
    return table


def _summary(report: DemoReport) -> Table:
    table = Table(show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rate = report.abandon_rate
    table.add_row("accuracy vs ground truth", f"{report.accuracy:.1%}")
    table.add_row("classified", f"{report.classified}/{report.sessions}")
    table.add_row("abandon rate (inbound + internal)", f"{rate:.1%}" if rate is not None else "-")
    table.add_section()
    lost = f"{report.webhooks_lost} whole, {report.starts_lost} first events"
    table.add_row("calls whose webhooks were lost", lost)
    table.add_row("outcomes from the call log alone", str(report.from_call_log_alone))
    table.add_row("outcomes the call log corrected", str(report.corrected))
    table.add_row("events and call log agreed", str(report.reconciliation["agreed"]))
    table.add_row("call-log records stored", str(report.call_log_records))
    table.add_section()
    table.add_row("events stored", str(report.events))
    table.add_row("events per second", f"{report.events_per_s:,.0f}")
    return table
