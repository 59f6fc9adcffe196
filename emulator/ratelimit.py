"""User-level rate limits per (user, app, group) over a sliding window, on the simulated clock.

DOC:basics/rate-limits: Light 50, Medium 40, Heavy 10, Auth 5 requests a minute; a breach answers
429 with `Retry-After` and starts a 60 s penalty, and every request during the penalty restarts it.
Responses of limited groups carry `X-Rate-Limit-Group/Limit/Remaining/Window`. Off by default.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulator.config import DEFAULT_RATE_LIMITS, RateGroup, RateLimit
from emulator.errors import api_error

RateKey = tuple[str, str, RateGroup]  # (user, app, group)


@dataclass(slots=True)
class _Bucket:
    hits: deque[datetime] = field(default_factory=deque)
    penalty_until: datetime | None = None


class RateLimiter:
    def __init__(self, limits: Mapping[RateGroup, RateLimit], *, enabled: bool) -> None:
        self.enabled = enabled
        self.limits: dict[RateGroup, RateLimit] = {**DEFAULT_RATE_LIMITS, **limits}
        self._buckets: dict[RateKey, _Bucket] = {}

    def configure(
        self, *, enabled: bool, limits: Mapping[RateGroup, RateLimit] | None = None
    ) -> None:
        self.enabled = enabled
        if limits:
            self.limits.update(limits)
        self._buckets.clear()

    def reset(self) -> None:
        self._buckets.clear()

    def hit(self, user: str, app: str, group: RateGroup, now: datetime) -> dict[str, str]:
        """Count one request; return the rate headers, or raise 429 (CMN-301) when over."""
        if not self.enabled:
            return {}
        limit = self.limits[group]
        bucket = self._buckets.setdefault((user, app, group), _Bucket())
        window = timedelta(seconds=limit.window_s)
        while bucket.hits and bucket.hits[0] <= now - window:
            bucket.hits.popleft()
        headers = {
            "X-Rate-Limit-Group": group.value.lower(),
            "X-Rate-Limit-Limit": str(limit.requests),
            "X-Rate-Limit-Window": str(int(limit.window_s)),
        }
        penalised = bucket.penalty_until is not None and now < bucket.penalty_until
        if penalised or len(bucket.hits) >= limit.requests:
            bucket.penalty_until = now + timedelta(seconds=limit.penalty_s)
            headers["X-Rate-Limit-Remaining"] = "0"
            headers["Retry-After"] = str(math.ceil(limit.penalty_s))
            raise api_error(429, "CMN-301", "Request rate exceeded", headers=headers)
        bucket.hits.append(now)
        headers["X-Rate-Limit-Remaining"] = str(limit.requests - len(bucket.hits))
        return headers
