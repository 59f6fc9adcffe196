"""Every category has a plain-words label, and docs/outcomes.md gives each one as the code does."""

from __future__ import annotations

from pathlib import Path

from classifiers import CATEGORY_LABELS, Category

OUTCOMES_DOC = Path(__file__).resolve().parents[2] / "docs" / "outcomes.md"


def test_every_category_has_a_label_and_the_docs_give_it() -> None:
    assert set(CATEGORY_LABELS) == set(Category)
    assert len(set(CATEGORY_LABELS.values())) == len(CATEGORY_LABELS)
    text = " ".join(OUTCOMES_DOC.read_text().split())
    missing = [
        c.value for c, label in CATEGORY_LABELS.items() if f'`{c.value}` "{label}"' not in text
    ]
    assert missing == []
