"""Settings of one emulator instance: the seed, the platform's limits, delivery and chaos knobs.

Defaults follow the documented RingCentral values (docs/emulator.md, Sources); values the platform
does not publish (blacklist threshold, reminder job period) are our choices and say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class RateGroup(StrEnum):
    """RingCentral's user-level throttling groups (`x-throttling-group` in the spec)."""

    LIGHT = "Light"
    MEDIUM = "Medium"
    HEAVY = "Heavy"
    AUTH = "Auth"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` per `window_s` per (user, app, group); a breach costs `penalty_s`."""

    requests: int
    window_s: float = 60.0
    penalty_s: float = 60.0


DEFAULT_RATE_LIMITS: Mapping[RateGroup, RateLimit] = {
    RateGroup.LIGHT: RateLimit(50),
    RateGroup.MEDIUM: RateLimit(40),
    RateGroup.HEAVY: RateLimit(10),
    RateGroup.AUTH: RateLimit(5),
}


@dataclass(frozen=True, slots=True)
class ChaosConfig:
    """Delivery faults to inject: duplicates, reordering, extra latency, drops and lost calls.

    Drops are drawn per notification; `lose_calls` and `lose_starts` per call, so a call loses
    all its notifications or the beginning of its main session while the call log stays whole.
    """

    duplicate: float = 0.0  # probability that a notification is delivered twice (same uuid)
    reorder_window: int = 0  # shuffle notifications within consecutive windows of this size
    delay_s: float = 0.0  # extra delay per delivery, uniform in [0, delay_s] (real seconds)
    drop: float = 0.0  # probability that a notification is never delivered
    lose_calls: float = 0.0  # probability that a call loses every notification of every session
    lose_starts: float = 0.0  # probability that a call loses the first events of its main session

    def __post_init__(self) -> None:
        for name in ("duplicate", "drop", "lose_calls", "lose_starts"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                msg = f"chaos {name} must be a probability in [0, 1], got {value}"
                raise ValueError(msg)
        if self.reorder_window < 0 or self.delay_s < 0:
            msg = "chaos reorder_window and delay_s must not be negative"
            raise ValueError(msg)


SessionIdStyle = Literal["classic", "new", "mixed"]


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Everything that shapes one emulator. All state is in memory and derives from `seed`."""

    seed: int = 0
    # Seeds the calls played (scenarios, session ids, notification uuids); None: `seed`. Give a
    # fresh one to replay the same company without replaying its calls.
    calls_seed: int | None = None
    # Public base URL used in URIs inside notifications and JWT claims. None: the base URL of the
    # most recent request (REST responses always use their own request's base URL).
    server_url: str | None = None

    # OAuth (DOC:authentication/*; SPEC JwtTokenRequest)
    access_token_ttl_s: int = 3600
    access_token_ttl_min_s: int = 600
    refresh_token_ttl_s: int = 604_800
    refresh_token_ttl_max_s: int = 2_592_000
    sessions_per_user: int = 5
    rotation_grace_after_use_s: float = 10.0
    rotation_grace_unused_s: float = 3600.0
    old_access_corrupted_s: float = 10.0

    # Subscriptions (SPEC createSubscription; DOC:notifications/webhooks/*)
    subscriptions_per_user: int = 30
    subscription_default_ttl_s: int = 604_800
    subscription_max_ttl_s: int = 315_360_000
    reminder_job_period_s: int = 15  # not published; bounds the reminder parameters (SUB-516)
    require_https: bool = False  # the real platform refuses http:// (SUB-523)
    validation_timeout_s: float = 3.0

    # Delivery (DOC:notifications/webhooks/*; thresholds are not published)
    delivery_timeout_s: float = 3.0
    max_response_bytes: int = 1024
    blacklist_after_failures: int = 10
    delivery_concurrency: int = 16
    chaos: ChaosConfig = ChaosConfig()
    max_delivery_records: int = 100_000

    # Outside numbers that call again (and are called back): a share of the calls of a play
    # (`Ids.REGULAR_SHARE`) use one of this many numbers, the same in every play; 0: every
    # outside number is new.
    regular_callers: int = 0

    # Call log (DOC:voice/call-log/*). A record shows as "In Progress" from the call's start plus
    # `call_log_in_progress_delay_s` (< 0: never) until its final version appears.
    call_log_delay_s: float = 20.0
    call_log_in_progress_delay_s: float = 5.0
    call_log_sync_max_records: int = 250

    # Rate limits (DOC:basics/rate-limits); off unless enabled here or through the admin API
    rate_limits_enabled: bool = False
    rate_limits: Mapping[RateGroup, RateLimit] = field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS)
    )

    # Background timer (subscription expiry, renewal reminders), in real seconds; 0 disables it
    timer_tick_s: float = 1.0
    session_id_style: SessionIdStyle = "mixed"
