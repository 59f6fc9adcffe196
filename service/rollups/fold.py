"""Raw calls and legs folded into tallies per (group, dimension, key) (pure functions): the
refresher's groups are quarter slices, a report's are its groups; the same fold serves both, so
a slice read from its rollup and the same slice read raw give the same tally.

Dimensions: `all` (key None: every call, and the recovery block), `queue` (the call's queue),
`extension` (each extension that had a leg in the call, the call counted once per extension,
with every leg of that extension counted per leg outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable
from datetime import datetime
from typing import TypeVar

from service.rollups.queries import CallRow, LegRow, RecoverableRow
from service.rollups.tally import Tally

G = TypeVar("G", bound=Hashable)
TallyKey = tuple[G, str, str | None]  # (group, dimension, key)
DIMENSIONS = ("all", "queue", "extension")


def fold_calls(
    calls: Iterable[CallRow],
    group_of: Callable[[datetime], G | None],
    dims: Collection[str],
    into: dict[TallyKey[G], Tally],
) -> None:
    """Add calls to the tallies of their group (calls whose group is None are left out)."""
    for call in calls:
        group = group_of(call.started_at)
        if group is None:
            continue
        for dim, key in (("all", None), ("queue", call.queue)):
            if dim in dims:
                _tally(into, (group, dim, key)).add_call(
                    call.category, call.reconciliation, call.wait_s, call.time_to_abandon_s
                )


def fold_recoverable(
    calls: Iterable[RecoverableRow],
    group_of: Callable[[datetime], G | None],
    into: dict[TallyKey[G], Tally],
) -> None:
    """Add the recovery counts to the `all` tallies."""
    for call in calls:
        group = group_of(call.started_at)
        if group is not None:
            _tally(into, (group, "all", None)).add_recoverable(
                call.recovered, call.time_to_recovery_s
            )


def fold_legs(
    legs: Iterable[LegRow],
    group_of: Callable[[datetime], G | None],
    into: dict[TallyKey[G], Tally],
    seen: set[tuple[str, str]] | None = None,
) -> None:
    """Add the extension tallies: each (call, extension) once, and every leg by its outcome
    (`seen`: the (call, extension) pairs already added, when legs come in several parts)."""
    if seen is None:
        seen = set()
    for leg in legs:
        group = group_of(leg.started_at)
        if group is None:
            continue
        tally = _tally(into, (group, "extension", leg.extension_id))
        tally.add_leg(leg.outcome)
        if (leg.session, leg.extension_id) in seen:
            continue
        seen.add((leg.session, leg.extension_id))
        tally.add_call(leg.category, leg.reconciliation, leg.wait_s, leg.time_to_abandon_s)


def _tally(tallies: dict[TallyKey[G], Tally], key: TallyKey[G]) -> Tally:
    found = tallies.get(key)
    if found is None:
        found = tallies[key] = Tally()
    return found


def settled(tallies: dict[TallyKey[G], Tally]) -> dict[TallyKey[G], Tally]:
    for tally in tallies.values():
        tally.settle()
    return tallies
