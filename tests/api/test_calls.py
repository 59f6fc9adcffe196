"""GET /v1/calls and /v1/calls/{id} on both databases, over outcomes the real processor made
from the fixture day (tests/api/day.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.day import LABELS, SESSION, sessions
from tests.api.support import placed

ABANDONED = (
    "queue_abandon",
    "ringing",
    "short_ring",
    "ivr",
    "vm_greeting",
    "short_ivr",
    "internal",
)

FILTER_CASES: list[tuple[dict[str, Any], list[str]]] = [
    ({}, sessions(*LABELS)),
    (
        {"from": "2026-03-10T10:00:00Z", "to": "2026-03-10T11:00:00Z"},
        sessions("ringing", "short_ring", "ivr", "vm_left"),
    ),
    ({"from": "2026-03-10T12:30:00Z"}, sessions("internal", "in_progress", "next_day")),
    ({"to": "2026-03-10T09:20:00"}, sessions("direct")),  # no zone: UTC
    ({"extension_id": "300200016"}, sessions("ivr", "short_ivr")),
    ({"extension_id": "300402016"}, sessions("queue_answer", "queue_abandon", "internal")),
    ({"category": "short_abandon"}, sessions("short_ring", "short_ivr")),
    (
        {"category": ["short_abandon", "abandoned_queue"]},
        sessions("queue_abandon", "short_ring", "short_ivr"),
    ),
    ({"direction": "outbound"}, sessions("outbound")),
    ({"direction": "internal"}, sessions("internal")),
    ({"queue": "Sales Queue"}, sessions("queue_answer", "queue_abandon")),
    ({"reason": "ring_timeout"}, sessions("missed")),
    ({"reason": "classification_failed"}, []),
    ({"is_abandoned": "true"}, sessions(*ABANDONED)),
    ({"is_abandoned": "false"}, sessions(*(lb for lb in LABELS if lb not in ABANDONED))),
    (
        {"is_abandoned": "true", "extension_id": "300401016", "from": "2026-03-10T10:00:00Z"},
        sessions("ringing", "short_ring", "vm_greeting", "internal"),
    ),
    ({"category": "failed"}, []),
]


async def all_pages(api: Api, params: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        paging = {"cursor": cursor} if cursor else {}
        response = await api.client.get("/v1/calls", params={**params, **paging})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


class TestListCalls:
    async def test_every_filter_alone_and_combined(self, day_api: Api) -> None:
        for params, expected in FILTER_CASES:
            response = await day_api.client.get("/v1/calls", params=params)
            assert response.status_code == 200, (params, response.text)
            got = [item["telephony_session_id"] for item in response.json()["items"]]
            assert got == expected, params

    async def test_items_are_the_stored_outcomes_with_revision(self, day_api: Api) -> None:
        response = await day_api.client.get("/v1/calls", params={"category": "abandoned_queue"})
        [item] = response.json()["items"]
        assert item["telephony_session_id"] == SESSION["queue_abandon"]
        assert (item["category"], item["stage"], item["queue"]) == (
            "abandoned_queue",
            "queue",
            "Sales Queue",
        )
        assert item["time_to_abandon_s"] == 48.0
        assert item["revision"] == 1
        assert item["updated_at"] == "2026-03-10T12:41:00Z"
        assert {leg["outcome"] for leg in item["legs"]} == {"caller_abandoned"}

    async def test_pages_cover_everything_once_even_with_inserts_between_pages(
        self, day_api: Api
    ) -> None:
        first = await day_api.client.get("/v1/calls", params={"limit": 4})
        page = first.json()
        assert len(page["items"]) == 4
        newer = placed("short-abandon-ringing-account", at=_at(12, 50), hex_id="e" * 32)
        older = placed("short-abandon-ringing-account", at=_at(8, 0), hex_id="d" * 32)
        await day_api.load(newer + older, now=_at(13, 0))

        seen = [item["telephony_session_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        while cursor is not None:
            response = await day_api.client.get("/v1/calls", params={"limit": 4, "cursor": cursor})
            body = response.json()
            seen += [item["telephony_session_id"] for item in body["items"]]
            cursor = body["next_cursor"]
        assert seen == [*sessions(*LABELS), "s-" + "d" * 32]
        everything = [item["telephony_session_id"] for item in await all_pages(day_api, {})]
        assert everything[1] == "s-" + "e" * 32  # after the next-day call, before 12:40
        assert len(everything) == len(set(everything)) == len(LABELS) + 2

    async def test_paging_with_filters(self, day_api: Api) -> None:
        params = {"is_abandoned": "true", "limit": 2}
        items = await all_pages(day_api, params)
        assert [item["telephony_session_id"] for item in items] == sessions(*ABANDONED)

    @pytest.mark.parametrize("limit", [1, 1000])
    async def test_limit_bounds_are_accepted(self, day_api: Api, limit: int) -> None:
        response = await day_api.client.get("/v1/calls", params={"limit": limit})
        assert response.status_code == 200
        assert len(response.json()["items"]) == min(limit, len(LABELS))


class TestCallDetail:
    async def test_outcome_legs_and_timeline_in_sequence_order(self, api: Api) -> None:
        notifications = placed("abandoned-queue-account", at=_at(9, 40), hex_id="c" * 32)
        shuffled = notifications[:]
        random.Random(5).shuffle(shuffled)
        await api.load(shuffled, now=_at(10, 0))

        response = await api.client.get(f"/v1/calls/s-{'c' * 32}")
        assert response.status_code == 200
        detail = response.json()
        assert detail["outcome"]["category"] == "abandoned_queue"
        assert detail["outcome"]["revision"] == 1
        assert {(leg["extension_id"], leg["outcome"]) for leg in detail["legs"]} == {
            ("300300016", "caller_abandoned"),
            ("300401016", "caller_abandoned"),
            ("300402016", "caller_abandoned"),
        }
        events = detail["events"]
        expected = sorted(
            (n["body"]["sequence"], p["id"], p["status"]["code"])
            for n in notifications
            for p in n["body"]["parties"]
        )
        assert [(e["sequence"], e["party_id"], e["status_code"]) for e in events] == expected
        assert events[0]["event_time"] == "2026-03-10T09:40:00Z"
        assert all(e["received_at"] for e in events)
        assert {e["uuid"] for e in events} == {n["uuid"] for n in notifications}

    async def test_unknown_session_is_a_json_404(self, api: Api) -> None:
        response = await api.client.get("/v1/calls/s-nope")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def _at(hour: int, minute: int) -> datetime:
    return datetime(2026, 3, 10, hour, minute, tzinfo=UTC)
