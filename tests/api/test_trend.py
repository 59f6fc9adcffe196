"""GET /v1/stats/trend on both databases: the fixture day (tests/api/day.py, Tuesday 10 March
2026) in quarter hours against the Tuesdays before it, with numbers computed by hand; days on
which the clocks change have 92, 94 or 100 buckets, and the repeated hour is compared right.

The Tuesdays before (UTC): 3 March has an answered call at 09:05 and an abandon while ringing at
09:10; 24 February a short abandon at 09:20 and an abandon while ringing at 10:05; 17 and 10
February have no call, so the normal day is the average of 3 March and 24 February.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.day import day_notifications
from tests.api.support import Notification, placed

EARLIER_TUESDAYS = [
    ("answered-direct-ext", datetime(2026, 3, 3, 9, 5, tzinfo=UTC)),
    ("abandoned-ringing-account", datetime(2026, 3, 3, 9, 10, tzinfo=UTC)),
    ("short-abandon-ringing-account", datetime(2026, 2, 24, 9, 20, tzinfo=UTC)),
    ("abandoned-ringing-account", datetime(2026, 2, 24, 10, 5, tzinfo=UTC)),
]
NO_CALL = {
    "offered": 0,
    "answered": 0,
    "abandoned": 0,
    "long_abandons": 0,
    "short_abandons": 0,
    "abandon_rate": None,
    "abandon_rate_gross": None,
}


def calls(listed: list[tuple[str, datetime]], first_hex: int) -> list[Notification]:
    notifications: list[Notification] = []
    for number, (fixture, at) in enumerate(listed):
        notifications += placed(fixture, at=at, hex_id=f"{first_hex + number:032x}")
    return notifications


@pytest.fixture
async def trend_api(api: Api) -> Api:
    await api.load(
        day_notifications() + calls(EARLIER_TUESDAYS, 0xA00),
        now=datetime(2026, 3, 10, 12, 41, tzinfo=UTC),
    )
    return api


async def trend(api: Api, **params: Any) -> dict[str, Any]:
    return await api.json("/v1/stats/trend", **params)


async def test_the_day_against_a_normal_day(trend_api: Api) -> None:
    report = await trend(trend_api)  # today in the report zone (UTC), 4 weeks
    assert (report["date"], report["tz"], report["weeks"]) == ("2026-03-10", "UTC", 4)
    assert (report["start"], report["end"]) == (
        "2026-03-10T00:00:00+00:00",
        "2026-03-11T00:00:00+00:00",
    )
    assert report["as_of"] == "2026-03-10T13:00:30Z"
    assert report["bucket_s"] == 900
    assert report["compared_days"] == [
        {"date": "2026-03-03", "offered": 2, "counted": True},
        {"date": "2026-02-24", "offered": 2, "counted": True},
        {"date": "2026-02-17", "offered": 0, "counted": False},
        {"date": "2026-02-10", "offered": 0, "counted": False},
    ]
    buckets = report["buckets"]
    assert len(buckets) == 96
    assert [b["local_time"] for b in buckets[:2]] == ["00:00", "00:15"]
    assert (buckets[-1]["start"], buckets[-1]["end"]) == (
        "2026-03-10T23:45:00+00:00",
        "2026-03-11T00:00:00+00:00",
    )
    at = {b["local_time"]: b for b in buckets}

    # 09:00-09:15: the direct answer that day; 3 March had an answer and a long abandon
    assert at["09:00"]["day"] == NO_CALL | {
        "offered": 1,
        "answered": 1,
        "abandon_rate": 0.0,
        "abandon_rate_gross": 0.0,
    }
    assert at["09:00"]["normal"] == {
        "offered": 1.0,
        "answered": 0.5,
        "abandoned": 0.5,
        "long_abandons": 0.5,
        "short_abandons": 0.0,
        "abandon_rate": 0.5,
        "abandon_rate_gross": 0.5,
        "days": 2,
    }
    # 09:15: the queue answer (09:20); 24 February's short abandon only: no net rate (0/0)
    assert at["09:15"]["day"]["answered"] == 1
    assert at["09:15"]["normal"] == {
        "offered": 0.5,
        "answered": 0.0,
        "abandoned": 0.5,
        "long_abandons": 0.0,
        "short_abandons": 0.5,
        "abandon_rate": None,
        "abandon_rate_gross": 1.0,
        "days": 2,
    }
    # 10:00: the abandon while ringing (10:05) and the short one (10:10), against 24 February's
    assert at["10:00"]["day"] == {
        "offered": 2,
        "answered": 0,
        "abandoned": 2,
        "long_abandons": 1,
        "short_abandons": 1,
        "abandon_rate": 1.0,
        "abandon_rate_gross": 1.0,
    }
    assert (at["10:00"]["normal"]["offered"], at["10:00"]["normal"]["long_abandons"]) == (0.5, 0.5)
    # a quiet quarter: nothing either day, the normal day still averages two days
    assert at["03:00"]["day"] == NO_CALL
    assert at["03:00"]["normal"] == {
        "offered": 0.0,
        "answered": 0.0,
        "abandoned": 0.0,
        "long_abandons": 0.0,
        "short_abandons": 0.0,
        "abandon_rate": None,
        "abandon_rate_gross": None,
        "days": 2,
    }
    assert sum(b["day"]["offered"] for b in buckets) == 12

    totals = report["totals"]
    assert (totals["day"]["offered"], totals["day"]["abandoned"]) == (12, 7)
    assert totals["day"]["abandon_rate"] == 5 / 10
    assert totals["normal"] == {
        "offered": 2.0,
        "answered": 0.5,
        "abandoned": 1.5,
        "long_abandons": 1.0,
        "short_abandons": 0.5,
        "abandon_rate": 2 / 3,
        "abandon_rate_gross": 3 / 4,
        "days": 2,
    }


async def test_a_given_date_zone_and_number_of_weeks(trend_api: Api) -> None:
    """3 March in New York (UTC-5), against one week before: 24 February's calls at 04:20 and
    05:05 local, and the day's own at 04:05 and 04:10."""
    report = await trend(trend_api, date="2026-03-03", tz="America/New_York", weeks=1)
    assert report["start"] == "2026-03-03T00:00:00-05:00"
    assert report["compared_days"] == [{"date": "2026-02-24", "offered": 2, "counted": True}]
    at = {b["local_time"]: b for b in report["buckets"]}
    assert (at["04:00"]["day"]["offered"], at["04:00"]["day"]["long_abandons"]) == (2, 1)
    assert at["04:00"]["normal"]["offered"] == 0.0
    assert at["04:15"]["normal"]["short_abandons"] == 1.0
    assert at["05:00"]["normal"]["long_abandons"] == 1.0
    assert at["09:00"]["day"]["offered"] == 0  # the UTC hour of the calls is not theirs here


