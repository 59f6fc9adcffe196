"""`callsift reclassify` classifies as the processor does (the same directory, the same call-log
evidence): right after a demo with chaos and lost webhooks, with nothing changed, it changes
nothing (it once passed an empty directory and turned queue abandons into IVR abandons)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CALLSIFT = str(Path(sys.executable).parent / "callsift")
DEMO = (CALLSIFT, "demo", "--calls", "60", "--chaos", "--lose-webhooks", "0.3")


def test_a_reclassify_with_nothing_changed_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CALLSIFT_")}
    demo = subprocess.run(
        [*DEMO, "--database-url", url],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "corrected" in demo.stdout  # the call log had a say in some outcomes
    reclassify = subprocess.run(
        [CALLSIFT, "reclassify"],
        cwd=tmp_path,
        env={**environment, "CALLSIFT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert reclassify.returncode == 0, reclassify.stdout + reclassify.stderr
    assert "reclassified 60 sessions; 0 outcomes changed" in reclassify.stdout + reclassify.stderr
