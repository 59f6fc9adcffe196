"""The /v1/calls filters added for analysts (caller number, stage, final, any-case queue), each
checked against the full list filtered here; and unknown parameters refused, never ignored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api


async def every_call(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/calls", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def spaced(number: str) -> str:
    """+14155550123 as a person types it: +1 (415) 555-0123."""
    digits = number.removeprefix("+")
    return f"+{digits[:-10]} ({digits[-10:-7]}) {digits[-7:-4]}-{digits[-4:]}"


async def test_caller_number_stage_final_and_queue_filters(day_api: Api) -> None:
    calls = await every_call(day_api)
    numbers = {call["from_number"] for call in calls if (call["from_number"] or "")[:2] == "+1"}
    stages = {call["stage"] for call in calls}
    queues = {call["queue"] for call in calls if call["queue"]}
    assert numbers
    assert len(stages) > 1
    assert queues
    for number in numbers:
        found = await every_call(day_api, from_number=spaced(number))
        expected = [call for call in calls if call["from_number"] == number]
        assert found == expected, number
    for stage in stages:
        assert await every_call(day_api, stage=stage) == [c for c in calls if c["stage"] == stage]
    for final in (True, False):
        expected = [call for call in calls if call["final"] is final]
        assert await every_call(day_api, final=str(final).lower()) == expected
    assert any(not call["final"] for call in calls)
    for queue in queues:
        expected = [call for call in calls if call["queue"] == queue]
        assert await every_call(day_api, queue=queue.upper()) == expected


@pytest.mark.parametrize(
    ("path", "params", "unknown", "allowed"),
    [
        ("/v1/calls", {"from_numbr": "+14155550123"}, "from_numbr", "from_number"),
        ("/v1/calls.csv", {"caller": "+14155550123"}, "caller", "from_number"),
        ("/v1/abandoned", {"since": "x", "include_shorts": "false"}, "include_shorts", "since"),
        ("/v1/stats/outcomes", {"groupby": "day"}, "groupby", "group_by"),
        ("/v1/info", {"verbose": "1"}, "verbose", "no parameters"),
    ],
)
async def test_an_unknown_parameter_is_refused_naming_the_known_ones(
    api: Api, path: str, params: dict[str, str], unknown: str, allowed: str
) -> None:
    response = await api.client.get(path, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["parameter"] == unknown
    assert allowed in error["message"]


async def test_a_caller_number_that_is_no_number_is_refused(api: Api) -> None:
    response = await api.client.get("/v1/calls", params={"from_number": "alice"})
    assert response.status_code == 422
    assert response.json()["error"]["parameter"] == "from_number"