async def test_without_an_earlier_day_with_calls_the_normal_day_is_null(api: Api) -> None:
    report = await trend(api, date="2026-03-10")
    assert [day["counted"] for day in report["compared_days"]] == [False] * 4
    assert report["buckets"][40]["normal"] == dict.fromkeys(NO_CALL) | {"days": 0}
    assert report["totals"]["normal"]["days"] == 0


@pytest.mark.parametrize(
    ("zone", "day", "count"),
    [
        ("Europe/Paris", "2026-03-29", 92),  # clocks forward an hour
        ("Europe/Paris", "2026-10-25", 100),  # back an hour
        ("Australia/Lord_Howe", "2026-10-04", 94),  # forward half an hour
        ("Asia/Kathmandu", "2026-03-10", 96),  # +05:45
    ],
)
async def test_days_on_which_the_clocks_change(api: Api, zone: str, day: str, count: int) -> None:
    report = await trend(api, date=day, tz=zone, weeks=1)
    buckets = report["buckets"]
    assert len(buckets) == count
    assert buckets[0]["start"] == report["start"]
    assert buckets[-1]["end"] == report["end"]
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(buckets))
    assert buckets[0]["local_time"] == "00:00"


async def test_the_repeated_hour_of_a_fall_back(api: Api) -> None:
    """New York, 1 November 2026: 01:30 happens at 05:30 (EDT) and 06:30 UTC (EST), one call
    each; the week before had one call at 01:30 (05:30 UTC). Both 01:30 buckets compare with
    it."""
    listed = [
        ("short-abandon-ringing-account", datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("abandoned-ringing-account", datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
        ("answered-direct-ext", datetime(2026, 10, 25, 5, 30, tzinfo=UTC)),
    ]
    await api.load(calls(listed, 0xB00), now=datetime(2026, 11, 1, 7, tzinfo=UTC))

    report = await trend(api, date="2026-11-01", tz="America/New_York", weeks=1)

    repeated = [b for b in report["buckets"] if b["local_time"] == "01:30"]
    assert [(b["start"], b["day"]["offered"]) for b in repeated] == [
        ("2026-11-01T01:30:00-04:00", 1),
        ("2026-11-01T01:30:00-05:00", 1),
    ]
    assert [b["day"]["short_abandons"] for b in repeated] == [1, 0]
    assert [(b["normal"]["answered"], b["normal"]["days"]) for b in repeated] == [(1.0, 1)] * 2
    assert report["totals"]["normal"]["offered"] == 1.0
