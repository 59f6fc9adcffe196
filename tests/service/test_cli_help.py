"""The CLI's help: the top-level list comes from the command table without importing any command
(so `callsift --help` does not load the app, the database layer or the emulator), each summary is
its command's own first help line, and every help page is plain text that fits 80 columns."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.cli.commands import COMMANDS, LazyCommand

HEAVY_MODULES = ("sqlalchemy", "fastapi", "uvicorn", "emulator", "service.app", "classifiers")


def test_top_level_help_imports_no_command() -> None:
    probe = (
        "import sys\n"
        "from service.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print('loaded:', ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "Commands:" in result.stdout
    assert result.stdout.strip().endswith("loaded:"), result.stdout[-300:]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.name)
def test_each_summary_is_the_command_s_own_first_help_line(command: LazyCommand) -> None:
    help_text = command.load().help or ""
    first_paragraph = " ".join(help_text.split("\n\n")[0].split())
    assert first_paragraph == command.summary


def _every_command_path() -> list[list[str]]:
    paths: list[list[str]] = [[]]
    for command in COMMANDS:
        loaded = command.load()
        paths.append([command.name])
        for sub in getattr(loaded, "commands", {}):
            paths.append([command.name, sub])
    return paths


@pytest.mark.parametrize("path", _every_command_path(), ids=" ".join)
def test_every_help_page_is_plain_and_fits_80_columns(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=80, prog_name="callsift")
    assert result.exit_code == 0, result.output
    assert "Usage: callsift" in result.output
    assert "╭" not in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "default: ." not in result.output
