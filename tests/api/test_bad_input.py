"""Bad parameters: 422 with a JSON error naming the parameter, on every route that takes it,
including hostile ones (NUL characters, times at the calendar's ends, cursors out of range)."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.api.conftest import Api


def forged_cursor(*fields: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(fields))).decode().rstrip("=")


CASES = [
    ("/v1/calls", {"category": "abandoned_somewhere"}, "category"),
    ("/v1/calls", {"category": ["answered", "nope"]}, "category"),
    ("/v1/calls", {"from": "yesterday"}, "from"),
    # numbers are not times: pydantic alone read them as seconds (or ms) since 1970
    ("/v1/calls", {"to": "0.5"}, "to"),
    ("/v1/calls", {"from": "1741600000000"}, "from"),
    ("/v1/calls.csv", {"from": "1741600000"}, "from"),
    ("/v1/stats/outcomes", {"to": "0.5"}, "to"),
    ("/v1/calls", {"source": ""}, "source"),
    ("/v1/calls.csv", {"reconciliation": ["agreed", ""]}, "reconciliation"),
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
    ("/v1/stats/outcomes", {"group_by": "agents"}, "group_by"),
    ("/v1/stats/trend", {"date": "2026-02-30"}, "date"),
    ("/v1/stats/trend", {"date": "20260310"}, "date"),  # only YYYY-MM-DD
    ("/v1/stats/trend", {"date": "1741600000"}, "date"),  # not seconds since 1970
    ("/v1/stats/trend", {"date": "2026-03-10T00:00:00Z"}, "date"),
    ("/v1/stats/trend", {"date": "0001-01-01"}, "date"),
    ("/v1/stats/trend", {"date": "9999-12-31"}, "date"),
    ("/v1/stats/trend", {"date": "1970-01-20", "weeks": "3"}, "date"),  # weeks before 1970
    ("/v1/stats/trend", {"weeks": "0"}, "weeks"),
    ("/v1/stats/trend", {"weeks": "13"}, "weeks"),
    ("/v1/stats/trend", {"weeks": "four"}, "weeks"),
    ("/v1/stats/trend", {"tz": "Mars/Olympus_Mons"}, "tz"),
    ("/v1/stats/trend", {"tz": "../../etc/passwd"}, "tz"),
    ("/v1/stats/trend", {"group_by": "hour"}, "group_by"),  # a parameter it does not take
    ("/v1/stats/trend", {"tz": "UTC\x00"}, "tz"),
    ("/v1/calls", {"extension_id": "300\x00"}, "extension_id"),
    ("/v1/calls", {"queue": "Sales\x00Queue"}, "queue"),
    ("/v1/calls", {"reason": "x\x00"}, "reason"),
    ("/v1/calls.csv", {"queue": "Sales\x00Queue"}, "queue"),
    ("/v1/calls.csv", {"extension_id": "\x00"}, "extension_id"),
    ("/v1/stats/outcomes", {"queue\x00": "x"}, "queue"),
    ("/v1/calls", {"cursor": forged_cursor("c1", "2026-03-10T10:00:00+00:00", "s-\x00")}, "cursor"),
    ("/v1/calls", {"cursor": forged_cursor("c1", "0001-01-01T00:00:00+01:00", "s-1")}, "cursor"),
    ("/v1/calls", {"cursor": forged_cursor("c1", "9999-12-31T23:59:59+00:00", "s-1")}, "cursor"),
    ("/v1/abandoned", {"since": forged_cursor("a1", 2**63)}, "since"),
    ("/v1/abandoned", {"since": "0001-01-01T00:00:00+01:00"}, "since"),
    ("/v1/calls", {"from": "0001-01-01T00:00:00+01:00"}, "from"),
    ("/v1/calls", {"to": "9999-12-31T23:59:59-01:00"}, "to"),
    ("/v1/calls.csv", {"from": "1969-12-31T23:59:59Z"}, "from"),
    ("/v1/stats/outcomes", {"from": "0001-01-01T00:00:00+01:00", "to": "2026-01-01"}, "from"),
    (
        "/v1/stats/outcomes",
        {"from": "9999-12-01T00:00:00Z", "to": "9999-12-31T23:59:59Z", "group_by": "day"},
        "from",
    ),
    (
        "/v1/stats/outcomes",
        {"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z", "group_by": "queue"},
        "to",
    ),
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


async def test_list_filters_name_their_values_in_the_error_and_the_schema(api: Api) -> None:
    response = await api.client.get("/v1/calls", params={"category": "voicemail"})
    assert response.status_code == 422
    assert "'abandoned_queue'" in response.json()["error"]["message"]
    document = (await api.client.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in document["paths"]["/v1/calls"]["get"]["parameters"]}
    for name, enum in (
        ("category", "Category"),
        ("source", "Source"),
        ("reconciliation", "Reconciliation"),
    ):
        items = parameters[name]["schema"]["anyOf"][0]["items"]
        assert items == {"$ref": f"#/components/schemas/{enum}"}, name


async def test_an_iso_basic_date_is_a_date_not_seconds(api: Api) -> None:
    basic = await api.client.get(
        "/v1/stats/outcomes", params={"from": "20260310", "to": "20260311"}
    )
    assert basic.status_code == 200, basic.text
    assert basic.json()["start"] == "2026-03-10T00:00:00Z"


async def test_a_nul_in_a_path_id_is_refused(api: Api) -> None:
    response = await api.client.get("/v1/calls/s-%00")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["parameter"] == "telephony_session_id"


async def test_the_largest_change_cursor_is_accepted(api: Api) -> None:
    response = await api.client.get(
        "/v1/abandoned", params={"since": forged_cursor("a1", 2**63 - 1)}
    )
    assert response.status_code == 200, response.text
    assert response.json()["changes"] == []
