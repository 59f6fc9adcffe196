"""The call-log sync gives way to live webhooks: while notifications arrive, it reads and stores
at most `calllog_busy_records_per_s` records a second, on all credentials together.

A backfill (seven days of every extension's history when it first connects) is history: it can
wait. A notification the webhook does not acknowledge in time may be lost. On a small machine a
backfill at full speed (its pages read, validated and stored, the processor reconciling each
record, about half a millisecond of CPU a record between the processes) keeps both cores busy,
and the webhook waits for one now and then: its p99 over sequential notifications was 2.4 x the
one without a backfill (bench/notes.md). So, while the webhook is busy, the pages share one
schedule: a page is read only when the schedule has room, reserving a full page's time
(`most / rate`); once read it gives back what it did not hold and is stored at the end of its own
time (`n / rate` after its start: the first page waits too, so a backfill starting under live
traffic does not begin with a burst). Reading waits as well as storing: twenty credentials reading
their first pages at once cost both cores a second of work (parsing, and the peer's answering).
When the webhook falls quiet, the waiting ends within `RECHECK_S` and the sync runs at full speed
again. The webhook counts as busy while it stored a notification within `BUSY_WITHIN_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

BUSY_WITHIN_S = 2.0
RECHECK_S = 0.25  # a waiting page looks again this often whether the webhook is still busy


@dataclass(slots=True)
class Reservation:
    start: float  # when the page was read
    records: int  # reserved for: the most a page holds, then what it held


class SyncPacing:
    """The schedule the pages of every credential share (`subscriptions.calllog.ReadPace`)."""

    def __init__(
        self,
        records_per_s: float,
        *,
        webhook_busy: Callable[[], bool],
        clock: Callable[[], float] = time.monotonic,
        recheck_s: float = RECHECK_S,
    ) -> None:
        self._seconds_a_record = 1 / records_per_s if records_per_s > 0 else 0.0
        self._webhook_busy = webhook_busy
        self._clock = clock
        self._recheck_s = recheck_s
        self._free_at = float("-inf")  # when the schedule has room for the next page

    def _paced(self) -> bool:
        return bool(self._seconds_a_record) and self._webhook_busy()

    def seconds_until(self, moment: float) -> float:
        """How long a page waits for `moment` (monotonic seconds): none when the webhook is
        quiet."""
        return max(0.0, moment - self._clock()) if self._paced() else 0.0

    def wait_to_read(self) -> float:
        """Seconds until a page may be read (0: now)."""
        return self.seconds_until(self._free_at)

    def reserve(self, most: int) -> Reservation | None:
        """Reserve the time of a page of up to `most` records read now (None: not paced)."""
        if not self._paced():
            return None
        start = max(self._free_at, self._clock())
        self._free_at = start + most * self._seconds_a_record
        return Reservation(start, most)

    def fill(self, reservation: Reservation, records: int) -> float:
        """The page held `records`: the rest of its time goes back to the schedule. Returns when
        the page may be stored."""
        self._free_at -= (reservation.records - records) * self._seconds_a_record
        reservation.records = records
        return reservation.start + records * self._seconds_a_record

    @contextlib.asynccontextmanager
    async def page(self, most: int) -> AsyncIterator[PageSlot]:
        """Wait until a page of up to `most` records may be read and reserve its time; a read
        that fails gives all of it back."""
        await self.wait(self.wait_to_read)
        slot = PageSlot(self, self.reserve(most))
        try:
            yield slot
        finally:
            if slot.reservation is not None:  # not filled: the read failed
                self.fill(slot.reservation, 0)

    async def wait(self, remaining: Callable[[], float]) -> None:
        """Poll `remaining` (seconds; the webhook's load ends in another process) until it is 0."""
        while True:
            wait = remaining()
            if wait <= 0:
                return
            await asyncio.sleep(min(wait, self._recheck_s))


class PageSlot:
    """One page's place in the schedule, from its read to its store (a
    `subscriptions.calllog.PacedPage`)."""

    def __init__(self, pacing: SyncPacing, reservation: Reservation | None) -> None:
        self._pacing = pacing
        self.reservation = reservation  # until it is filled

    async def before_store(self, records: int) -> None:
        """The page read holds `records`: wait for the end of its time, or until the webhook is
        no longer busy."""
        reservation, self.reservation = self.reservation, None
        if reservation is None:
            return
        store_at = self._pacing.fill(reservation, records)
        await self._pacing.wait(lambda: self._pacing.seconds_until(store_at))


def busy_since(
    last_stored_at: Callable[[], float], clock: Callable[[], float] = time.monotonic
) -> Callable[[], bool]:
    """`webhook_busy` from when the webhook last stored a notification (monotonic seconds). The
    first `BUSY_WITHIN_S` after this call count as busy too: a restart under live traffic does
    not begin with a burst before the first notification is in."""
    started = clock()
    return lambda: clock() - max(last_stored_at(), started) < BUSY_WITHIN_S


def never_busy() -> bool:
    return False
