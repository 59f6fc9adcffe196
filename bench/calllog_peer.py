"""The RingCentral emulator with a call-log backfill waiting: `users` users whose call logs hold
`calls_per_day` records a day for `days` days (RingCentral's rate limits on), served on a port,
for the backfill benchmark in `bench.calllog`. Writes the app credentials and one JWT per user
as JSON to `--credentials`.

    python -m bench.calllog_peer --port 9100 --credentials /tmp/peer.json
"""

from __future__ import annotations

import argparse
import random
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import uvicorn

from emulator.app import create_emulator_app
from emulator.clock import iso
from emulator.config import EmulatorConfig
from emulator.directory import ExtensionSpec
from emulator.scenarios.model import CallLogEntry
from emulator.state import Emulator

CLIENT_ID = "bench-calllog-client"
CLIENT_SECRET = "bench-calllog-secret"
RECORD_RESULTS = (
    ("Accepted", "Accepted"),
    ("Missed", "Hang Up"),
    ("Voicemail", None),
    ("Missed", None),
)  # (result, reason) of the records, in turn


def fill(emulator: Emulator, *, users: int, days: int, calls_per_day: int) -> dict[str, object]:
    emulator.create_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    specs = [ExtensionSpec("User", f"User {n}", str(100 + n)) for n in range(1, users + 1)]
    account = emulator.create_account(name="Backfill Company", extensions=specs)
    rng = random.Random(7)
    now = emulator.now()
    serial = 0
    jwts = {}
    for extension in account.extensions.values():
        if extension.kind != "User":
            continue
        jwts[extension.id] = emulator.issue_jwt(extension.id, CLIENT_ID)
        for _ in range(days * calls_per_day):
            serial += 1
            start = now - timedelta(seconds=rng.uniform(120, days * 86400 - 600))
            end = start + timedelta(seconds=rng.uniform(5, 300))
            emulator.call_log.add(_entry(account.id, extension.id, serial, start, end), now)
    emulator.set_rate_limits(True, {})
    return {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET, "jwts": jwts}


def _entry(
    account_id: str, extension_id: str, serial: int, start: datetime, end: datetime
) -> CallLogEntry:
    """An inbound call's record, its result by `serial` (`RECORD_RESULTS`)."""
    result, reason = RECORD_RESULTS[serial % len(RECORD_RESULTS)]
    fields = {
        "sessionId": str(10**11 + serial),
        "telephonySessionId": f"s-{serial:032x}",
        "startTime": iso(start),
        "duration": int((end - start).total_seconds()),
        "durationMs": int((end - start).total_seconds() * 1000),
        "type": "Voice",
        "direction": "Inbound",
        "action": "Phone Call",
        "result": result,
        "to": {"phoneNumber": "+16505550100", "extensionId": extension_id},
        "from": {"phoneNumber": f"+1415555{serial % 10000:04d}"},
        "extension": {"id": int(extension_id)},
        **({"reason": reason} if reason else {}),
    }
    return CallLogEntry.of(
        f"B{serial:013d}",
        account_id=account_id,
        extension_id=extension_id,
        start_time=start,
        end_time=end,
        fields=fields,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--calls-per-day", type=int, default=500)
    args = parser.parse_args()
    app = create_emulator_app(EmulatorConfig(seed=5, timer_tick_s=0))
    emulator: Emulator = app.state.emulator
    found = fill(emulator, users=args.users, days=args.days, calls_per_day=args.calls_per_day)
    args.credentials.write_bytes(orjson.dumps(found))
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
