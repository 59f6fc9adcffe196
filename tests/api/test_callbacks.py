"""The callback list (`GET /v1/abandoned?unrecovered=true`), recoveries on outcomes, and the
poll summary's live block, on both databases.

In the fixture day every call but two comes from one number, so the 12:00 answered call
recovers every abandon before it; the internal abandon (12:30, from Alice's number) stays to
call back."""

from __future__ import annotations

import statistics
from datetime import timedelta
from typing import Any

import httpx
import orjson

from tests.api.conftest import Api
from tests.api.day import DAY, PROCESSED_AT, SESSION
from tests.api.support import Notification, placed, session_of
from tests.api.test_names import store_directory

ALICE_NUMBER = "+16505550101"
FIXTURE_CALLER = "+14155550123"
FIXTURE_DIALLED = "+12125550147"
REPEAT = "+15105550111"
LOADED_AT = DAY.replace(hour=13)
DAY_ = "2026-03-10T"
DAY_ABANDONS = ("queue_abandon", "ringing", "short_ring", "ivr", "vm_greeting", "short_ivr")


def swapped(notifications: list[Notification], old: str, new: str) -> list[Notification]:
    raws = (orjson.dumps(n).replace(old.encode(), new.encode()) for n in notifications)
    return [orjson.loads(raw) for raw in raws]


def moved(name: str, hour: int, minute: int, hex_digit: str) -> list[Notification]:
    """The fixture call `name` on the fixture day at hour:minute, as session s-<digit x 32>."""
    return placed(name, at=DAY.replace(hour=hour, minute=minute), hex_id=hex_digit * 32)


def from_repeat(name: str, hour: int, minute: int, hex_digit: str) -> list[Notification]:
    return swapped(moved(name, hour, minute, hex_digit), FIXTURE_CALLER, REPEAT)


async def callbacks(api: Api, **params: Any) -> httpx.Response:
    return await api.client.get("/v1/abandoned", params={"unrecovered": "true", **params})


async def test_the_day_leaves_one_caller_to_call_back(day_api: Api) -> None:
    response = await callbacks(day_api)
    assert response.status_code == 200
    body = response.json()
    assert [row["number"] for row in body["callbacks"]] == [ALICE_NUMBER]
    [row] = body["callbacks"]
    assert row["attempts"] == 1
    assert row["caller_key"] == "16505550101"
    assert [call["telephony_session_id"] for call in row["calls"]] == [SESSION["internal"]]
    assert row["calls"][0]["category_label"] == "hung up while ringing"
    assert row["call_back_before"] == "2026-03-11T12:30:00Z"
    assert (body["numbers"], body["has_more"], body["window_s"]) == (1, False, 86400.0)
    assert body["as_of"] == "2026-03-10T13:00:00Z"


async def test_recovered_calls_say_by_which_call_and_the_rate_counts_them(day_api: Api) -> None:
    items = (await day_api.client.get("/v1/calls", params={"is_abandoned": "true"})).json()
    by_session = {item["telephony_session_id"]: item for item in items["items"]}
    recovered = [by_session[SESSION[label]] for label in DAY_ABANDONS]
    assert {item["recovered_by"] for item in recovered} == {SESSION["park"]}
    for item in recovered:
        assert item["recovered_at"] > item["ended_at"]
        assert item["time_to_recovery_s"] > 0
    assert by_session[SESSION["internal"]]["recovered_by"] is None
    recovery = (await callbacks(day_api)).json()["recovery"]
    times = [item["time_to_recovery_s"] for item in recovered]
    assert recovery == {
        "abandoned": 7,
        "recovered": 6,
        "recovery_rate": 6 / 7,
        "median_time_to_recovery_s": statistics.median(times),
    }
    without_short = (await callbacks(day_api, include_short="false")).json()["recovery"]
    assert (without_short["abandoned"], without_short["recovered"]) == (5, 4)
    day = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z", "group_by": "day"}
    stats = (await day_api.client.get("/v1/stats/outcomes", params=day)).json()
    assert stats["recovery"] == recovery


async def test_a_repeat_caller_is_one_row_until_a_call_back_connects(day_api: Api) -> None:
    first = await callbacks(day_api)
    attempts = [
        from_repeat("abandoned-queue-account", 12, 45, "a"),
        from_repeat("abandoned-ringing-account", 12, 50, "b"),
    ]
    for attempt in attempts:
        await day_api.load(attempt, now=PROCESSED_AT + timedelta(minutes=15))
    listed = await callbacks(day_api)
    assert listed.headers["ETag"] != first.headers["ETag"]
    rows = listed.json()["callbacks"]
    assert [(row["number"], row["attempts"]) for row in rows] == [(ALICE_NUMBER, 1), (REPEAT, 2)]
    assert [c["telephony_session_id"] for c in rows[1]["calls"]] == [
        session_of(attempt) for attempt in attempts
    ]
    assert (await callbacks(day_api)).json() == listed.json()
    not_modified = await day_api.client.get(
        "/v1/abandoned",
        params={"unrecovered": "true"},
        headers={"If-None-Match": listed.headers["ETag"]},
    )
    assert not_modified.status_code == 304
    cursor = (await day_api.client.get("/v1/abandoned")).json()["cursor"]

    # Alice calls the number back (national form) at 12:55 and gets through.
    call_back = swapped(moved("outbound-connected-ext", 12, 55, "c"), FIXTURE_DIALLED, "5105550111")
    await day_api.load(call_back, now=PROCESSED_AT + timedelta(minutes=20))
    after = await callbacks(day_api)
    assert [row["number"] for row in after.json()["callbacks"]] == [ALICE_NUMBER]
    changes = (await day_api.client.get("/v1/abandoned", params={"since": cursor})).json()
    revised = {c["outcome"]["telephony_session_id"]: c for c in changes["changes"]}
    assert set(revised) == {session_of(attempt) for attempt in attempts}
    for change in revised.values():
        assert change["removed"] is False  # still an abandoned call, now a recovered one
        assert change["outcome"]["recovered_by"] == session_of(call_back)
        assert change["outcome"]["revision"] == 2


