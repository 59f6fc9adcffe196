"""`callsift classify`: offline classification of notification dumps (no database)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import orjson
import typer

from classifiers import Thresholds, classify_lines, load_call_log, load_directory
from service.cli.common import fail, parse_time

Loaded = TypeVar("Loaded")


@dataclass(frozen=True, slots=True)
class _Origin:
    name: str
    first_line: int


def _read_inputs(files: list[str]) -> tuple[list[bytes], list[_Origin]]:
    lines: list[bytes] = []
    origins: list[_Origin] = []
    for name in files:
        origins.append(_Origin(name, len(lines) + 1))
        try:
            content = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            fail(f"cannot read {name}: {exc.strerror}")
        lines.extend(content.splitlines())
    return lines, origins


def _where(line_number: int, origins: list[_Origin]) -> str:
    origin = max((o for o in origins if o.first_line <= line_number), key=lambda o: o.first_line)
    return f"{origin.name}:{line_number - origin.first_line + 1}"


def _load_evidence_file(
    path: Path | None, option: str, loader: Callable[[bytes], Loaded]
) -> Loaded | None:
    if path is None:
        return None
    try:
        content = path.read_bytes()
    except OSError as exc:
        fail(f"{option}: cannot read {path}: {exc.strerror}")
    try:
        return loader(content)
    except ValueError as exc:
        fail(f"{option} {path}: {exc}")


DEFAULTS = Thresholds()


def classify(
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="JSON Lines of notification envelopes; - reads standard input. May be left "
            "out with --call-log: the calls are then classified from their records alone."
        ),
    ] = None,
    call_log: Annotated[
        Path | None, typer.Option("--call-log", help="Call-log records (JSON or JSON Lines).")
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--directory", help="Extension directory: {records:[{id,name,type}]}."),
    ] = None,
    short_abandon_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            help=f"A hang-up sooner is a short abandon (default {DEFAULTS.short_abandon_s:g} s).",
        ),
    ] = None,
    vm_min_message_s: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Time in voicemail that makes a message "
            f"(default {DEFAULTS.vm_min_message_s:g} s).",
        ),
    ] = None,
    hold_hangup_is_abandon: Annotated[
        bool,
        typer.Option(
            "--hold-hangup-is-abandon", help="A caller who hangs up on hold has abandoned."
        ),
    ] = False,
    now: Annotated[
        str | None,
        typer.Option(help="Classify as of this time (ISO 8601) (default: the current time)."),
    ] = None,
) -> None:
    """Classify RingCentral notification dumps (and call-log records) offline; one outcome per
    call, as JSON Lines."""
    at = parse_time(now, "--now") or datetime.now(UTC)
    defaults = DEFAULTS
    thresholds = Thresholds(
        short_abandon_s=defaults.short_abandon_s if short_abandon_s is None else short_abandon_s,
        vm_min_message_s=defaults.vm_min_message_s
        if vm_min_message_s is None
        else vm_min_message_s,
        min_talk_s=defaults.min_talk_s,
        sla_s=defaults.sla_s,
        hold_hangup_is_abandon=hold_hangup_is_abandon,
        session_stale_after_s=defaults.session_stale_after_s,
    )
    records = _load_evidence_file(call_log, "--call-log", load_call_log) or []
    extensions = _load_evidence_file(directory, "--directory", load_directory) or {}
    if not files and call_log is None:
        fail("give notification files (or -), or --call-log with call-log records")
    lines, origins = _read_inputs(files or [])
    result = classify_lines(
        lines,
        now=at,
        thresholds=thresholds,
        directory=extensions,
        call_log=records,
    )
    for line_number, message in result.errors:
        typer.echo(f"{_where(line_number, origins)}: skipped: {message}", err=True)
    if result.lines_read == 0 and not records:
        fail("no line could be read as a notification")
    out = sys.stdout.buffer
    for outcome in result.outcomes:
        stored_form = outcome.model_copy(update={"revision": 1, "updated_at": at})
        out.write(orjson.dumps(stored_form.model_dump(mode="json")) + b"\n")
    out.flush()
