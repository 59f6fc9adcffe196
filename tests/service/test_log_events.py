"""Every log event is named `area.what_happened` (lowercase, dotted), in our code and the
emulator's, so a log search for an area finds all of it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}
EVENT_NAME = re.compile(r"^[a-z]+(\.[a-z][a-z_]*)+$")


def _event_names() -> list[tuple[str, str]]:
    found = []
    for package in ("service", "subscriptions", "classifiers", "emulator"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LEVELS
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in {"log", "logger"}
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.args[0].value))
    return found


def test_every_event_is_named_area_dot_what_happened() -> None:
    names = _event_names()
    assert len(names) > 40  # the scan finds the log calls
    assert [(where, name) for where, name in names if not EVENT_NAME.match(name)] == []
