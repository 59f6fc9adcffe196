"""`GET /v1/abandoned?unrecovered=true`: the callback list.

One row per caller number whose abandoned calls of the recovery window (ending at the summary's
`as_of`) no later call has reached, oldest first (by each number's first such call, then by
number), with every such attempt; and how the window's abandoned calls were recovered. Only the
numbers of one answer are read and rendered: the others are counted in the database. Its ETag
is the change counter and `as_of`: a row leaves the list when a call recovers it (a change) or
when its window has passed (`as_of` moves on), so a 304 needs no read of `call_outcomes`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from classifiers.outcome import CATEGORY_LABELS
from service.api import queries
from service.api.documents import iso
from service.api.queries import UnrecoveredRow

LABELS: dict[str, str] = {category.value: label for category, label in CATEGORY_LABELS.items()}


def callbacks_etag(last_seq: int, as_of: datetime, include_short: bool) -> str:
    return f'"cb-{last_seq}-{int(as_of.timestamp())}-{"s" if include_short else "n"}"'


def callback_rows(abandons: Iterable[UnrecoveredRow], window: timedelta) -> list[dict[str, Any]]:
    """The abandons (in order of start, then session id) grouped by caller number, in order of
    each number's first attempt (then of the number)."""
    numbers: dict[str, list[UnrecoveredRow]] = {}
    for abandon in abandons:
        attempts = numbers.get(abandon.caller_key)
        if attempts is None:
            numbers[abandon.caller_key] = [abandon]
        else:
            attempts.append(abandon)
    ordered = sorted(numbers.values(), key=lambda calls: (calls[0].started_at, calls[0].caller_key))
    return [_row(attempts, window) for attempts in ordered]


def _row(attempts: list[UnrecoveredRow], window: timedelta) -> dict[str, Any]:
    """One number's row; its times are UTC datetimes, for `UtcOrjsonResponse` to write."""
    first, last = attempts[0], attempts[-1]
    return {
        "number": last.from_number,
        "caller_key": first.caller_key,
        "attempts": len(attempts),
        "first_abandoned_at": first.started_at,
        "last_abandoned_at": last.started_at,
        "call_back_before": last.started_at + window,
        "calls": [
            {
                "telephony_session_id": attempt.telephony_session_id,
                "started_at": attempt.started_at,
                "ended_at": attempt.ended_at,
                "category": attempt.category,
                "category_label": LABELS.get(attempt.category),
                "queue": attempt.queue,
                "time_to_abandon_s": attempt.time_to_abandon_s,
            }
            for attempt in attempts
        ],
    }


async def callback_list(
    connection: AsyncConnection,
    *,
    as_of: datetime,
    window: timedelta,
    include_short: bool,
    limit: int,
) -> dict[str, Any]:
    start = as_of - window
    unrecovered = await queries.unrecovered_abandons(
        connection, since=start, include_short=include_short, numbers=limit
    )
    counts = await queries.recovery_counts(
        connection, start=start, end=as_of, include_short=include_short
    )
    return {
        "callbacks": callback_rows(unrecovered.abandons, window),
        "has_more": unrecovered.numbers > limit,
        "numbers": unrecovered.numbers,
        "as_of": iso(as_of),
        "window_s": window.total_seconds(),
        "recovery": recovery_block(counts),
    }


def recovery_block(counts: queries.RecoveryCounts) -> dict[str, Any]:
    return {
        "abandoned": counts.abandoned,
        "recovered": counts.recovered,
        "recovery_rate": counts.recovered / counts.abandoned if counts.abandoned else None,
        "median_time_to_recovery_s": counts.median_time_to_recovery_s,
    }
