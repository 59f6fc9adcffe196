"""The times the API accepts, in parameters and cursors: 1970 to 2200 (UTC), far beyond any call
and so far from the calendar's ends that a time zone or a bucket step never overflows."""

from __future__ import annotations

from datetime import UTC, datetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
DESCRIBED = "between 1970-01-01 and 2200-01-01 (UTC)"


def within(moment: datetime) -> bool:
    return EARLIEST <= moment <= LATEST
