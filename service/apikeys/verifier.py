"""A per-process memory of recently verified API keys, so the poll path rarely reads the database.

Only digests are remembered, never keys. An entry expires after `ttl_s`: a revoked key stops
working within that time. The database lookup itself happens in the request's auth dependency.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from service.apikeys.keys import digest_of

MAX_ENTRIES = 10_000
LAST_USED_EVERY = timedelta(minutes=1)


class VerifiedKeys:
    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def vouches_for(self, secret: str) -> bool:
        """Whether this key was verified recently enough to be accepted from memory."""
        return self.is_fresh(digest_of(secret))

    def is_fresh(self, digest: str) -> bool:
        expiry = self._expiry.get(digest)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._expiry[digest]
            return False
        return True

    def remember(self, digest: str) -> None:
        if self._ttl_s <= 0:
            return
        if len(self._expiry) >= MAX_ENTRIES:
            self._expiry.clear()
        self._expiry[digest] = self._clock() + self._ttl_s


def use_is_due(last_used_at: datetime | None, now: datetime) -> bool:
    """Record `last_used_at` at most once a minute per key (it is a write on the read path)."""
    return last_used_at is None or now - last_used_at >= LAST_USED_EVERY
