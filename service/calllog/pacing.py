"""The call-log sync gives way to live webhooks: while notifications arrive, it stores at most
`calllog_busy_records_per_s` records a second, on all credentials together.

A backfill (seven days of every extension's history when it first connects) is history: it can
wait. A notification the webhook does not acknowledge in time may be lost. On a small machine a
backfill at full speed (its pages validated and stored, the processor reconciling each record,
about half a millisecond of CPU a record between the processes) keeps both cores busy, and the
webhook waits for one now and then: its p99 over sequential notifications was 2.4 x the one
without a backfill (bench/notes.md). So each page reserves its slot in a shared schedule (`n`
records come `n / rate` seconds after the slot before, the first page too: no burst to begin
with) and waits for it, while the webhook is busy; when it falls
quiet, the waiting ends within `RECHECK_S` and the sync runs at full speed again. The webhook
counts as busy while it stored a notification within `BUSY_WITHIN_S`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

BUSY_WITHIN_S = 2.0
RECHECK_S = 0.25  # a waiting page looks again this often whether the webhook is still busy


class SyncPacing:
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

    def slot(self, records: int) -> float:
        """When a page of `records` may be stored, its time reserved: `records / rate` after the
        slot before it (or after now); now when the webhook is not busy or there is no limit."""
        now = self._clock()
        if not self._seconds_a_record or not self._webhook_busy():
            return now
        self._free_at = max(self._free_at, now) + records * self._seconds_a_record
        return self._free_at

    async def before_page(self, records: int) -> None:
        """Wait for the page's slot, or until the webhook is no longer busy."""
        start = self.slot(records)
        while True:  # the webhook's load is polled: it ends in another process
            wait = start - self._clock()
            if wait <= 0 or not self._webhook_busy():
                return
            await asyncio.sleep(min(wait, self._recheck_s))


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
