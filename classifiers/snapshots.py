"""REST session snapshots read as notifications, for people who hold those instead of events.

`GET /restapi/v1.0/account/{accountId}/telephony/sessions/{telephonySessionId}` returns a
`CallSessionObject`: `{id, origin, voiceCallToken, creationTime, parties}`, each party naming its
extension under `owner: {accountId, extensionId}` rather than `extensionId` (`classifiers.events`
reads either). A snapshot has no `sequence` and no event time: it becomes one notification at
`creationTime` (the only time it carries), numbered by the caller in the order snapshots of a
session are given. Its timings are therefore zero; its statuses are what the snapshot says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classifiers.events import ParseError

SNAPSHOT_UUID_PREFIX = "snapshot:"
SNAPSHOT_EVENT = "/restapi/v1.0/account/~/telephony/sessions"


def is_session_snapshot(raw: Mapping[str, Any]) -> bool:
    """Whether a decoded document looks like a REST session snapshot (and not a notification)."""
    return (
        "event" not in raw
        and isinstance(raw.get("id"), str)
        and isinstance(raw.get("parties"), list)
        and ("creationTime" in raw or "origin" in raw)
    )


def notification_from_snapshot(
    raw: Mapping[str, Any], sequence: int
) -> dict[str, Any] | ParseError:
    """The snapshot as an account-level notification envelope with the given `sequence`."""
    created = raw.get("creationTime")
    if not isinstance(created, str) or not created:
        return ParseError("a REST session snapshot without `creationTime` (no time to read it at)")
    session_id: str = raw["id"]
    body: dict[str, Any] = {
        "sequence": sequence,
        "telephonySessionId": session_id,
        "eventTime": created,
        "parties": raw["parties"],
    }
    if isinstance(raw.get("origin"), dict):
        body["origin"] = raw["origin"]
    return {
        "uuid": f"{SNAPSHOT_UUID_PREFIX}{session_id}:{sequence}",
        "event": SNAPSHOT_EVENT,
        "timestamp": created,
        "body": body,
    }
