"""`callsift demo`'s final summary fits an 80-column terminal, whatever the database path, and
its progress names each phase of the run."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

from rich.console import Console

from service.cli.demo import _categories, _summary
from service.demo.finite import DemoReport, run_demo
from service.settings import Settings


def test_the_summary_fits_80_columns_with_a_long_database_path() -> None:
    long_path = "/tmp/" + "callsift-demo-very-long-folder-name/" * 4 + "callsift.db"
    report = DemoReport(
        database=long_path,
        sessions=1204,
        calls=1200,
        classified=1204,
        correct=1204,
        events=13_000,
        elapsed_s=60.0,
        expected=Counter({"abandoned_voicemail_greeting": 3, "answered": 1201}),
        found=Counter({"abandoned_voicemail_greeting": 3, "answered": 1201}),
        webhooks_lost=120,
        starts_lost=118,
        reconciliation=Counter({"agreed": 1000}),
    )
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(_categories(report))
    console.print(_summary(report))
    console.print(f"database: {report.database}", soft_wrap=True)
    text = console.export_text()
    table_lines = text.split("database: ")[0].splitlines()
    assert max(len(line) for line in table_lines) <= 80
    assert "120 whole, 118 first events" in text
    assert long_path in text.replace("\n", "")


async def test_the_progress_names_each_phase(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    phases: list[str] = []

    def progress(phase: str, done: int, total: int | None) -> None:
        if not phases or phases[-1] != phase:
            phases.append(phase)

    report = await run_demo(
        settings,
        calls=10,
        extensions=1,
        seed=2,
        chaos=False,
        database_label="sqlite",
        progress=progress,
    )
    assert report.ok
    assert phases[0] == "registering the demo company"
    assert phases[-1] == "waiting for the outcomes after the call-log sync"
    assert {"waiting for the outcomes of the delivered webhooks", "reading the call log"} <= set(
        phases
    )
