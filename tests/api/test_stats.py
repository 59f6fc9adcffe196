"""GET /v1/stats/outcomes: every group on both databases, checked against numbers computed by
hand from the fixture day (tests/api/day.py); SQLite and PostgreSQL give identical reports."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from service.api.buckets import bucket_bounds, bucket_key, bucket_keys, offset_at, offset_spans
from service.api.stats_queries import percentile_cont
from service.app import create_app
from service.serving import serve
from service.settings import Settings
from tests.api.conftest import Api, new_key
from tests.api.support import Notification, drain, placed, post
from tests.conftest import WEBHOOK_TOKEN
from tests.support.databases import PostgresTestDatabase, SqliteTemplate

DAY_RANGE = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}
NO_ABANDON_HISTOGRAM = [0, 0, 0, 0, 0, 0, 0, 0]
# half-hour DST (Lord Howe), quarter-hour offsets (Kathmandu, Chatham), a skipped day (Apia),
# changes a week apart (Noronha in 2000)
ODD_ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",
    "America/Noronha",
    "America/Sao_Paulo",
    "Asia/Gaza",
    "Africa/Casablanca",  # no summer time during Ramadan: changes about a month apart
]


def counts(histogram: list[dict[str, Any]]) -> list[int]:
    return [bucket["count"] for bucket in histogram]


async def stats(api: Api, **params: Any) -> dict[str, Any]:
    return await api.json("/v1/stats/outcomes", **params)


class TestFixtureDay:
    async def test_totals_match_the_hand_computed_figures(self, day_api: Api) -> None:
        totals = (await stats(day_api, **DAY_RANGE, group_by="hour"))["totals"]
        # Offered: 12 final inbound/internal calls (outbound, in-progress and next day left out).
        # A = 3 (waits 8.2, 9.45, 6.0); S = 2; L = 5 (tta 48, 18, 25, 24, 12).
        assert totals["offered"] == 12
        assert (totals["answered"], totals["short_abandons"], totals["long_abandons"]) == (3, 2, 5)
        assert totals["abandoned"] == 7
        assert totals["abandon_rate"] == 5 / (12 - 2)
        assert totals["abandon_rate_gross"] == 7 / 12
        assert totals["answered_within_sla"] == 3
        assert totals["service_level"] == 3 / (3 + 5)
        assert totals["average_speed_of_answer_s"] == round((8.2 + 9.45 + 6.0) / 3, 3)
        # Abandon times sorted: 2, 3, 12, 18, 24, 25, 48 (n = 7).
        assert totals["time_to_abandon_p50_s"] == 18.0  # rank 3 exactly
        assert totals["time_to_abandon_p90_s"] == 34.2  # rank 5.4: 25 + (48 - 25) * 0.4
        assert totals["time_to_abandon_max_s"] == 48.0
        assert counts(totals["time_to_abandon_histogram"]) == [2, 0, 2, 2, 1, 0, 0, 0]
        assert totals["categories"] == {
            "answered": 3,
            "voicemail_left": 1,
            "abandoned_voicemail": 1,
            "short_abandon": 2,
            "abandoned_ivr": 1,
            "abandoned_queue": 1,
            "abandoned_ringing": 2,
            "abandoned_hold": 0,
            "missed": 1,
            "deflected": 0,
            "failed": 0,
            "unknown": 0,
        }

    async def test_hour_groups(self, day_api: Api) -> None:
        report = await stats(day_api, **DAY_RANGE, group_by="hour")
        groups = report["groups"]
        assert [g["start"] for g in groups] == [
            f"2026-03-10T{hour:02d}:00:00+00:00" for hour in range(24)
        ]
        by_hour = {int(g["start"][11:13]): g for g in groups}
        nine, ten, eleven, twelve = by_hour[9], by_hour[10], by_hour[11], by_hour[12]
        # 09: direct (A 8.2), queue answer (A 9.45), queue abandon (L 48).
        assert (nine["offered"], nine["answered"], nine["long_abandons"]) == (3, 2, 1)
        assert nine["abandon_rate"] == 1 / 3
        assert nine["service_level"] == 2 / 3
        assert nine["average_speed_of_answer_s"] == 8.825
        assert nine["time_to_abandon_p50_s"] == nine["time_to_abandon_p90_s"] == 48.0
        # 10: ringing (L 18), short (S 3), ivr (L 25), voicemail left.
        assert (ten["offered"], ten["long_abandons"], ten["short_abandons"]) == (4, 2, 1)
        assert ten["abandon_rate"] == 2 / 3
        assert ten["abandon_rate_gross"] == 3 / 4
        assert ten["service_level"] == 0.0
        assert ten["average_speed_of_answer_s"] is None
        assert ten["time_to_abandon_p50_s"] == 18.0
        assert ten["time_to_abandon_p90_s"] == 23.6  # rank 1.8 of 3, 18, 25
        assert counts(ten["time_to_abandon_histogram"]) == [1, 0, 1, 1, 0, 0, 0, 0]
        # 11: greeting hang-up (L 24), missed, short IVR (S 2).
        assert (eleven["offered"], eleven["long_abandons"], eleven["short_abandons"]) == (3, 1, 1)
        assert eleven["abandon_rate"] == 1 / 2
        assert eleven["time_to_abandon_p50_s"] == 13.0
        assert eleven["time_to_abandon_p90_s"] == 21.8
        # 12: park (A 6.0) and the internal abandon (L 12); outbound and in-progress left out.
        assert (twelve["offered"], twelve["answered"], twelve["long_abandons"]) == (2, 1, 1)
        assert twelve["service_level"] == 1 / 2
        assert twelve["categories"]["abandoned_ringing"] == 1
        quiet = by_hour[3]
        assert quiet["offered"] == 0
        assert quiet["abandon_rate"] is quiet["service_level"] is None
        assert counts(quiet["time_to_abandon_histogram"]) == NO_ABANDON_HISTOGRAM
        assert sum(g["offered"] for g in groups) == report["totals"]["offered"]

    async def test_day_groups_in_utc_and_in_a_time_zone(self, day_api: Api) -> None:
        utc_days = await stats(
            day_api,
            **{"from": "2026-03-10T00:00:00Z", "to": "2026-03-12T00:00:00Z"},
            group_by="day",
        )
        assert [(g["start"], g["offered"]) for g in utc_days["groups"]] == [
            ("2026-03-10T00:00:00+00:00", 12),
            ("2026-03-11T00:00:00+00:00", 1),
        ]
        # New York is UTC-4 (DST began on 8 March): the 01:00 UTC call of the 11th belongs to
        # the 10th there.
        local = await stats(
            day_api,
            **{"from": "2026-03-10T04:00:00Z", "to": "2026-03-12T04:00:00Z"},
            group_by="day",
            tz="America/New_York",
        )
        assert [(g["start"], g["end"], g["offered"]) for g in local["groups"]] == [
            ("2026-03-10T00:00:00-04:00", "2026-03-11T00:00:00-04:00", 13),
            ("2026-03-11T00:00:00-04:00", "2026-03-12T00:00:00-04:00", 0),
        ]
        assert local["groups"][0]["answered"] == 4
        assert local["tz"] == "America/New_York"

    async def test_extension_groups(self, day_api: Api) -> None:
        report = await stats(day_api, **DAY_RANGE, group_by="extension")
        groups = {g["key"]: g for g in report["groups"]}
        assert set(groups) == {"300200016", "300300016", "300401016", "300402016"}
        alice = groups["300401016"]  # 10 calls: every one but the two IVR ones
        assert (alice["offered"], alice["answered"], alice["long_abandons"]) == (10, 3, 4)
        assert alice["short_abandons"] == 1
        assert alice["abandon_rate"] == 4 / 9
        assert alice["service_level"] == 3 / 7
        ivr = groups["300200016"]  # the IVR abandon (L 25) and the short IVR abandon (S 2)
        assert (ivr["offered"], ivr["long_abandons"], ivr["short_abandons"]) == (2, 1, 1)
        assert ivr["abandon_rate"] == 1.0
        assert ivr["time_to_abandon_p50_s"] == 13.5
        bob = groups["300402016"]  # queue answer, queue abandon, internal abandon
        assert (bob["offered"], bob["answered"], bob["long_abandons"]) == (3, 1, 2)
        assert groups["300300016"]["offered"] == 2
        assert report["totals"]["offered"] == 12  # totals count each call once

    async def test_queue_groups(self, day_api: Api) -> None:
        report = await stats(day_api, **DAY_RANGE, group_by="queue")
        assert [(g["key"], g["offered"]) for g in report["groups"]] == [
            ("Sales Queue", 2),
            (None, 10),
        ]
        sales = report["groups"][0]
        assert (sales["answered"], sales["long_abandons"]) == (1, 1)
        assert sales["average_speed_of_answer_s"] == 9.45

    async def test_sla_threshold_parameter(self, day_api: Api) -> None:
        totals = (await stats(day_api, **DAY_RANGE, group_by="day", sla_s=8.5))["totals"]
        assert totals["answered_within_sla"] == 2  # 8.2 and 6.0; not 9.45
        assert totals["service_level"] == 2 / 8

    async def test_default_range_is_the_24_hours_before_now(self, day_api: Api) -> None:
        report = await stats(day_api, group_by="queue")
        assert (report["start"], report["end"]) == ("2026-03-09T13:00:30Z", "2026-03-10T13:00:30Z")
        assert report["totals"]["offered"] == 12


async def test_the_repeated_hour_of_a_dst_fall_back_is_two_buckets(api: Api) -> None:
    # New York falls back at 06:00 UTC on 1 November 2026: 01:30 happens at 05:30 and 06:30 UTC.
    first = placed("short-abandon-ringing-account", at=_utc(2026, 11, 1, 5, 30), hex_id="1" * 32)
    second = placed("abandoned-ringing-account", at=_utc(2026, 11, 1, 6, 30), hex_id="2" * 32)
    await api.load(first + second, now=_utc(2026, 11, 1, 7, 0))
    report = await stats(
        api,
        **{"from": "2026-11-01T04:00:00Z", "to": "2026-11-01T08:00:00Z"},
        group_by="hour",
        tz="America/New_York",
    )
    assert [(g["start"], g["offered"], g["short_abandons"]) for g in report["groups"]] == [
        ("2026-11-01T00:00:00-04:00", 0, 0),
        ("2026-11-01T01:00:00-04:00", 1, 1),
        ("2026-11-01T01:00:00-05:00", 1, 0),
        ("2026-11-01T02:00:00-05:00", 0, 0),
    ]


async def test_half_hour_zones_shift_hour_buckets(api: Api) -> None:
    call = placed("abandoned-ringing-account", at=_utc(2026, 3, 10, 9, 10), hex_id="3" * 32)
    await api.load(call, now=_utc(2026, 3, 10, 10, 0))
    report = await stats(
        api,
        **{"from": "2026-03-10T08:30:00Z", "to": "2026-03-10T10:30:00Z"},
        group_by="hour",
        tz="Asia/Kolkata",
    )
    assert [(g["start"], g["offered"]) for g in report["groups"]] == [
        ("2026-03-10T14:00:00+05:30", 1),  # 08:30-09:30 UTC holds the 09:10 call
        ("2026-03-10T15:00:00+05:30", 0),
    ]


class TestPureParts:
    def test_percentile_matches_postgres_percentile_cont(self) -> None:
        ranked = dict(enumerate([2.0, 3.0, 12.0, 18.0, 24.0, 25.0, 48.0]))
        assert percentile_cont(ranked, 7, 0.5) == 18.0
        assert percentile_cont(ranked, 7, 0.9) == 25.0 + (48.0 - 25.0) * (0.9 * 6 - 5)
        assert percentile_cont({0: 7.5}, 1, 0.9) == 7.5
        assert percentile_cont({}, 0, 0.5) is None

    def test_offset_spans_find_the_dst_changes(self) -> None:
        zone = ZoneInfo("Europe/Paris")
        spans = offset_spans(zone, _utc(2026, 3, 1), _utc(2026, 11, 1))
        assert [(s.start.isoformat(), s.offset_s) for s in spans] == [
            ("2026-03-01T00:00:00+00:00", 3600),
            ("2026-03-29T01:00:00+00:00", 7200),
            ("2026-10-25T01:00:00+00:00", 3600),
        ]

    @settings(max_examples=60, deadline=None)
    @given(
        zone_name=st.sampled_from(ODD_ZONES),
        group_by=st.sampled_from(["quarter", "hour", "day"]),
        start_s=st.integers(0, 7_258_118_400 - 400 * 86_400),  # 1970 to 2200, less the span
        span_s=st.one_of(st.integers(1, 7_200), st.integers(7 * 86_400, 400 * 86_400)),
    )
    @example("America/Noronha", "hour", 970358400, 30 * 86_400)  # 2000-10-01: changes 7 days apart
    @example("Africa/Casablanca", "day", 1769904000, 60 * 86_400)  # 2026-02-01: Ramadan
    def test_buckets_and_offsets_match_a_quarter_hour_scan(
        self, zone_name: str, group_by: str, start_s: int, span_s: int
    ) -> None:
        """The daily scan for offset changes and the per-span bucket arithmetic give what looking
        at every quarter-hour of the range gives (offsets and their changes are whole quarter
        hours), in zones with odd offsets and rules."""
        zone = ZoneInfo(zone_name)
        start = datetime.fromtimestamp(start_s, UTC)
        end = start + timedelta(seconds=span_s)
        spans = offset_spans(zone, start, end)
        quarters = range(start_s - start_s % 900 + 900, start_s + span_s, 900)
        moments = [start_s, *quarters, start_s + span_s - 1]
        for moment in moments:
            span = [s for s in spans if s.start.timestamp() <= moment][-1:] or spans[:1]
            assert span[0].offset_s == offset_at(zone, moment), moment
        expected = sorted({bucket_key(group_by, zone, moment) for moment in moments})
        assert bucket_keys(group_by, zone, start, end, spans) == expected

    def test_a_spring_forward_day_has_23_hour_buckets(self) -> None:
        zone = ZoneInfo("Europe/Paris")
        start, end = _utc(2026, 3, 28, 23), _utc(2026, 3, 29, 22)
        keys = bucket_keys("hour", zone, start, end)
        assert len(keys) == 23
        assert bucket_bounds("hour", zone, keys[2])[0].isoformat() == "2026-03-29T03:00:00+02:00"
        [day] = bucket_keys("day", zone, start, end)
        assert [b.isoformat() for b in bucket_bounds("day", zone, day)] == [
            "2026-03-29T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00",
        ]


def _utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# ---- the same report from both databases ------------------------------------------------------

MIXED_FIXTURES = (
    "answered-direct-ext",
    "answered-queue-account",
    "abandoned-queue-account",
    "abandoned-ringing-account",
    "abandoned-ivr-account",
    "short-abandon-ringing-account",
    "short-abandon-ivr-account",
    "voicemail-greeting-hangup-account",
    "voicemail-left-account",
    "missed-ring-timeout-account",
    "abandoned-ringing-internal",
    "outbound-connected-ext",
)


def mixed_calls(count: int) -> list[Notification]:
    """`count` fixture calls at random times over two days around a DST change."""
    rng = random.Random(11)
    start = _utc(2026, 3, 28, 12)
    notifications: list[Notification] = []
    for number in range(count):
        at = start + timedelta(seconds=rng.randrange(0, 2 * 86400))
        fixture = rng.choice(MIXED_FIXTURES)
        notifications += placed(fixture, at=at, hex_id=f"{number + 1:032x}")
    return notifications


@pytest.fixture
def both_urls(
    tmp_path: Path, sqlite_template: SqliteTemplate, postgres_database: PostgresTestDatabase
) -> list[str]:
    """An empty database of each kind (made before the event loop runs the async fixture)."""
    postgres_database.truncate()
    return [sqlite_template.fresh_copy(tmp_path), postgres_database.url]


@pytest.fixture
async def both_databases(both_urls: list[str]) -> AsyncIterator[list[httpx.AsyncClient]]:
    urls = both_urls
    notifications = mixed_calls(150)
    clients = []
    async with serve_both(urls) as served:
        for settings, base_url in served:
            await post(base_url, notifications)
            await drain(settings, now=_utc(2026, 3, 30, 13))
            key = await new_key(settings)
            clients.append(
                httpx.AsyncClient(
                    base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=60
                )
            )
        try:
            yield clients
        finally:
            for client in clients:
                await client.aclose()


@asynccontextmanager
async def serve_both(urls: list[str]) -> AsyncIterator[list[tuple[Settings, str]]]:
    """A service on a socket for each database."""
    async with AsyncExitStack() as stack:
        served = []
        for url in urls:
            settings = Settings(
                _env_file=None,
                database_url=url,
                webhook_verification_token=SecretStr(WEBHOOK_TOKEN),
                processor_enabled=False,
            )
            server = await stack.enter_async_context(serve(create_app(settings)))
            served.append((settings, server.base_url))
        yield served


async def test_sqlite_and_postgres_give_the_same_report(
    both_databases: list[httpx.AsyncClient],
) -> None:
    for group_by in ("hour", "day", "extension", "agent", "queue"):
        for tz in ("UTC", "Europe/Paris", "Asia/Kolkata"):
            params = {
                "from": "2026-03-28T00:00:00Z",
                "to": "2026-03-31T00:00:00Z",
                "group_by": group_by,
                "tz": tz,
            }
            sqlite_report, postgres_report = [
                (await client.get("/v1/stats/outcomes", params=params)).json()
                for client in both_databases
            ]
            assert sqlite_report["totals"]["offered"] > 100
            assert sqlite_report["totals"]["time_to_abandon_p90_s"] is not None
            assert sqlite_report == postgres_report, params
    for day in ("2026-03-29", "2026-03-30"):  # Paris goes to summer time on the 29th
        trend_params = {"date": day, "tz": "Europe/Paris", "weeks": 1}
        sqlite_trend, postgres_trend = [
            (await client.get("/v1/stats/trend", params=trend_params)).json() | {"as_of": None}
            for client in both_databases
        ]  # `as_of` is each service's own clock
        assert sqlite_trend["totals"]["day"]["offered"] > 40
        assert sqlite_trend == postgres_trend, trend_params


async def test_service_sessions_are_kept_but_never_offered_nor_abandoned(api: Api) -> None:
    """The same abandoned call twice, once as a RingCentral test call (`origin.type`): stored as
    `service_call`, left out of offered, abandons and the per-category counts."""
    customer = placed("abandoned-ringing-account", at=_utc(2026, 3, 10, 9, 0), hex_id="4" * 32)
    test_call = placed("abandoned-ringing-account", at=_utc(2026, 3, 10, 9, 5), hex_id="5" * 32)
    for notification in test_call:
        notification["body"]["origin"] = {"type": "TestCall"}
    await api.load(customer + test_call, now=_utc(2026, 3, 10, 10, 0))
    window = {"from": "2026-03-10T08:00:00Z", "to": "2026-03-10T11:00:00Z"}

    totals = (await stats(api, **window, group_by="queue"))["totals"]

    assert totals["offered"] == 1
    assert (totals["long_abandons"], totals["abandoned"]) == (1, 1)
    assert "service_call" not in totals["categories"]
    assert totals["categories"]["abandoned_ringing"] == 1
    stored = await api.client.get(f"/v1/calls/s-{'5' * 32}")
    assert stored.status_code == 200, stored.text
    outcome = stored.json()["outcome"]
    assert (outcome["category"], outcome["reason"]) == ("service_call", "test_call")
    assert outcome["is_abandoned"] is False
    assert "events_suggest:abandoned_ringing" in outcome["evidence"]
