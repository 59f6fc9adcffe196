"""Bad parameters: 422 with a JSON error naming the parameter, on every route that takes it."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api

CASES = [
    ("/v1/calls", {"category": "abandoned_somewhere"}, "category"),
    ("/v1/calls", {"category": ["answered", "nope"]}, "category"),
    ("/v1/calls", {"from": "yesterday"}, "from"),
    ("/v1/calls", {"to": "2026-13-45T00:00:00Z"}, "to"),
    ("/v1/calls", {"from": "2026-03-11T00:00:00Z", "to": "2026-03-10T00:00:00Z"}, "from"),
    ("/v1/calls", {"cursor": "not-a-cursor"}, "cursor"),
    ("/v1/calls", {"cursor": "WyJhMSIsMl0"}, "cursor"),  # a poll cursor is not a page cursor
    ("/v1/calls", {"limit": "0"}, "limit"),
    ("/v1/calls", {"limit": "1001"}, "limit"),
    ("/v1/calls", {"limit": "many"}, "limit"),
    ("/v1/calls", {"direction": "sideways"}, "direction"),
    ("/v1/calls", {"is_abandoned": "perhaps"}, "is_abandoned"),
    ("/v1/calls.csv", {"category": "nope"}, "category"),
    ("/v1/calls.csv", {"from": "2026-03-11", "to": "2026-03-10"}, "from"),
    ("/v1/abandoned", {"since": "last tuesday"}, "since"),
    ("/v1/abandoned", {"limit": "0"}, "limit"),
    ("/v1/abandoned", {"include_short": "maybe"}, "include_short"),
    ("/v1/stats/outcomes", {"tz": "Mars/Olympus_Mons"}, "tz"),
    ("/v1/stats/outcomes", {"group_by": "week"}, "group_by"),
    ("/v1/stats/outcomes", {"from": "2026-03-11T00:00:00Z", "to": "2026-03-10T00:00:00Z"}, "from"),
    (
        "/v1/stats/outcomes",
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        "group_by",
    ),
    ("/v1/stats/outcomes", {"sla_s": "-1"}, "sla_s"),
]


@pytest.mark.parametrize(("path", "params", "parameter"), CASES)
async def test_bad_parameter_is_named(
    api: Api, path: str, params: dict[str, str], parameter: str
) -> None:
    response = await api.client.get(path, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert error["parameter"] == parameter
    assert parameter in error["message"]
