"""Abandoned-caller recovery: which later call reached a caller who had given up.

An abandoned call is *recovered* by the earliest call with the same caller number that reached
that caller (an inbound call answered by a person, an outbound call that connected) and started
no earlier than the abandoned call and within the recovery window of its start. The rule reads
only the set of one number's calls, never the order in which they arrived, so the processor can
recompute it whenever any of those calls changes (docs/outcomes.md section 13).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from classifiers.outcome import Category, Direction
from classifiers.timing import shifted

# Numbers are compared by their digits; RingCentral writes E.164 (+16505550100) but a number
# dialled out may carry the US/Canada national form (6505550100), which is the same caller.
NANP_NATIONAL_DIGITS = 10
MIN_KEY_DIGITS = 2
DEFAULT_RECOVERY_WINDOW = timedelta(days=1)
REACHING_CATEGORIES = frozenset({Category.ANSWERED, Category.OUTBOUND_CONNECTED})


def number_key(number: str | None) -> str | None:
    """The digits that identify a phone number, or None when it cannot be called back
    (missing, anonymous, or too short to be a number)."""
    if not number:
        return None
    digits = "".join(ch for ch in number if ch.isascii() and ch.isdigit())
    if len(digits) < MIN_KEY_DIGITS:
        return None
    if len(digits) == NANP_NATIONAL_DIGITS and not number.lstrip().startswith("+"):
        return "1" + digits
    return digits


def caller_key(direction: Direction, from_number: str | None, to_number: str | None) -> str | None:
    """The key of the party outside: the caller of an inbound or internal call, the called
    number of an outbound call."""
    return number_key(to_number if direction is Direction.OUTBOUND else from_number)


def reached_at(
    category: Category, answered_at: datetime | None, started_at: datetime | None
) -> datetime | None:
    """When a call reached its caller, or None if it did not: answered calls and connected
    outbound calls, and calls still in progress that a person has answered."""
    if category in REACHING_CATEGORIES:
        return answered_at or started_at
    if category is Category.IN_PROGRESS:
        return answered_at
    return None


@dataclass(frozen=True, slots=True)
class RecoveryCall:
    """One call of a caller number, as the rule reads it."""

    session_id: str
    started_at: datetime
    ended_at: datetime | None
    abandoned: bool
    reached_at: datetime | None


@dataclass(frozen=True, slots=True)
class Recovery:
    recovered_at: datetime
    recovered_by: str
    time_to_recovery_s: float


@dataclass(frozen=True, slots=True, order=True)
class _Reach:
    started_at: datetime
    session_id: str
    reached_at: datetime


def recoveries(calls: Iterable[RecoveryCall], window: timedelta) -> dict[str, Recovery | None]:
    """For each abandoned call of one caller number, its recovery or None."""
    listed = list(calls)
    reaching = sorted(
        _Reach(call.started_at, call.session_id, call.reached_at)
        for call in listed
        if call.reached_at is not None and not call.abandoned
    )
    return {
        call.session_id: _first_reaching(call, reaching, window)
        for call in listed
        if call.abandoned
    }


def _first_reaching(
    abandoned: RecoveryCall, reaching: list[_Reach], window: timedelta
) -> Recovery | None:
    first = bisect.bisect_left(reaching, abandoned.started_at, key=lambda r: r.started_at)
    if first == len(reaching) or reaching[first].started_at > shifted(abandoned.started_at, window):
        return None
    reach = reaching[first]
    gave_up_at = abandoned.ended_at or abandoned.started_at
    return Recovery(
        recovered_at=reach.reached_at,
        recovered_by=reach.session_id,
        time_to_recovery_s=max(0.0, (reach.reached_at - gave_up_at).total_seconds()),
    )
