"""`callsift reclassify`: re-run the classifier over stored events and call-log records (after a
rules or threshold change, or an upgrade that changed the rules version)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.ext.asyncio import AsyncEngine

from service.calllog.loop import call_log_expectation
from service.cli.common import load_settings, migrate, parse_time
from service.db.engine import create_engine
from service.logging import configure_logging
from service.processing import queries
from service.processing.processor import ProcessingContext, Recomputed, is_poison, recompute
from service.processing.worker import utc_now
from service.ringcentral.directory import DirectoryCache
from service.settings import Settings

CHUNK = 200

log = structlog.get_logger(__name__)


async def _reclassify(settings: Settings, since_text: str | None, console: Console) -> None:
    since = parse_time(since_text, "--since")
    await migrate(settings)
    engine = create_engine(settings)
    changed = classifier_failures = 0
    seen = 0
    failed: list[str] = []
    try:
        async with engine.connect() as connection:
            total = await queries.count_sessions_to_reclassify(connection, since)
        directory = await DirectoryCache(engine).current()
        columns = (
            TextColumn("reclassifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("sessions", total=total)
            last_id = ""
            while True:
                context = ProcessingContext(
                    now=utc_now(),
                    thresholds=settings.thresholds(),
                    directory=directory,
                    call_log=await call_log_expectation(engine, now=utc_now()),
                    recovery_window=timedelta(seconds=settings.recovery_window_s),
                    refresh_recoveries=True,
                )
                async with engine.connect() as connection:
                    chunk = await queries.sessions_to_reclassify(
                        connection, since, after_id=last_id, limit=CHUNK
                    )
                if not chunk:
                    break
                done = await _recompute(engine, chunk, context)
                changed += done.changed
                classifier_failures += done.classifier_failures
                failed.extend(done.failed)
                seen += len(chunk)
                last_id = chunk[-1]
                progress.update(task, advance=len(chunk))
    finally:
        await engine.dispose()
    console.print(f"reclassified {seen} sessions; {changed} outcomes changed")
    if classifier_failures:
        console.print(
            f"the classifier failed on {classifier_failures} sessions (stored as "
            "classification_failed, see the log)"
        )
    if failed:
        console.print(
            f"{len(failed)} sessions could not be written (see the log), e.g. {failed[0]}",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@dataclass(slots=True)
class _Written:
    changed: int = 0
    classifier_failures: int = 0
    failed: list[str] = field(default_factory=list)  # sessions the database refused to write

    def add(self, recomputed: Recomputed) -> None:
        self.changed += recomputed.changed
        self.classifier_failures += recomputed.failures


async def _recompute(engine: AsyncEngine, chunk: list[str], context: ProcessingContext) -> _Written:
    """Recompute a chunk in one transaction; if the database refuses what it writes, session by
    session, so that one session it refuses never stops the others."""
    written = _Written()
    try:
        async with engine.begin() as connection:
            recomputed = await recompute(connection, chunk, context=context)
    except Exception as exc:
        if not is_poison(exc):
            raise
    else:
        written.add(recomputed)
        return written
    for session_id in chunk:
        try:
            async with engine.begin() as connection:
                recomputed = await recompute(connection, [session_id], context=context)
            written.add(recomputed)
        except Exception as exc:
            if not is_poison(exc):
                raise
            log.error("reclassify.session_failed", session=session_id, error=repr(exc))
            written.failed.append(session_id)
    return written


def reclassify(
    since: Annotated[
        str | None,
        typer.Option(
            help="Only sessions with events at or after this time, and calls known only from "
            "the call log that started then (ISO 8601)."
        ),
    ] = None,
) -> None:
    """Re-run the classifier over stored events and call-log records with the current thresholds
    and rules."""
    settings = load_settings()
    configure_logging(level=settings.log_level, json=settings.log_json)
    parse_time(since, "--since")
    asyncio.run(_reclassify(settings, since, Console(stderr=True)))
