"""GET /v1/stats/outcomes by agent and by queue, on both databases: the fixture day
(tests/api/day.py) with the directory stored, plus two queue calls on which Bob's phone timed
out while Alice answered; every figure computed by hand.

The agents' legs on the offered calls (outbound and in-progress calls left out):

| call          | Alice (101)         | Bob Brown           |
|---------------|---------------------|---------------------|
| direct        | answered            |                     |
| queue_answer  | answered            | answered_elsewhere  |
| queue_abandon | caller_abandoned    | caller_abandoned    |
| ringing       | caller_abandoned    |                     |
| short_ring    | caller_abandoned    |                     |
| vm_left       | voicemail_left      |                     |
| vm_greeting   | abandoned_voicemail |                     |
| missed        | missed              |                     |
| park          | transferred         |                     |
| internal      | caller_abandoned    | caller_abandoned    |
| bob_misses x2 | answered (w 25.0)   | missed              |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from fixtures.builder import ALICE, BOB, CallBuilder, agent
from fixtures.calls import reach_queue
from tests.api.conftest import Api
from tests.api.day import DAY, PROCESSED_AT, day_notifications
from tests.api.support import Notification
from tests.api.test_names import store_directory

DAY_RANGE = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}
BOB_MISSES_AT = (DAY.replace(hour=8), DAY.replace(hour=8, minute=30))
NO_LEGS = {
    "answered": 0,
    "missed": 0,
    "caller_abandoned": 0,
    "answered_elsewhere": 0,
    "rejected": 0,
    "voicemail_left": 0,
    "abandoned_voicemail": 0,
    "transferred": 0,
    "in_progress": 0,
}


def bob_misses(name: str, at: datetime) -> list[Notification]:
    """A queue call that rings Alice and Bob: Bob's ring times out at 15 s, Alice answers at
    25.05 s (25 s after the call reached the queue), and the call ends at 80 s."""
    call = CallBuilder(name, at)
    caller, queue = reach_queue(call)
    alice, bob = agent(3, ALICE), agent(4, BOB)
    call.at(3.0, alice, "Proceeding")
    call.at(3.01, bob, "Proceeding")
    call.at(15.0, bob, "Disconnected", reason="Timeout", missed=True)
    call.at(25.05, alice, "Answered")
    call.at(25.06, queue, "Disconnected")
    call.at(80.0, alice, "Disconnected")
    call.at(80.02, caller, "Disconnected")
    return call.notifications("account")


def people_day() -> list[Notification]:
    extra = [bob_misses(f"bob-misses-{n}", at) for n, at in enumerate(BOB_MISSES_AT)]
    return day_notifications() + [n for call in extra for n in call]


@pytest.fixture
async def people_api(api: Api) -> Api:
    """The fixture day and Bob's two misses, processed with the directory stored."""
    await store_directory(api)
    await api.load(people_day(), now=PROCESSED_AT)
    return api


async def stats(api: Api, **params: Any) -> dict[str, Any]:
    return await api.json("/v1/stats/outcomes", **params)


