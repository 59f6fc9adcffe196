"""A fixture day: recorded calls placed at known times on 2026-03-10 (UTC), plus one the next day.

The expected numbers in the tests are computed by hand from this table (category, wait_s of
answered calls, time_to_abandon_s of abandons, queue, extensions with a leg), which is what the
real processor makes of each fixture call:

| UTC     | label         | category            | wait/tta | queue | extensions with a leg  |
|---------|---------------|---------------------|----------|-------|------------------------|
| 09:00   | direct        | answered            | w 8.2    |       | 401                    |
| 09:20   | queue_answer  | answered            | w 9.45   | Sales | 300 401 402            |
| 09:40   | queue_abandon | abandoned_queue     | t 48.0   | Sales | 300 401 402            |
| 10:05   | ringing       | abandoned_ringing   | t 18.0   |       | 401                    |
| 10:10   | short_ring    | short_abandon       | t 3.0    |       | 401                    |
| 10:30   | ivr           | abandoned_ivr       | t 25.0   |       | 200                    |
| 10:50   | vm_left       | voicemail_left      |          |       | 401                    |
| 11:15   | vm_greeting   | abandoned_voicemail | t 24.0   |       | 401                    |
| 11:30   | missed        | missed              |          |       | 401                    |
| 11:45   | short_ivr     | short_abandon       | t 2.0    |       | 200                    |
| 12:00   | park          | answered            | w 6.0    |       | 401                    |
| 12:20   | outbound      | outbound_connected  |          |       | 401 (outbound)         |
| 12:30   | internal      | abandoned_ringing   | t 12.0   |       | 401 402 (internal)     |
| 12:40   | in_progress   | in_progress         |          |       | 401 (not final)        |
| +1d 01h | next_day      | answered            | w 4.0    |       | 401                    |

(w = wait_s of an answered call, t = time_to_abandon_s; Sales = "Sales Queue"; extensions are
300300016 (the queue), 300401016 (Alice), 300402016 (Bob), 300200016 (the IVR).)
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.api.support import Notification, placed

DAY = datetime(2026, 3, 10, tzinfo=UTC)
NEXT_DAY = datetime(2026, 3, 11, tzinfo=UTC)
PROCESSED_AT = datetime(2026, 3, 10, 12, 41, tzinfo=UTC)  # the in-progress call is still ringing

CALLS: dict[str, tuple[str, datetime]] = {
    "direct": ("answered-direct-ext", DAY.replace(hour=9)),
    "queue_answer": ("answered-queue-account", DAY.replace(hour=9, minute=20)),
    "queue_abandon": ("abandoned-queue-account", DAY.replace(hour=9, minute=40)),
    "ringing": ("abandoned-ringing-account", DAY.replace(hour=10, minute=5)),
    "short_ring": ("short-abandon-ringing-account", DAY.replace(hour=10, minute=10)),
    "ivr": ("abandoned-ivr-account", DAY.replace(hour=10, minute=30)),
    "vm_left": ("voicemail-left-account", DAY.replace(hour=10, minute=50)),
    "vm_greeting": ("voicemail-greeting-hangup-account", DAY.replace(hour=11, minute=15)),
    "missed": ("missed-ring-timeout-account", DAY.replace(hour=11, minute=30)),
    "short_ivr": ("short-abandon-ivr-account", DAY.replace(hour=11, minute=45)),
    "park": ("answered-park-pickup-account", DAY.replace(hour=12)),
    "outbound": ("outbound-connected-ext", DAY.replace(hour=12, minute=20)),
    "internal": ("abandoned-ringing-internal", DAY.replace(hour=12, minute=30)),
    "in_progress": ("in-progress-ringing-account", DAY.replace(hour=12, minute=40)),
    "next_day": ("answered-hold-hangup-account", NEXT_DAY.replace(hour=1)),
}
LABELS = list(CALLS)
SESSION = {label: f"s-{position + 1:032x}" for position, label in enumerate(LABELS)}


def day_notifications() -> list[Notification]:
    notifications: list[Notification] = []
    for label, (fixture, at) in CALLS.items():
        notifications += placed(fixture, at=at, hex_id=SESSION[label].removeprefix("s-"))
    return notifications


def sessions(*labels: str) -> list[str]:
    """Session ids of the labelled calls, newest first (the API's order)."""
    return [SESSION[label] for label in sorted(labels, key=lambda lb: CALLS[lb][1], reverse=True)]
