"""GET /v1/abandoned, the dashboard poll, on both databases: first poll, cursor across revisions
(a call that stops being abandoned is sent as removed), 304 without reading outcomes, the
summary block, and 10,000 outcomes paged."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from tests.api.conftest import API_NOW, Api
from tests.api.day import PROCESSED_AT, SESSION
from tests.api.support import Notification, drain, placed, session_of, store_raw

LATE_VOICEMAIL = "voicemail-left-ext-time"  # caller heard voicemail 31.85 s: voicemail_left
EMPTY_MESSAGE = "voicemail-empty-message-account"  # the message notification says 0 s


@contextmanager
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL the service sends while the block runs."""
    seen: list[str] = []
    engine = api.app.state.services.engine.sync_engine

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def poll(api: Api, **params: Any) -> httpx.Response:
    etag = params.pop("etag", None)
    headers = {"If-None-Match": etag} if etag else {}
    return await api.client.get("/v1/abandoned", params=params, headers=headers)


def changes(response: httpx.Response) -> list[tuple[str, str, bool, int]]:
    return [
        (
            change["outcome"]["telephony_session_id"],
            change["outcome"]["category"],
            change["removed"],
            change["outcome"]["revision"],
        )
        for change in response.json()["changes"]
    ]


def without_status(notifications: list[Notification], code: str) -> list[Notification]:
    return [
        n
        for n in notifications
        if all(p.get("status", {}).get("code") != code for p in n["body"].get("parties", []))
    ]


class TestFirstPollAndNotModified:
    async def test_first_poll_lists_todays_abandons_with_a_summary(self, day_api: Api) -> None:
        response = await poll(day_api)
        assert response.status_code == 200
        body = response.json()
        abandoned = ["queue_abandon", "ringing", "short_ring", "ivr", "vm_greeting"]
        abandoned += ["short_ivr", "internal"]
        assert {c[0] for c in changes(response)} == {SESSION[label] for label in abandoned}
        assert not any(change["removed"] for change in body["changes"])
        seqs = [change["change_seq"] for change in body["changes"]]
        assert seqs == sorted(seqs)
        assert body["has_more"] is False
        assert body["demo"] is False
        assert response.headers["ETag"].startswith('"')
        summary = body["summary"]
        assert summary["as_of"] == "2026-03-10T13:00:00Z"
        assert summary["time_zone"] == "UTC"
        # Last hour (12:00-13:00): park (answered) and the internal abandon (L, 12 s).
        hour = summary["last_hour"]
        assert (hour["offered"], hour["abandoned"], hour["short_abandons"]) == (2, 1, 0)
        assert hour["abandon_rate"] == 1 / 2
        day = summary["last_24h"]
        assert (day["offered"], day["abandoned"], day["short_abandons"]) == (12, 7, 2)
        assert day["abandon_rate"] == 5 / 10
        assert day["abandon_rate_gross"] == 7 / 12
        assert summary["today"]["start"] == "2026-03-10T00:00:00Z"
        assert summary["today"]["offered"] == 12
        histogram = [b["count"] for b in summary["today"]["time_to_abandon_histogram"]]
        assert histogram == [2, 0, 2, 2, 1, 0, 0, 0]

    async def test_an_unchanged_poll_is_304_and_reads_no_outcome(self, day_api: Api) -> None:
        first = await poll(day_api)
        cursor, etag = first.json()["cursor"], first.headers["ETag"]
        # the route itself, without the shortcut `callsift run` puts in front of it
        transport = httpx.ASGITransport(app=day_api.app)
        headers = {"Authorization": f"Bearer {day_api.key}", "If-None-Match": etag}
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as route:
            with statements(day_api) as sql:
                second = await route.get("/v1/abandoned", params={"since": cursor}, headers=headers)
        assert second.status_code == 304
        assert second.content == b""
        assert second.headers["ETag"] == etag
        assert sql, "the poll must read the change counter"
        assert all("call_outcomes" not in statement for statement in sql), sql

    async def test_a_stale_summary_is_recomputed_once_a_minute(self, day_api: Api) -> None:
        first = await poll(day_api)
        cursor, etag = first.json()["cursor"], first.headers["ETag"]
        day_api.clock.now = API_NOW + timedelta(seconds=20)  # same minute: still cached
        assert (await poll(day_api, since=cursor, etag=etag)).status_code == 304
        day_api.clock.now = API_NOW + timedelta(minutes=1)  # next minute: windows move on
        moved = await poll(day_api, since=cursor, etag=etag)
        assert moved.status_code == 200
        assert moved.json()["changes"] == []
        assert moved.json()["summary"]["as_of"] == "2026-03-10T13:01:00Z"
        assert moved.headers["ETag"] != etag

    async def test_a_wrong_or_old_etag_gets_the_body(self, day_api: Api) -> None:
        first = await poll(day_api)
        cursor = first.json()["cursor"]
        again = await poll(day_api, since=cursor, etag='"0-nothing-s"')
        assert again.status_code == 200
        assert again.json()["changes"] == []
        assert again.json()["cursor"] == cursor

    async def test_since_a_time_lists_only_outcomes_stored_after_it(self, day_api: Api) -> None:
        later = placed("abandoned-ivr-account", at=PROCESSED_AT, hex_id="9" * 32)
        await day_api.load(later, now=PROCESSED_AT + timedelta(minutes=5))
        since = (PROCESSED_AT + timedelta(minutes=1)).isoformat()
        response = await poll(day_api, since=since)
        assert changes(response) == [("s-" + "9" * 32, "abandoned_ivr", False, 1)]

    async def test_include_short_false(self, day_api: Api) -> None:
        first = await poll(day_api, include_short="false")
        categories = {c[1] for c in changes(first)}
        assert "short_abandon" not in categories
        assert len(first.json()["changes"]) == 5
        assert first.headers["ETag"] != (await poll(day_api)).headers["ETag"]
        short = placed("short-abandon-ringing-account", at=PROCESSED_AT, hex_id="8" * 32)
        await day_api.load(short, now=PROCESSED_AT + timedelta(minutes=5))
        following = await poll(day_api, since=first.json()["cursor"], include_short="false")
        assert changes(following) == [("s-" + "8" * 32, "short_abandon", True, 1)]


