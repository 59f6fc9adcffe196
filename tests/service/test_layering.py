"""Each area under service/ imports only downward: no two areas import each other (areas are the
folders and the top-level modules). The composition root (`service/services.py`, `service/app.py`)
imports the areas; only the entry points built on it import it back: the CLI, the demo (which
runs the whole app) and the health probes (which read every part of it)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"


def _area(module: str) -> str:
    name = module.split(".")[1]
    return name.removesuffix(".py")


def _imports_between_areas() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in SERVICE.rglob("*.py"):
        if "migrations" in path.parts or (path.parent == SERVICE and path.name == "__init__.py"):
            continue
        source = path.relative_to(SERVICE.parent).with_suffix("").parts[1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("service."):
                target = _area(node.module or "")
                if target != source:
                    edges[source].add(target)
    return edges


def test_no_two_areas_import_each_other() -> None:
    edges = _imports_between_areas()
    assert {"api", "processing", "webhooks", "calllog"} <= set(edges)  # the scan finds imports
    both_ways = sorted(
        (source, target)
        for source in edges
        for target in edges[source]
        if source < target and source in edges.get(target, set())
    )
    assert both_ways == []


def test_only_the_entry_points_import_the_composition_root() -> None:
    edges = _imports_between_areas()
    importers = {source for source, targets in edges.items() if targets & {"services", "app"}}
    assert importers - {"services", "app"} == {"cli", "demo", "health"}