async def test_limit_cuts_the_list_and_says_so(day_api: Api) -> None:
    await day_api.load(
        from_repeat("abandoned-ringing-account", 12, 50, "d"),
        now=PROCESSED_AT + timedelta(minutes=15),
    )
    body = (await callbacks(day_api, limit=1)).json()
    assert [row["number"] for row in body["callbacks"]] == [ALICE_NUMBER]
    assert (body["has_more"], body["numbers"]) == (True, 2)


async def test_a_cut_list_shows_every_attempt_of_the_numbers_it_keeps(day_api: Api) -> None:
    """The numbers are chosen by their first attempt; a chosen number's later attempts (after
    another number's first) come with it."""
    await day_api.load(
        [
            *from_repeat("abandoned-ringing-account", 12, 20, "d"),
            *from_repeat("abandoned-ringing-account", 12, 50, "e"),
        ],
        now=PROCESSED_AT + timedelta(minutes=15),
    )
    body = (await callbacks(day_api, limit=1)).json()
    assert [(row["number"], row["attempts"]) for row in body["callbacks"]] == [(REPEAT, 2)]
    assert (body["has_more"], body["numbers"]) == (True, 2)
    whole = (await callbacks(day_api)).json()
    assert [row["number"] for row in whole["callbacks"]] == [REPEAT, ALICE_NUMBER]


async def test_a_number_that_called_again_and_again_leaves_room_for_the_next(
    day_api: Api,
) -> None:
    """The numbers are looked for among the first calls of the window (twice as many as numbers
    asked for); five attempts from one number before Alice's fill that head, and the list still
    reaches her number."""
    await day_api.load(
        [
            *(
                call
                for minute, digit in zip(range(20, 25), "abcde", strict=True)
                for call in from_repeat("abandoned-ringing-account", 12, minute, digit)
            )
        ],
        now=PROCESSED_AT + timedelta(minutes=15),
    )
    two = (await callbacks(day_api, limit=2)).json()
    assert [(row["number"], row["attempts"]) for row in two["callbacks"]] == [
        (REPEAT, 5),
        (ALICE_NUMBER, 1),
    ]
    assert (two["has_more"], two["numbers"]) == (False, 2)
    one = (await callbacks(day_api, limit=1)).json()
    assert [(row["number"], row["attempts"]) for row in one["callbacks"]] == [(REPEAT, 5)]
    assert (one["has_more"], one["numbers"]) == (True, 2)


async def test_the_list_is_whole_each_time_and_bad_words_are_refused(day_api: Api) -> None:
    whole = await callbacks(day_api)
    with_since = await callbacks(day_api, since="2026-03-10T12:45:00Z")
    assert with_since.status_code == 200
    assert with_since.json() == whole.json()  # `since` is ignored: the list is whole
    bad_word = await day_api.client.get("/v1/abandoned", params={"unrecovered": "maybe"})
    assert bad_word.status_code == 422
    assert bad_word.json()["error"]["parameter"] == "unrecovered"


def cut_before(notifications: list[Notification], code: str) -> list[Notification]:
    """The call as it stands before its first party status `code`: still in progress."""
    kept = []
    for notification in notifications:
        parties = notification["body"].get("parties", [])
        if any(p.get("status", {}).get("code") == code for p in parties):
            break
        kept.append(notification)
    return kept


async def test_the_summary_says_who_waits_where_now(api: Api) -> None:
    await store_directory(api)
    waiting = {
        "queue": moved("abandoned-queue-account", 12, 50, "1"),
        "ivr": moved("abandoned-ivr-account", 12, 55, "2"),
        "ringing": moved("in-progress-ringing-account", 12, 40, "3"),
    }
    for notifications in waiting.values():
        await api.load(cut_before(notifications, "Disconnected"), now=LOADED_AT)
    first = await api.client.get("/v1/abandoned")
    live = first.json()["summary"]["live"]
    assert live["waiting"] == [
        {"stage": "queue", "place": "Sales Queue", "calls": 1, "longest_since": f"{DAY_}12:50:00Z"},
        {"stage": "ivr", "place": "ext 200", "calls": 1, "longest_since": f"{DAY_}12:55:00Z"},
    ]
    assert live["stages"]["ringing"] == {"calls": 1, "longest_since": f"{DAY_}12:40:00Z"}
    assert live["stages"]["voicemail"] == {"calls": 0, "longest_since": None}

    # The queue caller hangs up: the live block changes, and so does the poll's ETag.
    await api.load(waiting["queue"], now=LOADED_AT)
    second = await api.client.get("/v1/abandoned")
    assert second.headers["ETag"] != first.headers["ETag"]
    places = [row["place"] for row in second.json()["summary"]["live"]["waiting"]]
    assert places == ["ext 200"]
