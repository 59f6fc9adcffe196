"""Per-request latency of the webhook on loopback: the handshake and a notification.

Starts `callsift run` as a separate process (uvloop, httptools, one worker) on a temporary SQLite
file and on a PostgreSQL database, sends 1,000 sequential requests of each kind over one
keep-alive connection, and prints p50/p99 in milliseconds.

    python -m bench.ingest_latency [--postgres-url postgresql+asyncpg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import orjson

from bench.harness import create_database, drop_database

TOKEN = "bench-verification-token"
REQUESTS = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_service(database_url: str, **settings: str) -> Iterator[str]:
    """`callsift run` in its own process on `database_url`, with `settings` (CALLSIFT_* names)
    on top of the webhook token; yields its base URL once it answers /healthz."""
    port = free_port()
    env = {
        **os.environ,
        "CALLSIFT_DATABASE_URL": database_url,
        "CALLSIFT_WEBHOOK_VERIFICATION_TOKEN": TOKEN,
        "CALLSIFT_LOG_LEVEL": "warning",
        "CALLSIFT_DEMO": "off",
        **settings,
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "callsift"), "run", "--port", str(port)], env=env
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _healthy(base_url):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("callsift did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def notification(sequence: int) -> bytes:
    session = uuid.uuid4().hex
    return orjson.dumps(
        {
            "uuid": str(uuid.uuid4().int >> 64),
            "event": "/restapi/v1.0/account/809646016/extension/809646016/telephony/sessions",
            "timestamp": "2026-11-29T10:00:00.050Z",
            "subscriptionId": "2461434a-276a-4073-bd26-34089effbad5",
            "ownerId": "809646016",
            "body": {
                "sequence": sequence,
                "sessionId": "429180487016",
                "telephonySessionId": f"s-{session}",
                "serverId": "10.13.22.27.TAM",
                "eventTime": "2026-11-29T10:00:00.000Z",
                "parties": [
                    {
                        "accountId": "809646016",
                        "extensionId": "809646016",
                        "id": f"p-{session}-2",
                        "direction": "Inbound",
                        "to": {"phoneNumber": "+19043014558", "extensionId": "809646016"},
                        "from": {"phoneNumber": "+14083388064"},
                        "status": {"code": "Proceeding", "rcc": False},
                        "park": {},
                        "missedCall": False,
                        "standAlone": False,
                        "muted": False,
                    }
                ],
                "origin": {"type": "Call"},
            },
        }
    )


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    return f"p50 {p50:.2f} ms, p99 {p99:.2f} ms"


def timed_posts(
    client: httpx.Client, url: str, requests: Iterable[tuple[bytes | None, dict[str, str]]]
) -> list[float]:
    """Send each (body, headers) POST after the previous one is answered; the seconds each took.
    Any answer but 200 fails the run."""
    samples = []
    for body, headers in requests:
        started = time.perf_counter()
        response = client.post(url, content=body, headers=headers)
        samples.append(time.perf_counter() - started)
        if response.status_code != 200:
            msg = f"webhook answered {response.status_code}"
            raise RuntimeError(msg)
    return samples


def notification_latencies(client: httpx.Client, url: str, sequences: Iterable[int]) -> list[float]:
    """One notification (a new session) per sequence number, sent one after another."""
    headers = {"Content-Type": "application/json", "Verification-Token": TOKEN}
    return timed_posts(client, url, ((notification(n), headers) for n in sequences))


def measure(base_url: str) -> dict[str, str]:
    url = f"{base_url}/webhooks/ringcentral"
    handshakes = ((None, {"Validation-Token": str(uuid.uuid4())}) for _ in range(REQUESTS))
    with httpx.Client() as client:
        return {
            "handshake": percentiles(timed_posts(client, url, handshakes)),
            "notification": percentiles(notification_latencies(client, url, range(REQUESTS))),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--postgres-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        sqlite_url = f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        with running_service(sqlite_url) as base_url:
            for kind, figure in measure(base_url).items():
                print(f"sqlite      {kind:<13} {figure}")
    postgres_url = asyncio.run(create_database(args.postgres_url, "latency"))
    try:
        with running_service(postgres_url) as base_url:
            for kind, figure in measure(base_url).items():
                print(f"postgresql  {kind:<13} {figure}")
    finally:
        asyncio.run(drop_database(args.postgres_url, postgres_url))


if __name__ == "__main__":
    main()
