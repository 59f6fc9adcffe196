"""Notification bodies for the load generators, as templates with markers for the unique parts.

Both generators (wrk's Lua script and bench/loadgen/paced.c) read a file with one JSON body per
line and replace, per request, the 20-character uuid marker with a unique number and the
32-character session marker with a number that is unique per group of requests. Request i uses
line i % T of the file, so a file of T lines with group T makes realistic T-event sessions.

- `ingest_templates`: one ~1.3 KB telephony-session notification shaped like
  fixtures/notifications.py, with the optional party fields RingCentral sends on queue calls
  (names, sipData, uiCallInfo); each request is a new session.
- `session_templates`: the 10 notifications of a queue call that is answered (bench/classifier's
  shape, built by fixtures/builder.py), each session a new session id.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from bench.classifier import build_sessions
from fixtures.notifications import telephony_notification

UUID_MARK = "U" * 20
SESSION_MARK = "S" * 32
TOKEN = "bench-verification-token"
WEBHOOK_PATH = "/webhooks/ringcentral"
HEADERS = {"Content-Type": "application/json", "Verification-Token": TOKEN}


def ingest_notification() -> dict[str, Any]:
    """One realistic notification (one party, as RingCentral posts them) with markers."""
    notification = telephony_notification(uuid=UUID_MARK, session_hex=SESSION_MARK, sequence=5)
    party = notification["body"]["parties"][0]
    party["from"] = {"phoneNumber": "+14083388064", "name": "WIRELESS CALLER"}
    party["to"] |= {"deviceId": "804561017"}
    party["status"] = {"code": "Proceeding", "rcc": False}
    party["queueCall"] = True
    party["uiCallInfo"] = {
        "primary": {"type": "QueueName", "value": "Sales Queue"},
        "additional": {"type": "CallerIdName", "value": "WIRELESS CALLER"},
    }
    party["sipData"] = {
        "callId": "c4b2f0a6-6f4c-4f0e-9a1e-2b6c8d1e0f3a",
        "toTag": "10.13.122.5-5070-2c0f4e1b",
        "fromTag": "1638471201-8f4c",
        "remoteUri": "sip:+14083388064@sip.ringcentral.com",
        "localUri": "sip:62242421016*1@sip.ringcentral.com",
    }
    notification["body"]["origin"] = {"type": "Call"}
    return notification


def session_notifications() -> list[dict[str, Any]]:
    """The 10 notifications of one answered queue call, with markers for uuid and session."""
    session = build_sessions(1)[0]
    session_id: str = session[0]["body"]["telephonySessionId"]
    hex_part = session_id.removeprefix("s-")
    marked = []
    for notification in session:
        text = orjson.dumps(notification).decode().replace(hex_part, SESSION_MARK)
        document = orjson.loads(text)
        document["uuid"] = UUID_MARK
        marked.append(document)
    return marked


def write_templates(path: Path, notifications: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(n) for n in notifications]
    for line in lines:
        assert b"\n" not in line
        assert UUID_MARK.encode() in line
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def ingest_templates(directory: Path) -> Path:
    return write_templates(directory / "ingest-templates.txt", [ingest_notification()])


def session_templates(directory: Path) -> Path:
    return write_templates(directory / "session-templates.txt", session_notifications())


def body_size(path: Path) -> int:
    """Bytes of the first template's body as sent (markers have the final width)."""
    return len(path.read_bytes().splitlines()[0])


def sample(path: Path, number: int = 1, session: int = 1) -> bytes:
    """The first template with its markers filled, as the generators fill them."""
    line = path.read_bytes().splitlines()[0]
    line = line.replace(UUID_MARK.encode(), f"{number:020d}".encode())
    return re.sub(SESSION_MARK.encode(), f"{session:032d}".encode(), line)
