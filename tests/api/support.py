"""Build call data for the API tests from the recorded fixtures, through the real processor.

`placed(name, at=..., hex_id=...)` is one fixture call moved to start at `at` under a new session
id (every timestamp shifted by the same amount, every notification given a fresh uuid). Calls are
stored through the webhook (`post`) or, for bulk data, as raw rows (`store_raw`), and turned into
outcomes by `drain`, which runs `process_new_events` until no event is left.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from classifiers import Thresholds
from classifiers.recovery import DEFAULT_RECOVERY_WINDOW
from service.db.engine import create_engine
from service.processing.processor import ProcessingContext, process_new_events
from service.ringcentral.directory import DirectoryCache
from service.settings import Settings
from service.webhooks.envelope import read_envelope
from service.webhooks.queries import insert_raw_events
from tests.conftest import WEBHOOK_TOKEN

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sessions"
WEBHOOK_HEADERS = {"Content-Type": "application/json", "Verification-Token": WEBHOOK_TOKEN}
TIMESTAMP = re.compile(rb'"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z)"')
SESSION_HEX = re.compile(r"^s-([0-9a-f]{32})$")

Notification = dict[str, Any]


def _rc_time(moment: datetime) -> bytes:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


def _parse(raw: bytes) -> datetime:
    return datetime.fromisoformat(raw.decode().replace("Z", "+00:00"))


@functools.cache
def fixture_lines(name: str) -> tuple[bytes, ...]:
    return tuple(line for line in (FIXTURES / f"{name}.jsonl").read_bytes().splitlines() if line)


def _session_hex(lines: Sequence[bytes]) -> str:
    for line in lines:
        session_id = orjson.loads(line).get("body", {}).get("telephonySessionId")
        match = SESSION_HEX.match(session_id or "")
        if match:
            return match.group(1)
    msg = "the fixture has no synthetic s-<32 hex> session id"
    raise ValueError(msg)


def _first_event_time(lines: Sequence[bytes]) -> datetime:
    times = [
        _parse(orjson.loads(line)["body"]["eventTime"].encode())
        for line in lines
        if "telephonySessionId" in orjson.loads(line).get("body", {})
    ]
    return min(times)


def placed(name: str, *, at: datetime, hex_id: str) -> list[Notification]:
    """The fixture call `name`, starting at `at`, as session `s-<hex_id>` (32 hex digits)."""
    lines = fixture_lines(name)
    shift = at - _first_event_time(lines)
    old_hex = _session_hex(lines).encode()
    notifications = []
    for position, line in enumerate(lines):
        moved = TIMESTAMP.sub(lambda m: b'"' + _rc_time(_parse(m.group(1)) + shift) + b'"', line)
        notification: Notification = orjson.loads(moved.replace(old_hex, hex_id.encode()))
        notification["uuid"] = f"{hex_id}-{position}"
        notifications.append(notification)
    return notifications


def session_of(notifications: Sequence[Notification]) -> str:
    return str(notifications[0]["body"]["telephonySessionId"])


async def post(base_url: str, notifications: Sequence[Notification]) -> None:
    """Deliver notifications to the webhook, a few at a time; each must be stored (200)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for start in range(0, len(notifications), 50):
            chunk = notifications[start : start + 50]
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/webhooks/ringcentral", content=orjson.dumps(n), headers=WEBHOOK_HEADERS
                    )
                    for n in chunk
                )
            )
            assert [r.status_code for r in responses] == [200] * len(chunk)


async def store_raw(
    settings: Settings, notifications: Sequence[Notification], *, received_at: datetime
) -> None:
    """Store notifications as the webhook would, in bulk (for large data sets)."""
    rows = []
    for notification in notifications:
        payload = orjson.dumps(notification)
        envelope = read_envelope(orjson.loads(payload))
        rows.append(envelope.row(payload=payload.decode(), received_at=received_at))
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for start in range(0, len(rows), 5000):
                await insert_raw_events(connection, rows[start : start + 5000])
    finally:
        await engine.dispose()


async def drain(
    settings: Settings,
    *,
    now: datetime,
    claim_size: int = 500,
    recovery_window: timedelta = DEFAULT_RECOVERY_WINDOW,
) -> None:
    """Run the real processor until every stored event is processed, with the directory stored
    in the database (empty unless a test stored one), as the service runs it."""
    engine = create_engine(settings)
    directory = await DirectoryCache(engine).current()
    context = ProcessingContext(
        now=now, thresholds=Thresholds(), directory=directory, recovery_window=recovery_window
    )
    try:
        while True:
            async with engine.begin() as connection:
                stats = await process_new_events(connection, context=context, claim_size=claim_size)
            if not stats.claimed:
                return
    finally:
        await engine.dispose()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
