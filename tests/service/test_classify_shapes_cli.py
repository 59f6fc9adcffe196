"""`callsift classify` on the shapes people hold besides webhook dumps (fixtures/shapes/): it says
on stderr what it left out and why, reads the mobile-push wrapper and REST session snapshots."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from service.cli import app

SHAPES = Path(__file__).parents[2] / "fixtures" / "shapes"


def _classify(*args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(app, ["classify", *args])
    printed = [orjson.loads(line) for line in result.stdout_bytes.splitlines()]
    return result.exit_code, printed, result.stderr


def test_presence_lines_are_skipped_out_loud() -> None:
    path = SHAPES / "presence-missed-inbound.jsonl"
    code, printed, stderr = _classify(str(path), "--now", "2026-04-02T00:00:00Z")
    assert (code, printed) == (0, [])
    assert f"skipped 2 presence notifications ({path}:1, {path}:2)" in stderr
    assert "/telephony/sessions" in stderr
    assert "no call to classify" in stderr


def test_the_mobile_push_wrapper_is_unwrapped_and_said() -> None:
    path = SHAPES / "pushwrapped-internal-ringing.jsonl"
    code, printed, stderr = _classify(str(path), "--now", "2026-04-01T10:00:01Z")
    assert code == 0, stderr
    assert [(o["category"], o["stage"], o["direction"]) for o in printed] == [
        ("in_progress", "ringing", "internal")
    ]
    assert f"{path}:1: note: read the notification inside its mobile-push" in stderr


def test_a_pretty_printed_rest_snapshot_is_read_whole() -> None:
    path = SHAPES / "rest-snapshot-outbound-answered.json"
    code, printed, stderr = _classify(str(path), "--now", "2026-04-01T13:10:05Z")
    assert code == 0, stderr
    assert [(o["category"], o["stage"], o["direction"]) for o in printed] == [
        ("in_progress", "connected", "outbound")
    ]
    assert "REST session snapshot" in stderr


def test_other_notifications_are_named_with_their_event() -> None:
    sms = {"uuid": "1", "event": "/restapi/v1.0/account/~/extension/~/message-store/instant"}
    result = CliRunner().invoke(
        app, ["classify", "-", "--now", "2026-04-02T00:00:00Z"], input=orjson.dumps(sms)
    )
    assert (result.exit_code, result.stdout) == (0, "")
    assert "skipped 1 other notification (-:1)" in result.stderr
    assert "/message-store/instant" in result.stderr
