"""Names everywhere: `GET /v1/directory` lists the account's extensions, and outcomes (JSON and
CSV) carry the directory's display names of their extensions and legs and a plain-words
category label, written by the processor from the directory it classifies with."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from service.db.engine import create_engine
from service.ringcentral import queries
from tests.api.conftest import Api
from tests.api.day import PROCESSED_AT, SESSION, day_notifications

SYNCED = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)
DIRECTORY = [
    ("300401016", "User", "Alice Adams", "101"),
    ("300402016", "User", "Bob Brown", None),
    ("300300016", "Department", "Sales Queue", "300"),
    ("300200016", "IvrMenu", None, "200"),
]


async def store_directory(api: Api) -> None:
    engine = create_engine(api.settings)
    rows = [
        {"extension_id": i, "kind": k, "name": n, "extension_number": x, "synced_at": SYNCED}
        for i, k, n, x in DIRECTORY
    ]
    try:
        async with engine.begin() as connection:
            await queries.replace_directory(connection, rows)
    finally:
        await engine.dispose()


async def test_the_directory_lists_every_extension_by_number(api: Api) -> None:
    assert (await api.client.get("/v1/directory")).json() == {"entries": []}
    await store_directory(api)
    entries = (await api.client.get("/v1/directory")).json()["entries"]
    by_id = {entry["extension_id"]: entry for entry in entries}
    assert by_id["300401016"]["display_name"] == "Alice Adams (101)"
    assert by_id["300402016"]["display_name"] == "Bob Brown"
    assert by_id["300200016"]["display_name"] == "ext 200"
    assert by_id["300300016"] | {"synced_at": None} == {
        "extension_id": "300300016",
        "extension_number": "300",
        "name": "Sales Queue",
        "display_name": "Sales Queue (300)",
        "kind": "Department",
        "synced_at": None,
    }
    numbers = [entry["extension_number"] for entry in entries if entry["extension_number"]]
    assert numbers == sorted(numbers)
    queues_and_menus = await api.client.get(
        "/v1/directory", params=[("kind", "department"), ("kind", "IVRMENU")]
    )
    assert {e["extension_id"] for e in queues_and_menus.json()["entries"]} == {
        "300300016",
        "300200016",
    }
    unknown = await api.client.get("/v1/directory", params={"knd": "User"})
    assert unknown.status_code == 422
    assert "kind" in unknown.text


async def test_outcomes_carry_names_and_a_category_label(api: Api) -> None:
    await store_directory(api)
    await api.load(day_notifications(), now=PROCESSED_AT)
    detail = await api.client.get(f"/v1/calls/{SESSION['queue_abandon']}")
    outcome = detail.json()["outcome"]
    assert outcome["category_label"] == "hung up waiting in the queue"
    assert outcome["names"]["300300016"] == "Sales Queue (300)"
    assert outcome["names"]["300401016"] == "Alice Adams (101)"
    assert set(outcome["names"]) <= set(outcome["extension_ids"]) | {
        leg["extension_id"] for leg in outcome["legs"]
    }
    leg_names = {leg["extension_id"]: leg["name"] for leg in outcome["legs"]}
    assert leg_names["300401016"] == "Alice Adams (101)"

    ivr = (await api.client.get(f"/v1/calls/{SESSION['ivr']}")).json()["outcome"]
    assert ivr["names"] == {"300200016": "ext 200"}
    assert ivr["category_label"] == "hung up in the IVR menu"

    exported = await api.client.get("/v1/calls.csv")
    rows = {r["telephony_session_id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
    row = rows[SESSION["queue_abandon"]]
    assert row["category_label"] == "hung up waiting in the queue"
    assert "300401016=Alice Adams (101)" in row["names"].split(";")


async def test_without_a_directory_outcomes_have_labels_and_no_names(day_api: Api) -> None:
    outcome = (await day_api.client.get(f"/v1/calls/{SESSION['ringing']}")).json()["outcome"]
    assert outcome["names"] == {}
    assert outcome["category_label"] == "hung up while ringing"
    assert all(leg["name"] is None for leg in outcome["legs"])
