"""Outgoing HTTP: the validation handshake and notification delivery, with a record of each.

One shared `httpx.AsyncClient` and a concurrency limit. Requests carry RingCentral's headers
(`Content-Type: application/json; charset=UTF-8`, `User-Agent: RingCentral-Webhook/8.3`,
`Accept: application/json`, `Verification-Token` when set). A delivery fails on a non-2xx status,
no whole response within the timeout, a response (status line + headers + body) over 1024 bytes,
or a connection error; failures count toward blacklisting with reasons phrased like the platform's.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import orjson

from emulator.clock import SimClock, iso
from emulator.config import EmulatorConfig
from emulator.errors import api_error

USER_AGENT = "RingCentral-Webhook/8.3"
BASE_HEADERS = {
    "Content-Type": "application/json; charset=UTF-8",
    "Accept": "application/json",
    "Accept-Encoding": "UTF-8",
    "User-Agent": USER_AGENT,
}


@dataclass(frozen=True, slots=True)
class HttpResult:
    """What came back from one POST."""

    status: int | None
    response_bytes: int
    latency_ms: float
    failure: str | None  # None: success; else a blacklist-style reason
    kind: str  # "ok", "status", "too_big", "timeout", "connect"
    echoed_token: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    kind: str  # "notification", "reminder", "validation"
    subscription_id: str | None
    address: str
    uuid: str | None
    event: str | None
    telephony_session_id: str | None
    sequence: int | None
    at: datetime
    outcome: str  # "delivered", "failed", "dropped", "lost", "suppressed"
    status: int | None
    error: str | None
    latency_ms: float | None
    response_bytes: int | None
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subscriptionId": self.subscription_id,
            "address": self.address,
            "uuid": self.uuid,
            "event": self.event,
            "telephonySessionId": self.telephony_session_id,
            "sequence": self.sequence,
            "at": iso(self.at),
            "outcome": self.outcome,
            "status": self.status,
            "error": self.error,
            "latencyMs": self.latency_ms,
            "responseBytes": self.response_bytes,
            "duplicate": self.duplicate,
        }


def response_size(response: httpx.Response, body_bytes: int) -> int:
    """Bytes of the whole response as sent: status line, header lines, blank line, body."""
    status_line = f"{response.http_version} {response.status_code} {response.reason_phrase}\r\n"
    headers = sum(len(name) + len(value) + 4 for name, value in response.headers.raw)
    return len(status_line.encode()) + headers + 2 + body_bytes


class HttpPoster:
    """POSTs JSON the way the platform does, measuring time and the response's size."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._config = config
        self._client: httpx.AsyncClient | None = None
        # each request runs under its own asyncio deadline; this only bounds a stuck socket
        self._safety_timeout_s = 1 + max(config.delivery_timeout_s, config.validation_timeout_s)

    async def start(self) -> None:
        self._ensure_client()

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                timeout=httpx.Timeout(self._safety_timeout_s),
                limits=httpx.Limits(max_connections=self._config.delivery_concurrency),
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(
        self,
        address: str,
        payload: bytes,
        headers: dict[str, str],
        *,
        timeout_s: float,
        echo_header: str | None = None,
    ) -> HttpResult:
        client = self._ensure_client()
        limit = self._config.max_response_bytes
        began = time.perf_counter()
        try:
            async with asyncio.timeout(timeout_s):
                async with client.stream(
                    "POST", address, content=payload, headers={**BASE_HEADERS, **headers}
                ) as response:
                    body = 0
                    async for chunk in response.aiter_raw():
                        body += len(chunk)
                        if body > limit:
                            break
        except TimeoutError:
            return self._failed(
                began, "timeout", "I/O operation is failed. Details: [Read timed out]"
            )
        except httpx.HTTPError as exc:
            detail = (
                "Connection refused" if isinstance(exc, httpx.ConnectError) else type(exc).__name__
            )
            return self._failed(began, "connect", f"I/O operation is failed. Details: [{detail}]")
        latency = (time.perf_counter() - began) * 1000
        size = response_size(response, body)
        echoed = response.headers.get(echo_header) if echo_header else None
        status = response.status_code
        if not 200 <= status < 300:
            reason = f"Webhook responses with code: [{status}], reason: [{response.reason_phrase}]"
            return HttpResult(status, size, latency, reason, "status", echoed)
        if size > limit:
            reason = f"Webhook response exceeds max size. Read bytes count: [{limit}]"
            return HttpResult(status, size, latency, reason, "too_big", echoed)
        return HttpResult(status, size, latency, None, "ok", echoed)

    @staticmethod
    def _failed(began: float, kind: str, reason: str) -> HttpResult:
        return HttpResult(None, 0, (time.perf_counter() - began) * 1000, reason, kind)


async def validation_handshake(
    poster: HttpPoster, address: str, token: str, timeout_s: float
) -> None:
    """The pre-create check: 200 within the budget, the header echoed, at most 1024 bytes.

    Raises SUB-521 (unreachable or too slow), SUB-525 (bad status or too big), SUB-520 (no echo).
    """
    result = await poster.post(
        address,
        b"",
        {"Validation-Token": token},
        timeout_s=timeout_s,
        echo_header="Validation-Token",
    )
    if result.kind in ("timeout", "connect"):
        raise api_error(400, "SUB-521", "WebHook is not reachable")
    if result.status != 200 or result.kind == "too_big":
        raise api_error(400, "SUB-525", "WebHook server response is invalid")
    if result.echoed_token != token:
        raise api_error(400, "SUB-520", "Validation Token is not returned")


class DeliveryLog:
    """Every delivery attempt and its result, newest last, bounded."""

    def __init__(self, capacity: int) -> None:
        self._records: deque[DeliveryRecord] = deque(maxlen=capacity)
        self._next_id = 1

    def add(self, clock: SimClock, **fields: Any) -> DeliveryRecord:
        record = DeliveryRecord(id=self._next_id, at=clock.now(), **fields)
        self._next_id += 1
        self._records.append(record)
        return record

    def records(self, subscription_id: str | None = None) -> list[DeliveryRecord]:
        return [r for r in self._records if subscription_id in (None, r.subscription_id)]

    def clear(self) -> None:
        self._records.clear()


def encode(envelope: dict[str, Any]) -> bytes:
    return orjson.dumps(envelope)