class TestCursorAcrossRevisions:
    async def test_revisions_including_a_call_that_stops_being_abandoned(self, api: Api) -> None:
        # Hours apart: a voicemail message is matched to calls of its mailbox within 2 h.
        late = placed(LATE_VOICEMAIL, at=PROCESSED_AT - timedelta(hours=6), hex_id="a" * 32)
        empty = placed(EMPTY_MESSAGE, at=PROCESSED_AT - timedelta(minutes=30), hex_id="b" * 32)
        late_id, empty_id = session_of(late), session_of(empty)

        # The VoiceMail event is late: without it the caller seems to hang up while ringing.
        await api.load(without_status(late, "VoiceMail"), now=PROCESSED_AT)
        first = await poll(api)
        assert changes(first) == [(late_id, "abandoned_ringing", False, 1)]
        cursor, etag = first.json()["cursor"], first.headers["ETag"]
        assert (await poll(api, since=cursor, etag=etag)).status_code == 304

        # The late event arrives: voicemail was reached and a message left; no longer abandoned.
        await api.load(late, now=PROCESSED_AT + timedelta(minutes=1))
        revised = await poll(api, since=cursor, etag=etag)
        assert revised.status_code == 200
        assert changes(revised) == [(late_id, "voicemail_left", True, 2)]
        cursor, etag = revised.json()["cursor"], revised.headers["ETag"]

        # A call that was never abandoned does not show, but the state moved on (no 304).
        voicemail_only = [n for n in empty if n["body"].get("telephonySessionId")]
        await api.load(voicemail_only, now=PROCESSED_AT + timedelta(minutes=2))
        quiet = await poll(api, since=cursor, etag=etag)
        assert quiet.status_code == 200
        assert quiet.json()["changes"] == []
        cursor, etag = quiet.json()["cursor"], quiet.headers["ETag"]

        # The voicemail notification says the message is empty: now it is an abandon.
        await api.load(empty, now=PROCESSED_AT + timedelta(minutes=3))
        became = await poll(api, since=cursor, etag=etag)
        assert changes(became) == [(empty_id, "abandoned_voicemail", False, 2)]
        cursor, etag = became.json()["cursor"], became.headers["ETag"]
        assert (await poll(api, since=cursor, etag=etag)).status_code == 304

    async def test_a_cursor_ahead_of_the_database_resynchronises(self, api: Api) -> None:
        from service.api.cursors import encode_changes_cursor

        response = await poll(api, since=encode_changes_cursor(999))
        assert response.status_code == 200
        assert response.json()["cursor"] == encode_changes_cursor(0)


@pytest.mark.slow
async def test_ten_thousand_outcomes_come_in_capped_pages(api: Api) -> None:
    calls: list[Notification] = []
    for number in range(10_000):
        at = PROCESSED_AT - timedelta(hours=10) + timedelta(seconds=3 * number)
        calls += placed("abandoned-ringing-account", at=at, hex_id=f"{number + 1:032x}")
    await store_raw(api.settings, calls, received_at=PROCESSED_AT)
    await drain(api.settings, now=PROCESSED_AT, claim_size=6000)

    seen: list[str] = []
    pages = 0
    response = await poll(api)
    while True:
        body = response.json()
        pages += 1
        assert len(body["changes"]) <= api.settings.abandoned_poll_max
        seen += [change["outcome"]["telephony_session_id"] for change in body["changes"]]
        if not body["has_more"]:
            break
        response = await poll(api, since=body["cursor"])
    assert pages == 10_000 // api.settings.abandoned_poll_max
    assert len(seen) == len(set(seen)) == 10_000
    done = await poll(api, since=body["cursor"], etag=response.headers["ETag"])
    assert done.status_code == 304
    smaller = await poll(api, since=body["cursor"], limit=1)
    assert smaller.json()["has_more"] is False
