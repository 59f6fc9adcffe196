"""/metrics gains outcomes by category (counted cheaply, in the background) and poll/auth
counters; the OpenAPI document describes every /v1 parameter and response."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api

KEPT_METRICS = (
    "callsift_events_received",
    "callsift_events_duplicate",
    "callsift_events_quarantined",
    "callsift_processor_lag_seconds",
    "callsift_event_loop_lag_seconds",
    "callsift_event_loop_lag_max_seconds",
    "callsift_event_loop_stalls",
)


async def scrape(api: Api) -> str:
    async with httpx.AsyncClient(base_url=api.base_url) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200
    return response.text


async def test_outcomes_by_category_and_the_existing_metrics(day_api: Api) -> None:
    first = await scrape(day_api)  # serves the last count and starts a recount
    for name in KEPT_METRICS:
        assert f"# TYPE {name}" in first
    counter = day_api.app.state.services.metrics.outcome_counts
    assert counter.refreshing is not None
    await counter.refreshing
    text = await scrape(day_api)
    assert 'callsift_outcomes{category="abandoned_queue",direction="inbound"} 1.0' in text
    assert 'callsift_outcomes{category="short_abandon",direction="inbound"} 2.0' in text
    assert 'callsift_outcomes{category="abandoned_ringing",direction="internal"} 1.0' in text
    assert 'callsift_outcomes{category="in_progress",direction="inbound"} 1.0' in text
    assert 'callsift_events_received_total{kind="telephony"}' in text


async def test_poll_and_auth_counters(day_api: Api) -> None:
    first = await day_api.client.get("/v1/abandoned")
    cursor, etag = first.json()["cursor"], first.headers["ETag"]
    await day_api.client.get(
        "/v1/abandoned", params={"since": cursor}, headers={"If-None-Match": etag}
    )
    async with httpx.AsyncClient(base_url=day_api.base_url) as anonymous:
        await anonymous.get("/v1/calls")
    text = await scrape(day_api)
    assert 'callsift_abandoned_polls_total{result="changed"} 1.0' in text
    assert 'callsift_abandoned_polls_total{result="not_modified"} 1.0' in text
    assert 'callsift_api_auth_failures_total{reason="missing"} 1.0' in text


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/v1/")
        for operation in item.values()
    ]


async def test_openapi_describes_every_parameter_and_response(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    operations = _operations(schema)
    assert {path for path, _ in operations} == {
        "/v1/calls",
        "/v1/calls/{telephony_session_id}",
        "/v1/calls.csv",
        "/v1/abandoned",
        "/v1/stats/outcomes",
        "/v1/stats/trend",
        "/v1/extensions",
        "/v1/directory",
        "/v1/info",
    }
    for path, operation in operations:
        assert operation.get("summary"), path
        assert operation.get("description"), path
        assert operation["security"] == [{"ApiKey": []}], path
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), (path, parameter["name"])
        responses = operation["responses"]
        assert {"200", "401", "422"} <= set(responses), path
        assert responses["401"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorBody"
        )
    assert "304" in dict(operations)["/v1/abandoned"]["responses"]
    names = {p["name"] for p in dict(operations)["/v1/calls"]["parameters"]}
    assert names == {
        "from",
        "to",
        "extension_id",
        "category",
        "direction",
        "queue",
        "reason",
        "is_abandoned",
        "source",
        "reconciliation",
        "from_number",
        "stage",
        "final",
        "cursor",
        "limit",
    }
    components = schema["components"]
    assert components["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    outcome = components["schemas"]["OutcomeOut"]
    assert outcome["properties"]["time_to_abandon_s"]["description"]
    assert outcome["example"]["category"] == "abandoned_queue"
