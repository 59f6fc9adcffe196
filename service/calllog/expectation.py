"""Whether the processor should wait for a call's call-log record: the call-log loop says what
it has read (`CallLogExpectation`), the processor asks it per session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# A call that ended this long before the call-log sync's cursor would have its record by then:
# without one, its outcome stops waiting for the call log (`events_only`).
CALL_LOG_SETTLE = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class CallLogExpectation:
    """Whether call-log records are expected (some credential syncs its call log) and how far
    the least advanced sync has read (None while one has never finished a window)."""

    expected: bool = False
    synced_through: datetime | None = None

    def settled_before(self, now: datetime) -> datetime | None:
        """Sessions with no record last heard of before this no longer wait for one: the sync
        has read far enough past them (all sessions up to `now` when no record is expected;
        None, every session waits, while some sync has never finished a window)."""
        if not self.expected:
            return now
        if self.synced_through is None:
            return None
        return self.synced_through - CALL_LOG_SETTLE

    def awaiting(self, last_event_at: datetime) -> bool:
        """Whether a session with no record, last heard of at `last_event_at`, still waits (the
        answer is the same at any moment from then on)."""
        settled = self.settled_before(last_event_at)
        return settled is None or last_event_at > settled


NO_CALL_LOG = CallLogExpectation()
