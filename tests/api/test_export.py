"""GET /v1/calls.csv: streamed, a header row, RFC 4180 quoting, every outcome field, the same
filters as /v1/calls; read back with the csv module."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import orjson
import pytest

from service.api import export
from tests.api.conftest import Api
from tests.api.day import LABELS, PROCESSED_AT, SESSION, sessions
from tests.api.support import Notification, placed

ODD_QUEUE = 'Sales, "East" Queue'
FORMULA_QUEUE = '=HYPERLINK("http://evil.example","Sales")'


def renamed_queue(notifications: list[Notification], name: str = ODD_QUEUE) -> list[Notification]:
    text = orjson.dumps(notifications).replace(b"Sales Queue", orjson.dumps(name)[1:-1])
    result: list[Notification] = orjson.loads(text)
    return result


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def test_every_call_and_field_comes_back(day_api: Api) -> None:
    response = await day_api.client.get("/v1/calls.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.splitlines()[0] == ",".join(export.COLUMNS)
    assert "\r\n" in response.text
    rows = read_csv(response.text)
    assert [row["telephony_session_id"] for row in rows] == sessions(*LABELS)
    queue_abandon = next(r for r in rows if r["telephony_session_id"] == SESSION["queue_abandon"])
    assert queue_abandon["category"] == "abandoned_queue"
    assert queue_abandon["is_abandoned"] == "true"
    assert queue_abandon["final"] == "true"
    assert queue_abandon["time_to_abandon_s"] == "48.0"
    assert queue_abandon["answered_at"] == ""
    assert queue_abandon["extension_ids"] == "300300016;300401016;300402016"
    assert queue_abandon["legs"].count(":caller_abandoned") == 3
    assert "sla_s=20.0" in queue_abandon["thresholds"].split(";")
    assert queue_abandon["revision"] == "1"
    assert queue_abandon["updated_at"] == "2026-03-10T12:41:00Z"


async def test_filters_apply(day_api: Api) -> None:
    response = await day_api.client.get(
        "/v1/calls.csv", params={"category": ["short_abandon", "abandoned_ivr"]}
    )
    rows = read_csv(response.text)
    assert [row["telephony_session_id"] for row in rows] == sessions(
        "short_ring", "ivr", "short_ivr"
    )
    empty = await day_api.client.get("/v1/calls.csv", params={"category": "failed"})
    assert empty.text == ",".join(export.COLUMNS) + "\r\n"


async def test_quoting_of_commas_and_quotes(api: Api) -> None:
    call = renamed_queue(placed("abandoned-queue-account", at=PROCESSED_AT, hex_id="7" * 32))
    await api.load(call, now=PROCESSED_AT + timedelta(minutes=1))
    response = await api.client.get("/v1/calls.csv")
    assert '"Sales, ""East"" Queue"' in response.text
    [row] = read_csv(response.text)
    assert row["queue"] == ODD_QUEUE


async def test_a_cell_a_spreadsheet_would_run_is_neutralised(api: Api) -> None:
    """OWASP CSV injection: a queue named like a formula comes back with a leading `'`; the
    caller's +E.164 number, a plain number, is left as it is."""
    call = placed("abandoned-queue-account", at=PROCESSED_AT, hex_id="8" * 32)
    await api.load(renamed_queue(call, FORMULA_QUEUE), now=PROCESSED_AT + timedelta(minutes=1))
    [row] = read_csv((await api.client.get("/v1/calls.csv")).text)
    assert row["queue"] == "'" + FORMULA_QUEUE
    assert row["from_number"].startswith("+1")
    listed = (await api.client.get("/v1/calls")).json()["items"][0]
    assert listed["queue"] == FORMULA_QUEUE  # only the CSV is neutralised


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("+16505550101", "+16505550101"),
        ("-3.5", "-3.5"),
        ("Sales Queue", "Sales Queue"),
        ("", ""),
    ],
)
def test_neutralised(text: str, expected: str) -> None:
    assert export.neutralised(text) == expected


async def test_streams_across_pages(day_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "PAGE", 4)
    async with day_api.client.stream("GET", "/v1/calls.csv") as response:
        chunks = [chunk async for chunk in response.aiter_text()]
    rows = read_csv("".join(chunks))
    assert [row["telephony_session_id"] for row in rows] == sessions(*LABELS)
