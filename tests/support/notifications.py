"""Posting notifications to the service under test: encoded, many at a time.

The notifications themselves come from fixtures (`fixtures.notifications`, `fixtures.builder`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson


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
