"""Group commit: concurrent webhook requests share one transaction, and each learns its fate only
after that transaction commits.

A request hands its row to `GroupCommitWriter` and awaits a future. The flusher takes every row
waiting (up to `max_batch`), inserts them in a single transaction and resolves the futures after
COMMIT returns. While a batch commits, the next one accumulates, so batches grow with load and an
idle service still answers a lone request with one round trip. Under load, batches start at least
`commit_delay_s` apart unless LINGER_ROWS rows already wait: a batch costs the service and the
database about as much as seven rows (statement, round trip, commit), so at a steady few thousand
requests a second, when batches would hold a handful of rows each, waiting a moment for more
saves a quarter of a core (docs/scaling.md). On PostgreSQL up to two batches
are in flight at once (the second is written while the first commits; the server flushes their
commits together); on SQLite one. If a transaction fails because of what a row holds (a data or
constraint error), the batch is written again row by row, each in its own transaction, so only
the guilty row is refused; if it fails otherwise (the database is unreachable), every request of
the batch gets `StoreUnavailable` and none is reported stored.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from service.background import BackgroundTask
from service.db.driver import asyncpg_connection
from service.db.errors import is_refused_value
from service.webhooks import queries

log = structlog.get_logger(__name__)


class StoreUnavailable(Exception):
    """The database did not take the write; nothing in the batch was stored."""


@dataclass(slots=True)
class _Pending:
    row: dict[str, Any]
    quarantine: bool
    future: asyncio.Future[bool]


@dataclass(frozen=True, slots=True)
class BatchReport:
    size: int
    inserted: int
    duplicates: int
    quarantined: int
    failed: bool
    refused: int = 0  # rows the database refused when the batch was written again row by row


_Rows = list[dict[str, Any]]

# Rows enough to spread a batch's fixed cost thin: a batch this large starts without waiting.
LINGER_ROWS = 32


def linger_s(waiting: int, since_previous_s: float, commit_delay_s: float) -> float:
    """How long to wait before taking the next batch: until `commit_delay_s` after the previous
    one started, unless LINGER_ROWS rows already wait. Batches further apart than that (a
    lightly loaded service) start at once."""
    if waiting >= LINGER_ROWS or since_previous_s >= commit_delay_s:
        return 0.0
    return commit_delay_s - since_previous_s


@dataclass(slots=True)
class _Batch:
    events: dict[str, list[_Pending]] = field(default_factory=dict)
    quarantined: list[_Pending] = field(default_factory=list)

    def add(self, item: _Pending) -> None:
        if item.quarantine:
            self.quarantined.append(item)
        else:
            self.events.setdefault(item.row["uuid"], []).append(item)

    def everyone(self) -> list[_Pending]:
        return [p for group in self.events.values() for p in group] + self.quarantined


def _uuid_of(row: dict[str, Any]) -> str:
    uuid: str = row["uuid"]
    return uuid


class GroupCommitWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 1000,
        max_in_flight: int | None = None,
        commit_delay_s: float = 0.0,
        on_batch: Callable[[BatchReport], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._commit_delay_s = commit_delay_s
        self._clock = clock
        self._previous_taken = -float("inf")
        self._postgres = engine.dialect.name == "postgresql"
        self._max_batch = max_batch
        # PostgreSQL commits concurrent transactions together, so a second batch may be written
        # while the first one commits; SQLite has one writer, so one batch at a time.
        self._max_in_flight = max_in_flight or (2 if self._postgres else 1)
        self._pending: deque[_Pending] = deque()
        self.received = 0  # rows handed to the writer so far (the processor's stand-back reads it)
        self._background = BackgroundTask("callsift-group-commit")
        self._on_batch = on_batch

    async def start(self) -> None:
        self._background.start(self._run)

    async def stop(self) -> None:
        """Write what is still waiting, then stop the flusher."""
        await self._background.stop()

    async def store_event(self, row: dict[str, Any]) -> bool:
        """Store a raw event; True if it was new, False if its uuid was already stored."""
        return await self._submit(row, quarantine=False)

    async def store_quarantined(self, row: dict[str, Any]) -> None:
        await self._submit(row, quarantine=True)

    async def _submit(self, row: dict[str, Any], *, quarantine: bool) -> bool:
        if not self._background.running:
            msg = "the event writer is not running"
            raise StoreUnavailable(msg)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.received += 1
        self._pending.append(_Pending(row, quarantine, future))
        self._background.wake()
        return await future

    async def _run(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        while True:
            await self._background.woken()
            self._background.clear()
            while self._pending:
                if len(in_flight) >= self._max_in_flight:
                    # the rows arriving meanwhile join the next batch
                    await asyncio.wait(set(in_flight), return_when=asyncio.FIRST_COMPLETED)
                    continue
                since_previous_s = self._clock() - self._previous_taken
                wait_s = linger_s(len(self._pending), since_previous_s, self._commit_delay_s)
                if wait_s:
                    await asyncio.sleep(wait_s)  # the rows arriving meanwhile join this batch
                self._previous_taken = self._clock()
                task = asyncio.create_task(self._flush(self._take_batch()))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if self._background.stopping:
                await asyncio.gather(*in_flight)
                return

    def _take_batch(self) -> _Batch:
        batch = _Batch()
        for _ in range(min(self._max_batch, len(self._pending))):
            batch.add(self._pending.popleft())
        return batch

    async def _flush(self, batch: _Batch) -> None:
        """Write one batch and settle its requests; never raises."""
        first_of_each = [group[0].row for group in batch.events.values()]
        if self._max_in_flight > 1:
            # Concurrent batches holding the same uuids take their index locks in one order,
            # so they wait for each other instead of deadlocking.
            first_of_each.sort(key=_uuid_of)
        quarantined = [p.row for p in batch.quarantined]
        try:
            inserted = await self._write(first_of_each, quarantined)
        except Exception as exc:  # the transaction failed: nothing of the batch was stored
            log.warning(
                "ingest.batch_failed", size=len(first_of_each) + len(quarantined), error=repr(exc)
            )
            if is_refused_value(exc) and len(batch.everyone()) > 1:
                await self._row_by_row(batch)
                return
            for pending in batch.everyone():
                _settle(pending, _failure(exc))
            self._report(BatchReport(len(batch.everyone()), 0, 0, 0, failed=True))
            return
        duplicates = 0
        for uuid, group in batch.events.items():
            for position, pending in enumerate(group):
                is_new = position == 0 and uuid in inserted
                duplicates += not is_new
                _settle(pending, is_new)
        for pending in batch.quarantined:
            _settle(pending, True)
        self._report(
            BatchReport(
                len(batch.everyone()), len(inserted), duplicates, len(quarantined), failed=False
            )
        )

    async def _row_by_row(self, batch: _Batch) -> None:
        """Write each row of a failed batch in its own transaction: a row the database refuses
        fails its own requests only. Once a write fails for another reason (the database went
        away), the rows left fail with it rather than each waiting for its own timeout."""
        inserted = duplicates = quarantined = refused = 0
        rows: list[tuple[_Rows, _Rows, list[_Pending]]] = [
            ([group[0].row], [], group) for group in batch.events.values()
        ]
        rows += [([], [pending.row], [pending]) for pending in batch.quarantined]
        unavailable: Exception | None = None
        for events, bodies, requests in rows:
            if unavailable is not None:
                for pending in requests:
                    _settle(pending, _failure(unavailable))
                continue
            try:
                stored = await self._write(events, bodies)
            except Exception as exc:
                log.warning("ingest.row_refused", error=repr(exc))
                if not is_refused_value(exc):
                    unavailable = exc
                refused += len(requests)
                for pending in requests:
                    _settle(pending, _failure(exc))
                continue
            if bodies:
                quarantined += 1
                _settle(requests[0], True)
                continue
            is_new = bool(stored)
            inserted += is_new
            for position, pending in enumerate(requests):
                duplicates += not (position == 0 and is_new)
                _settle(pending, position == 0 and is_new)
        self._report(
            BatchReport(
                len(batch.everyone()), inserted, duplicates, quarantined,
                failed=unavailable is not None, refused=refused,
            )
        )  # fmt: skip

    async def _write(
        self, rows: list[dict[str, Any]], quarantined: list[dict[str, Any]]
    ) -> set[str]:
        """Store rows and quarantined bodies in one transaction; the uuids newly inserted."""
        if self._postgres:
            return await self._write_postgres(rows, quarantined)
        async with self._engine.begin() as connection:
            inserted = await queries.insert_raw_events(connection, rows)
            await queries.insert_quarantined(connection, quarantined)
            return inserted

    async def _write_postgres(
        self, rows: list[dict[str, Any]], quarantined: list[dict[str, Any]]
    ) -> set[str]:
        """The batch on the asyncpg connection under SQLAlchemy's pooled one: one statement (one
        round trip, committed when it returns) or, with quarantined bodies, one transaction."""
        async with self._engine.connect() as connection, asyncpg_connection(connection) as driver:
            if not quarantined:
                return await queries.postgres_insert_raw_events(driver, rows)
            async with driver.transaction():
                inserted = await queries.postgres_insert_raw_events(driver, rows)
                await queries.postgres_insert_quarantined(driver, quarantined)
                return inserted

    def _report(self, report: BatchReport) -> None:
        if self._on_batch is not None:
            self._on_batch(report)


def _failure(error: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"database write failed: {type(error).__name__}")


def _settle(pending: _Pending, outcome: bool | StoreUnavailable) -> None:
    """Answer a request unless it is already answered (its client went away)."""
    if pending.future.done():
        return
    if isinstance(outcome, StoreUnavailable):
        pending.future.set_exception(outcome)
    else:
        pending.future.set_result(outcome)
