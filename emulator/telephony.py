"""How a RingCentral telephony-session notification is shaped: envelope, body and party.

The one place that knows the shape: the emulator renders its scenarios with it, and the
fixtures, the tests and the bench build their synthetic notifications with it. RingCentral posts
one party per notification (DOC:notifications/event-filters/telephony-session); the envelope's
`event` is the party's extension path, or the account path for a PSTN party.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from emulator.clock import iso

API = "/restapi/v1.0"


def telephony_path(account_id: str, extension_id: str | None) -> str:
    """The envelope `event` of a party: extension path, or account path for PSTN parties."""
    if extension_id is None:
        return f"{API}/account/{account_id}/telephony/sessions"
    return f"{API}/account/{account_id}/extension/{extension_id}/telephony/sessions"


def envelope(
    *,
    uuid: str,
    event: str,
    timestamp: datetime,
    subscription_id: str,
    owner_id: str | None,
    body: Any,
) -> dict[str, Any]:
    """What one subscription receives: any notification's envelope around its `body`."""
    return {
        "uuid": uuid,
        "event": event,
        "timestamp": iso(timestamp),
        "subscriptionId": subscription_id,
        "ownerId": owner_id,
        "body": body,
    }


def telephony_body(
    *,
    sequence: int,
    session_id: str,
    telephony_session_id: str,
    server_id: str,
    event_time: datetime,
    party: dict[str, Any],
    origin: str,
) -> dict[str, Any]:
    """A telephony-session event: one party's state at one per-session `sequence`."""
    return {
        "sequence": sequence,
        "sessionId": session_id,
        "telephonySessionId": telephony_session_id,
        "serverId": server_id,
        "eventTime": iso(event_time),
        "parties": [party],
        "origin": {"type": origin},
    }


def party(
    *,
    account_id: str,
    extension_id: str | None,
    party_id: str,
    direction: str,
    from_: Mapping[str, str],
    to: Mapping[str, str],
    code: str,
    reason: str | None = None,
    peer: Mapping[str, str] | None = None,
    park: Mapping[str, str] | None = None,
    park_data: str | None = None,
    pickup_mailbox: str | None = None,
    missed: bool = False,
    queue_call: bool = False,
    ui_call_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A party snapshot as the captures show it (`rcc: false`, `park`, `missedCall`,
    `standAlone`, `muted`); `park_data` and `pickup_mailbox` fill the status's `parkData` and
    `mobilePickupData`."""
    status: dict[str, Any] = {"code": code, "rcc": False}
    if reason:
        status["reason"] = reason
    if peer:
        status["peerId"] = dict(peer)
    if park_data:
        status["parkData"] = park_data
    if pickup_mailbox:
        status["mobilePickupData"] = {"ccMailboxes": [pickup_mailbox]}
    snapshot: dict[str, Any] = {"accountId": account_id}
    if extension_id:
        snapshot["extensionId"] = extension_id
    snapshot |= {
        "id": party_id,
        "direction": direction,
        "to": dict(to),
        "from": dict(from_),
        "status": status,
        "park": dict(park or {}),
        "missedCall": missed,
        "standAlone": False,
        "muted": False,
    }
    if queue_call:
        snapshot["queueCall"] = True
    if ui_call_info:
        snapshot["uiCallInfo"] = dict(ui_call_info)
    return snapshot
