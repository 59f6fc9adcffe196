"""Slow and stalled clients against `callsift run`: 500 connections that stall in their headers or
their body, or that send 1 MB bodies with a forged token, neither take the service's memory nor
stop it serving others, and are dropped once the read timeout passes; past the connection limit new
requests are answered 503 (once, 200 stalled 1 MB bodies took the process from 131 to 323 MB,
with a forged token too, and nothing ever dropped them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import orjson

from fixtures.notifications import telephony_notification
from tests.faults.support import (
    WEBHOOK_HEADERS,
    WEBHOOK_PATH,
    CallsiftProcess,
    callsift_run,
    report,
)

STALLED_BODIES, STALLED_HEADERS, FORGED = 200, 100, 200  # 500 connections of the 1,000 allowed
READ_TIMEOUT_S = "3"  # shorter than the shipped 10 s, so that the test waits less for it
DECLARED_BODY = 1024 * 1024 - 1  # just under CALLSIFT_MAX_BODY_BYTES


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    msg = f"no VmRSS for process {pid}"
    raise AssertionError(msg)


def _head(port: int, token: str, length: int) -> bytes:
    return (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nVerification-Token: {token}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


@asynccontextmanager
async def connections(
    port: int, count: int, first_bytes: bytes
) -> AsyncIterator[list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]:
    """`count` connections that each send `first_bytes` and then nothing more."""
    opened = []
    try:
        for _ in range(count):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(first_bytes)
            opened.append((reader, writer))
        await asyncio.gather(*(writer.drain() for _, writer in opened))
        yield opened
    finally:
        for _, writer in opened:
            writer.close()


async def status_line(reader: asyncio.StreamReader) -> bytes:
    """The status line the server answered before it closed (b"" if it closed without one);
    fails if the server keeps the connection for a minute."""
    async with asyncio.timeout(60):
        line = await reader.readline()
        await reader.read()  # to the end: the server closes
    return line.strip()


async def one_webhook_is_stored(service: CallsiftProcess, serial: int) -> int:
    async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
        body = orjson.dumps(telephony_notification(sequence=serial))
        response = await client.post(WEBHOOK_PATH, content=body, headers=WEBHOOK_HEADERS)
        return response.status_code


async def test_stalled_and_forged_clients_take_no_memory_and_are_dropped(
    database_url: str, tmp_path: Path
) -> None:
    async with callsift_run(
        database_url, tmp_path, "slow", http_read_timeout_s=READ_TIMEOUT_S
    ) as service:
        assert await one_webhook_is_stored(service, 1) == 200
        before = rss_bytes(service.process.pid)
        token = WEBHOOK_HEADERS["Verification-Token"]
        in_body = _head(service.port, token, DECLARED_BODY) + b'{"padding": "' + b"x" * 65_536
        in_headers = f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: x\r\nContent-Ty".encode()
        forged = _head(service.port, "forged-token", DECLARED_BODY) + b"x" * 65_536
        async with (
            connections(service.port, STALLED_BODIES, in_body) as stalled_bodies,
            connections(service.port, STALLED_HEADERS, in_headers) as stalled_headers,
            connections(service.port, FORGED, forged) as forged_bodies,
        ):
            # served meanwhile: a real notification and the health check
            assert await one_webhook_is_stored(service, 2) == 200
            during = rss_bytes(service.process.pid)
            forged_answers = await asyncio.gather(*(status_line(r) for r, _ in forged_bodies))
            dropped = await asyncio.gather(
                *(status_line(r) for r, _ in [*stalled_bodies, *stalled_headers])
            )
        growth_mb = (during - before) / 2**20
        slow = STALLED_BODIES + STALLED_HEADERS + FORGED
        report(f"{slow} slow connections: RSS {before / 2**20:.0f} MB, +{growth_mb:.0f} MB")
        # answered before the body was read, and the connection dropped at the read timeout
        assert set(forged_answers) == {b"HTTP/1.1 403 Forbidden"}
        assert set(dropped) == {b"HTTP/1.1 408 Request Timeout"}
        # 200 bodies of 64 kB are 13 MB; the forged ones cost nothing
        assert growth_mb < 100
        assert await one_webhook_is_stored(service, 3) == 200


async def test_past_the_connection_limit_requests_get_503(
    database_url: str, tmp_path: Path
) -> None:
    async with callsift_run(
        database_url,
        tmp_path,
        "limit",
        http_read_timeout_s=READ_TIMEOUT_S,
        http_max_connections="20",
    ) as service:
        in_body = _head(service.port, WEBHOOK_HEADERS["Verification-Token"], 1000) + b"{"
        async with connections(service.port, 20, in_body) as stalled:
            async with httpx.AsyncClient(base_url=service.base_url, timeout=10) as client:
                over_limit = await client.get("/healthz")
            assert over_limit.status_code == 503
            await asyncio.gather(*(status_line(reader) for reader, _ in stalled))
        assert await one_webhook_is_stored(service, 4) == 200
