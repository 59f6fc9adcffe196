"""The rollup refresher: recomputes the marked quarter slices and the hours and days that hold
them, in the background wherever the processor runs (inline, or in its own process).

A pass reads the marked quarters and recomputes those whose calls stopped changing
(service.rollups.settling), QUARTERS_PER_BATCH to a transaction: take the ids of every mark of
those quarters, recompute them from the raw calls and legs, rebuild each touched hour from its
four quarters and each touched day from its 24 hours (the untouched ones as stored), replace
those slices' rows and delete the marks that were taken, by id. The ids are read before the raw
rows, so every mark deleted belongs to a write the recomputation saw; a call written meanwhile
added a mark with another id, which stays: its slice is recomputed by a later pass, and until
then reports read it raw. On PostgreSQL one refresher works at a time (a transaction-level
advisory lock), so two never write the same slice from different snapshots.

The raw rows come in parts (a quarter of a busy line holds tens of thousands of calls), and
between two parts the refresher gives way to the processor, whose event loop it shares: a
drain under way is waited for (at most MOST_GIVEN_WAY_S), so a recomputation never holds up
the outcomes the dashboard waits for.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.background import BackgroundTask, Backoff, Precedence
from service.metrics import ProcessorMetrics, ProcessorReport
from service.rollups import queries
from service.rollups.fold import (
    DIMENSIONS,
    TallyKey,
    fold_calls,
    fold_legs,
    fold_recoverable,
    settled,
)
from service.rollups.settling import Settling
from service.rollups.slices import (
    QUARTER_S,
    Cover,
    Slice,
    children_of,
    instant,
    parent_of,
    quarter_of,
)
from service.rollups.tally import Tally, decode, encode, merged

log = structlog.get_logger(__name__)

# Marked quarters a pass reads (the longest marked first); a larger backlog takes more passes.
PENDING_PER_PASS = 4096
# Quarters recomputed per transaction: a backfill goes eight hours at a time, so each pause of
# the event loop (SQLite runs the refresher next to the webhook) stays short.
QUARTERS_PER_BATCH = 32
BACKOFF = Backoff(first_s=1.0, most_s=30.0)

# The processor's drains go first: a part of raw rows waits at most this long for one to end.
MOST_GIVEN_WAY_S = 0.5

SliceTallies = dict[Slice, dict[tuple[str, str | None], Tally]]
BetweenParts = Callable[[], Awaitable[None]]


async def refresh_rollups(
    connection: AsyncConnection,
    quarters: Sequence[int] | None = None,
    *,
    between_parts: BetweenParts | None = None,
) -> int:
    """One batch (see the module docstring): `quarters`, or by default the QUARTERS_PER_BATCH
    marked the longest; how many were recomputed (0: another refresher holds the lock, or no
    quarter is marked). The raw rows are read in parts, `between_parts` awaited after each.
    The caller owns the transaction."""
    if not await queries.take_refresh_lock(connection):
        return 0
    if quarters is None:
        pending = await queries.pending_quarters(connection, QUARTERS_PER_BATCH)
        quarters = [marked.quarter for marked in pending]
    quarters = sorted(quarters)
    if not quarters:
        return 0
    taken = await queries.marks_of(connection, quarters)
    by_slice = await _recompute_quarters(connection, quarters, between_parts or _go_on)
    for level in (1, 2):  # hours from quarters, then days from hours
        parents = sorted({parent for piece in by_slice if (parent := _parent(piece, level))})
        await _rebuild(connection, parents, by_slice)
    rows = [
        {"slice_s": size, "slice_start": start, "dim": dim, "key": key, "content": encode(tally)}
        for (size, start), tallies in by_slice.items()
        for (dim, key), tally in tallies.items()
        if not tally.empty
    ]
    await queries.replace_rollups(connection, list(by_slice), rows)
    await queries.delete_marks(connection, taken)
    return len(quarters)


def _parent(piece: Slice, level: int) -> Slice | None:
    """The hour (level 1) of a quarter, or the day (level 2) of an hour."""
    wanted = QUARTER_S if level == 1 else 3600
    return parent_of(piece) if piece[0] == wanted else None


async def _go_on() -> None:
    """No pause between parts."""


async def _recompute_quarters(
    connection: AsyncConnection, quarters: list[int], between_parts: BetweenParts
) -> SliceTallies:
    ranges = Cover()
    for quarter in quarters:
        ranges.add_raw(instant(quarter), instant(quarter + QUARTER_S))

    tallies: dict[TallyKey[Slice], Tally] = {}
    async for calls in queries.call_parts(connection, ranges.raw):
        fold_calls(calls, _quarter, DIMENSIONS, tallies)
        await between_parts()
    async for recoverable in queries.recoverable_parts(connection, ranges.raw):
        fold_recoverable(recoverable, _quarter, tallies)
        await between_parts()
    seen: set[tuple[str, str]] = set()
    async for legs in queries.leg_parts(connection, ranges.raw):
        fold_legs(legs, _quarter, tallies, seen)
        await between_parts()
    by_slice: SliceTallies = {(QUARTER_S, quarter): {} for quarter in quarters}
    for (piece, dim, key), tally in settled(tallies).items():
        by_slice[piece][dim, key] = tally
    return by_slice


def _quarter(moment: datetime) -> Slice:
    return QUARTER_S, quarter_of(moment)


async def _rebuild(
    connection: AsyncConnection, parents: list[Slice], by_slice: SliceTallies
) -> None:
    """Each parent slice as the merge of its children: the ones just computed, the others as
    stored (clean, or marked and so rebuilt again by a later batch)."""
    wanted = [child for parent in parents for child in children_of(parent)]
    missing = [child for child in wanted if child not in by_slice]
    stored: SliceTallies = defaultdict(dict)
    for row in await queries.read_rollups(connection, DIMENSIONS, missing):
        stored[row.size, row.start][row.dim, row.key] = decode(row.content)
    for parent in parents:
        children = [
            by_slice[child] if child in by_slice else stored.get(child, {})
            for child in children_of(parent)
        ]
        by_slice[parent] = _merge_children(children)


def _merge_children(
    children: Iterable[dict[tuple[str, str | None], Tally]],
) -> dict[tuple[str, str | None], Tally]:
    parts: dict[tuple[str, str | None], list[Tally]] = defaultdict(list)
    for child in children:
        for key, tally in child.items():
            parts[key].append(tally)
    return {key: merged(tallies) for key, tallies in parts.items()}


class RollupRefresher:
    """A pass every `interval_s` (see the module docstring); started and stopped with the
    processor (`ProcessorWorker`)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval_s: float,
        metrics: ProcessorMetrics | None = None,
        precedence: Precedence | None = None,
    ) -> None:
        self._engine = engine
        self._precedence = precedence
        self._interval_s = interval_s
        self._metrics = metrics
        self._background = BackgroundTask("callsift-rollups")
        self._settling = Settling()

    async def start(self) -> None:
        self._background.start(self._run)

    async def stop(self) -> None:
        await self._background.stop()

    async def refresh(self) -> int:
        """One pass: the marked quarters that are ready, in batches; how many were recomputed."""
        async with self._engine.connect() as connection:
            pending = await queries.pending_quarters(connection, PENDING_PER_PASS)
        ready = self._settling.ready(pending, time.monotonic())
        total = 0
        for first in range(0, len(ready), QUARTERS_PER_BATCH):
            if self._background.stopping:
                break
            async with self._engine.begin() as connection:
                done = await refresh_rollups(
                    connection,
                    ready[first : first + QUARTERS_PER_BATCH],
                    between_parts=self._give_way,
                )
            if not done:  # another replica's refresher holds the lock
                break
            total += done
        if self._metrics is not None:
            self._metrics.record_processor(
                ProcessorReport(
                    rollup_quarters_recomputed=total, rollup_quarters_marked=len(pending) - total
                )
            )
        return total

    async def _give_way(self) -> None:
        if self._precedence is not None:
            await self._precedence.give_way(MOST_GIVEN_WAY_S)

    def _failed(self, exc: Exception, retry_in_s: float) -> None:
        log.warning("rollups.refresh_failed", error=repr(exc), retry_in_s=retry_in_s)

    async def _run(self) -> None:
        await self._background.repeat(
            self.refresh,
            interval_s=lambda: self._interval_s,
            on_failure=self._failed,
            backoff=BACKOFF,
        )
