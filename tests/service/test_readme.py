"""The README's configuration table names every setting (so it cannot drift from the code)."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings

README = Path(__file__).parents[2] / "README.md"
INTERNAL = {"demo_mode"}  # set by demo mode itself, not by users


def test_every_setting_is_in_the_readme_configuration_table() -> None:
    text = README.read_text()
    missing = [
        f"CALLSIFT_{name.upper()}"
        for name in Settings.model_fields
        if name not in INTERNAL and f"CALLSIFT_{name.upper()}" not in text
    ]
    assert missing == []
