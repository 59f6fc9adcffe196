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

from classifiers import ClassifiedLines, Thresholds, classify_lines, load_call_log, load_directory
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
        lines.extend(_documents(content))
    return lines, origins


def _documents(content: bytes) -> list[bytes]:
    """The lines of a JSON Lines file; a file holding one JSON document over several lines (a
    pretty-printed notification or REST session snapshot, or an array of them) is read whole, one
    element a line."""
    lines = content.splitlines()
    if sum(1 for line in lines if line.strip()) <= 1:
        return lines
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return lines
    items = document if isinstance(document, list) else [document]
    return [orjson.dumps(item) for item in items]


MAX_PLACES = 5  # lines named in a summary of skipped lines


def _report(result: ClassifiedLines, origins: list[_Origin]) -> None:
    """On stderr: each line that could not be read, each one read in another shape than a
    notification, and per kind what was left out and why."""
    for line_number, message in result.errors:
        typer.echo(f"{_where(line_number, origins)}: skipped: {message}", err=True)
    for line_number, message in result.notes:
        typer.echo(f"{_where(line_number, origins)}: note: {message}", err=True)
    by_kind: dict[tuple[str, str], list[int]] = {}
    for skipped in result.skipped:
        by_kind.setdefault((skipped.kind, skipped.why), []).append(skipped.line)
    for (kind, why), numbers in by_kind.items():
        places = ", ".join(_where(number, origins) for number in numbers[:MAX_PLACES])
        more = f" and {len(numbers) - MAX_PLACES} more" if len(numbers) > MAX_PLACES else ""
        noun = "notification" if len(numbers) == 1 else "notifications"
        typer.echo(
            f"callsift: skipped {len(numbers)} {kind} {noun} ({places}{more}): {why}", err=True
        )


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
    _report(result, origins)
    if result.lines_read == 0 and not records:
        fail("no line could be read as a notification")
    if not result.outcomes:
        typer.echo("callsift: no call to classify in the input", err=True)
    out = sys.stdout.buffer
    for outcome in result.outcomes:
        stored_form = outcome.model_copy(update={"revision": 1, "updated_at": at})
        out.write(orjson.dumps(stored_form.model_dump(mode="json")) + b"\n")
    out.flush()
