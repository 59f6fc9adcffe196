"""What a rollup row holds for one slice and one group key, and how rows are folded and merged
(pure functions; the same code folds raw rows for the refresher and for a report's edges).

A `Tally` keeps exactly what the report needs, nothing rounded:
- `counts`: calls per (category, reconciliation), keyed `category|reconciliation`;
- `waits`: answered calls with a wait, per `ceil(wait_s)`: for a whole-second `sla_s` S,
  `wait_s <= S` exactly when `ceil(wait_s) <= S`, so answers within any whole-second SLA are a
  sum; `wait_sum_us`: their waits summed in whole microseconds (an integer: exact, whatever the
  order of the sum);
- `ttas`: every time to abandon of the abandons, sorted: the histogram, the maximum and the
  exact percentiles (percentile_cont) come from the merged values;
- `legs` (extension rows): the extension's legs per leg outcome;
- recovery (rows of the whole population): abandoned calls with a number to call back, those a
  later call reached, and their times to recovery, sorted (for the exact median).
Rows are stored as JSON (orjson: floats round-trip exactly), identical on both databases.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from classifiers.outcome import ABANDONED_CATEGORIES, Category

ANSWERED = Category.ANSWERED.value
ABANDONED = frozenset(category.value for category in ABANDONED_CATEGORIES)
MICROSECONDS = 1_000_000
SEPARATOR = "|"  # between category and reconciliation in a count's key (neither holds one)


@dataclass(slots=True)
class Tally:
    # plain dicts, as orjson reads them: a report merges thousands of rows
    counts: dict[str, int] = field(default_factory=dict)  # "category|reconciliation" -> calls
    waits: dict[int, int] = field(default_factory=dict)
    wait_sum_us: int = 0
    ttas: list[float] = field(default_factory=list)
    legs: dict[str, int] = field(default_factory=dict)
    recoverable: int = 0
    recovered: int = 0
    recovery_times: list[float] = field(default_factory=list)

    def add_call(
        self, category: str, reconciliation: str, wait_s: float | None, tta_s: float | None
    ) -> None:
        """One call of the population (unsorted `ttas` until `settle`)."""
        _add(self.counts, f"{category}{SEPARATOR}{reconciliation}", 1)
        if category == ANSWERED and wait_s is not None:
            _add(self.waits, math.ceil(wait_s), 1)
            self.wait_sum_us += round(wait_s * MICROSECONDS)
        if category in ABANDONED and tta_s is not None:
            self.ttas.append(tta_s)

    def add_leg(self, outcome: str) -> None:
        _add(self.legs, outcome, 1)

    def add_recoverable(self, recovered: bool, time_to_recovery_s: float | None) -> None:
        self.recoverable += 1
        self.recovered += int(recovered)
        if time_to_recovery_s is not None:
            self.recovery_times.append(time_to_recovery_s)

    def settle(self) -> Tally:
        """Sort the value lists once everything is folded in."""
        self.ttas.sort()
        self.recovery_times.sort()
        return self

    @property
    def empty(self) -> bool:
        return not (self.counts or self.legs or self.recoverable)

    def by_category(self) -> Iterator[tuple[str, str, int]]:
        """(category, reconciliation, calls) of every count."""
        for key, calls in self.counts.items():
            category, _, reconciliation = key.partition(SEPARATOR)
            yield category, reconciliation, calls


def _add(counts: dict[Any, int], key: Any, calls: int) -> None:
    counts[key] = counts.get(key, 0) + calls


def _add_all(total: dict[Any, int], part: dict[Any, int]) -> None:
    for key, calls in part.items():
        total[key] = total.get(key, 0) + calls


def merged(tallies: Iterable[Tally]) -> Tally:
    """The sum of settled tallies (their sorted lists merged, still sorted)."""
    parts = list(tallies)
    if len(parts) == 1:
        return parts[0]
    total = Tally()
    for part in parts:
        _add_all(total.counts, part.counts)
        _add_all(total.waits, part.waits)
        total.wait_sum_us += part.wait_sum_us
        _add_all(total.legs, part.legs)
        total.recoverable += part.recoverable
        total.recovered += part.recovered
    # sorting the concatenated sorted runs: timsort merges runs in C
    total.ttas = sorted(itertools.chain.from_iterable(part.ttas for part in parts))
    total.recovery_times = sorted(
        itertools.chain.from_iterable(part.recovery_times for part in parts)
    )
    return total


def encode(tally: Tally) -> str:
    document: dict[str, Any] = {
        "c": tally.counts,
        "w": list(tally.waits.items()),
        "s": tally.wait_sum_us,
        "t": tally.ttas,
    }
    if tally.legs:
        document["l"] = tally.legs
    if tally.recoverable:
        document["r"] = [tally.recoverable, tally.recovered, tally.recovery_times]
    return orjson.dumps(document).decode()


def decode(content: str | bytes) -> Tally:
    document = orjson.loads(content)
    recovery = document.get("r", (0, 0, []))
    return Tally(
        counts=document["c"],
        waits=dict(document["w"]),
        wait_sum_us=document["s"],
        ttas=document["t"],
        legs=document.get("l", {}),
        recoverable=recovery[0],
        recovered=recovery[1],
        recovery_times=recovery[2],
    )
