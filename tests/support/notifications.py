"""Build RingCentral telephony-session notifications shaped like the real captures."""

from __future__ import annotations

import asyncio
import uuid as uuid_module
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

ACCOUNT_ID = "809646016"
SUBSCRIPTION_ID = "2461434a-276a-4073-bd26-34089effbad5"
BASE_TIME = datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def _rc_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def telephony_notification(
    *,
    uuid: str | None = None,
    session_hex: str | None = None,
    sequence: int = 2,
    extension_id: str | None = "62242421016",
    status: str = "Setup",
    at: datetime | None = None,
    subscription_id: str = SUBSCRIPTION_ID,
) -> dict[str, Any]:
    """One notification carrying one party, as RingCentral posts it."""
    session_hex = session_hex or uuid_module.uuid4().hex
    moment = at or BASE_TIME + timedelta(seconds=sequence)
    party: dict[str, Any] = {
        "accountId": ACCOUNT_ID,
        "id": f"p-{session_hex}-{2 if extension_id else 1}",
        "direction": "Inbound" if extension_id else "Outbound",
        "to": {"phoneNumber": "+18003151571", "name": "IVR Menu 1001"},
        "from": {"phoneNumber": "+14083388064"},
        "status": {"code": status, "rcc": False},
        "park": {},
        "missedCall": False,
        "standAlone": False,
        "muted": False,
    }
    event = f"/restapi/v1.0/account/{ACCOUNT_ID}/telephony/sessions"
    if extension_id:
        party["extensionId"] = extension_id
        party["to"]["extensionId"] = extension_id
        event = f"/restapi/v1.0/account/{ACCOUNT_ID}/extension/{extension_id}/telephony/sessions"
    return {
        "uuid": uuid or str(uuid_module.uuid4().int >> 64),
        "event": event,
        "timestamp": _rc_time(moment + timedelta(milliseconds=50)),
        "subscriptionId": subscription_id,
        "ownerId": ACCOUNT_ID,
        "body": {
            "sequence": sequence,
            "sessionId": "429180487016",
            "telephonySessionId": f"s-{session_hex}",
            "serverId": "10.13.22.27.TAM",
            "eventTime": _rc_time(moment),
            "parties": [party],
            "origin": {"type": "Call"},
        },
    }


def encode(notification: dict[str, Any]) -> bytes:
    return orjson.dumps(notification)


async def post_concurrently(
    base_url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    *,
    in_flight: int = 20,
) -> list[httpx.Response]:
    """POST every body to the webhook, `in_flight` at a time, each on its own pooled connection.

    The bound keeps httpx's connection pool from queueing (its queue scan is quadratic, which
    would make the client, not the server, the slow side).
    """
    gate = asyncio.Semaphore(in_flight)
    limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)

    async with httpx.AsyncClient(base_url=base_url, limits=limits) as client:

        async def post(body: bytes) -> httpx.Response:
            async with gate:
                return await client.post("/webhooks/ringcentral", content=body, headers=headers)

        return list(await asyncio.gather(*(post(body) for body in bodies)))