async def test_agent_groups_count_calls_and_legs(people_api: Api) -> None:
    report = await stats(people_api, **DAY_RANGE, group_by="agent")
    groups = {g["key"]: g for g in report["groups"]}
    # the queue and the IVR menu are known to the directory as other kinds: not agents
    assert list(groups) == [ALICE, BOB]
    alice, bob = groups[ALICE], groups[BOB]
    assert (alice["name"], alice["extension_number"]) == ("Alice Adams", "101")
    assert (bob["name"], bob["extension_number"]) == ("Bob Brown", None)

    # Alice: the 10 fixture calls of hers and Bob's two misses (she answered both after 25 s)
    assert (alice["offered"], alice["answered"], alice["long_abandons"]) == (12, 5, 4)
    assert alice["short_abandons"] == 1
    assert alice["abandon_rate"] == 4 / 11
    assert alice["abandon_rate_gross"] == 5 / 12
    assert alice["service_level"] == 3 / 9  # within 20 s: 8.2, 9.45, 6.0; not 25.0 twice
    assert alice["average_speed_of_answer_s"] == round((8.2 + 9.45 + 6.0 + 50.0) / 5, 3)
    assert alice["time_to_abandon_p50_s"] == 18.0  # 3, 12, 18, 24, 48
    assert alice["time_to_abandon_max_s"] == 48.0
    assert alice["legs"] == {
        "offered": 12,
        "outcomes": NO_LEGS
        | {
            "answered": 4,
            "caller_abandoned": 4,
            "voicemail_left": 1,
            "abandoned_voicemail": 1,
            "missed": 1,
            "transferred": 1,
        },
        "miss_rate": 1 / 12,
    }

    # Bob: queue answer, queue abandon, internal, and his two misses
    assert (bob["offered"], bob["answered"], bob["long_abandons"]) == (5, 3, 2)
    assert bob["legs"]["offered"] == 5
    assert bob["legs"]["outcomes"] == NO_LEGS | {
        "answered_elsewhere": 1,
        "caller_abandoned": 2,
        "missed": 2,
    }
    assert bob["legs"]["miss_rate"] == 2 / 5

    totals = report["totals"]
    assert totals["offered"] == 14  # every offered call once, the IVR ones too
    assert (totals["name"], totals["extension_number"]) == (None, None)
    assert totals["legs"]["offered"] == 17
    assert totals["legs"]["outcomes"]["missed"] == 3
    assert totals["legs"]["miss_rate"] == 3 / 17


async def test_extensions_the_directory_does_not_know_count_as_agents(day_api: Api) -> None:
    """Before the first directory sync every extension is unknown: each counts, unnamed."""
    report = await stats(day_api, **DAY_RANGE, group_by="agent")
    groups = {g["key"]: g for g in report["groups"]}
    assert set(groups) == {"300200016", "300300016", ALICE, BOB}
    assert {(g["name"], g["extension_number"]) for g in groups.values()} == {(None, None)}
    assert groups["300300016"]["legs"]["outcomes"]["answered_elsewhere"] == 1


async def test_queue_and_extension_groups_carry_directory_names(people_api: Api) -> None:
    queues = await stats(people_api, **DAY_RANGE, group_by="queue")
    assert [(g["key"], g["name"], g["extension_number"]) for g in queues["groups"]] == [
        ("Sales Queue", "Sales Queue", "300"),
        (None, None, None),
    ]
    sales = queues["groups"][0]
    # queue answer (w 9.45), queue abandon (t 48), Bob's two misses (answered, w 25.0 each)
    assert (sales["offered"], sales["answered"], sales["long_abandons"]) == (4, 3, 1)
    assert (sales["abandoned"], sales["short_abandons"]) == (1, 0)
    assert sales["abandon_rate"] == sales["abandon_rate_gross"] == 1 / 4
    assert sales["service_level"] == 1 / 4
    assert sales["average_speed_of_answer_s"] == round((9.45 + 50.0) / 3, 3)
    assert sales["time_to_abandon_p50_s"] == sales["time_to_abandon_p90_s"] == 48.0
    assert sales["legs"] is None

    extensions = await stats(people_api, **DAY_RANGE, group_by="extension")
    named = {g["key"]: (g["name"], g["extension_number"]) for g in extensions["groups"]}
    assert named == {
        "300200016": (None, "200"),
        "300300016": ("Sales Queue", "300"),
        ALICE: ("Alice Adams", "101"),
        BOB: ("Bob Brown", None),
    }


async def test_a_queue_the_directory_does_not_know_keeps_its_calls_name(day_api: Api) -> None:
    report = await stats(day_api, **DAY_RANGE, group_by="queue")
    assert [(g["name"], g["extension_number"]) for g in report["groups"]] == [
        ("Sales Queue", None),
        (None, None),
    ]


async def test_time_groups_have_no_names_nor_legs(people_api: Api) -> None:
    report = await stats(people_api, **DAY_RANGE, group_by="day")
    [day] = report["groups"]
    assert (day["name"], day["extension_number"], day["legs"]) == (None, None, None)
    assert day["offered"] == 14
