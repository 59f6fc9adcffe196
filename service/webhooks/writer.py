"""Group commit: concurrent webhook requests share one transaction, and each learns its fate only
after that transaction commits.

A request hands its row to `GroupCommitWriter` and awaits a future. One flusher task takes every
row waiting (up to `max_batch`), inserts them in a single transaction and resolves the futures
after COMMIT returns. While a batch commits, the next one accumulates, so batches grow with load
and an idle service still answers a lone request with one round trip. If the transaction fails,
every request of the batch gets `StoreUnavailable` and none is reported stored.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

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


class GroupCommitWriter:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 1000,
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._pending: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._on_batch = on_batch

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="callsift-group-commit")

    async def stop(self) -> None:
        """Write what is still waiting, then stop the flusher."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def store_event(self, row: dict[str, Any]) -> bool:
        """Store a raw event; True if it was new, False if its uuid was already stored."""
        return await self._submit(row, quarantine=False)

    async def store_quarantined(self, row: dict[str, Any]) -> None:
        await self._submit(row, quarantine=True)

    async def _submit(self, row: dict[str, Any], *, quarantine: bool) -> bool:
        if self._task is None or self._task.done() or self._closing:
            msg = "the event writer is not running"
            raise StoreUnavailable(msg)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(row, quarantine, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                await self._flush(self._take_batch())
            if self._closing:
                return

    def _take_batch(self) -> _Batch:
        batch = _Batch()
        for _ in range(min(self._max_batch, len(self._pending))):
            batch.add(self._pending.popleft())
        return batch

    async def _flush(self, batch: _Batch) -> None:
        first_of_each = [group[0].row for group in batch.events.values()]
        quarantined = [p.row for p in batch.quarantined]
        try:
            async with self._engine.begin() as connection:
                inserted = await queries.insert_raw_events(connection, first_of_each)
                await queries.insert_quarantined(connection, quarantined)
        except Exception as exc:  # any failure of the transaction fails the whole batch
            log.warning(
                "ingest.batch_failed", size=len(first_of_each) + len(quarantined), error=repr(exc)
            )
            failure = StoreUnavailable(f"database write failed: {type(exc).__name__}")
            for pending in batch.everyone():
                if not pending.future.done():
                    pending.future.set_exception(failure)
            self._report(BatchReport(len(batch.everyone()), 0, 0, 0, failed=True))
            return
        duplicates = 0
        for uuid, group in batch.events.items():
            for position, pending in enumerate(group):
                is_new = position == 0 and uuid in inserted
                duplicates += not is_new
                if not pending.future.done():
                    pending.future.set_result(is_new)
        for pending in batch.quarantined:
            if not pending.future.done():
                pending.future.set_result(True)
        self._report(
            BatchReport(
                len(batch.everyone()), len(inserted), duplicates, len(quarantined), failed=False
            )
        )

    def _report(self, report: BatchReport) -> None:
        if self._on_batch is not None:
            self._on_batch(report)
