"""Call-log record versions: In Progress while the call is up, then final, under one id; what list
queries, ISync, FSync's Missed group, paging and the Heavy rate limit make of them."""

from __future__ import annotations

from datetime import timedelta

from emulator.clock import iso
from emulator.scenarios import GeneratedCall
from tests.emulator.helpers import ACCOUNT_CALL_LOG_SYNC, Login, Platform, error_code

SECOND = timedelta(seconds=1)


async def start_live(platform: Platform, kinds: list[str], count: int = 1) -> list[GeneratedCall]:
    """Calls that start now and unfold as the simulated clock moves (realtime pacing)."""
    play = await platform.emulator.play(
        kinds, count=count, seed=3, pacing="realtime", spacing_s=0, wait=False
    )
    return play.calls


async def test_in_progress_then_final_under_one_id(platform: Platform, alice: Login) -> None:
    (call,) = await start_live(platform, ["answered_direct"])
    (entry,) = call.call_log
    start = entry.start_time
    await platform.advance_to(start + 3 * SECOND)
    assert await platform.records(alice, view="Detailed") == []  # In Progress from start + 5 s

    await platform.advance_to(start + 8 * SECOND)
    (ongoing,) = await platform.records(alice, view="Detailed")
    assert ongoing["id"] == entry.id
    assert ongoing["result"] == "In Progress"
    assert "reason" not in ongoing
    assert "message" not in ongoing
    assert 8 <= ongoing["duration"] <= 9
    assert ongoing["durationMs"] // 1000 == ongoing["duration"]
    assert ongoing["lastModifiedTime"] == iso(start + 5 * SECOND)
    (master,) = ongoing["legs"]
    assert master["master"] is True
    assert (master["result"], master["duration"]) == ("In Progress", ongoing["duration"])
    assert "reason" not in master

    await platform.advance_to(start + 12 * SECOND)
    (later,) = await platform.records(alice, view="Detailed")
    assert later["duration"] >= 12  # the duration so far grows; the version does not change
    assert later["lastModifiedTime"] == ongoing["lastModifiedTime"]

    await platform.advance_to(entry.end_time + 21 * SECOND)
    (final,) = await platform.records(alice, view="Detailed")
    assert final["id"] == entry.id
    assert (final["result"], final["reason"]) == ("Accepted", "Accepted")
    assert final["durationMs"] == entry.fields["durationMs"]
    assert final["lastModifiedTime"] == iso(entry.end_time + 20 * SECOND)
    assert final["lastModifiedTime"] > ongoing["lastModifiedTime"]
    (simple,) = await platform.records(alice)
    assert "lastModifiedTime" not in simple
    assert simple["result"] == "Accepted"


async def test_list_queries_see_the_current_version(platform: Platform, alice: Login) -> None:
    (call,) = await start_live(platform, ["voicemail_left"])
    (entry,) = call.call_log
    await platform.advance_to(entry.start_time + 10 * SECOND)
    window = {
        "dateFrom": iso(entry.start_time - SECOND),
        "dateTo": iso(entry.start_time + SECOND),
    }
    (ongoing,) = await platform.records(alice, **window)
    assert (ongoing["id"], ongoing["result"]) == (entry.id, "In Progress")
    assert await platform.records(alice, dateFrom=iso(entry.start_time + SECOND)) == []
    await platform.advance_to(entry.end_time + 21 * SECOND)
    (final,) = await platform.records(alice, **window)
    assert (final["id"], final["result"]) == (entry.id, "Voicemail")
    assert final["message"]["type"] == "VoiceMail"


async def test_isync_returns_the_record_in_progress_then_final(
    platform: Platform, alice: Login
) -> None:
    full = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="FSync", recordCount=10)
    token = full.json()["syncInfo"]["syncToken"]
    (call,) = await start_live(platform, ["answered_direct"])
    (entry,) = call.call_log

    async def isync() -> list[dict[str, object]]:
        nonlocal token
        response = await platform.rest(
            alice, ACCOUNT_CALL_LOG_SYNC, syncType="ISync", syncToken=token, view="Detailed"
        )
        assert response.status_code == 200, response.text
        token = response.json()["syncInfo"]["syncToken"]
        records: list[dict[str, object]] = response.json()["records"]
        return records

    await platform.advance_to(entry.start_time + 8 * SECOND)
    (ongoing,) = await isync()
    assert (ongoing["id"], ongoing["result"]) == (entry.id, "In Progress")
    assert await isync() == []  # nothing changed since
    await platform.advance_to(entry.end_time + 10 * SECOND)
    assert await isync() == []  # still In Progress: not a new version
    await platform.advance_to(entry.end_time + 21 * SECOND)
    (final,) = await isync()
    assert (final["id"], final["result"]) == (entry.id, "Accepted")
    assert str(final["lastModifiedTime"]) > str(ongoing["lastModifiedTime"])
    assert await isync() == []


async def test_fsync_missed_group_waits_for_the_final_result(
    platform: Platform, alice: Login
) -> None:
    calls = await start_live(platform, ["missed_ring_timeout", "answered_direct"])
    missed = next(c for c in calls if c.kind == "missed_ring_timeout").call_log[0]
    await platform.advance_to(missed.start_time + 8 * SECOND)
    everything = await platform.records(alice, ACCOUNT_CALL_LOG_SYNC, recordCount=10)
    assert {r["result"] for r in everything} == {"In Progress"}
    assert len(everything) == 2
    missed_only = await platform.records(
        alice, ACCOUNT_CALL_LOG_SYNC, recordCount=10, statusGroup="Missed"
    )
    assert missed_only == []  # In Progress versions are never in the Missed group
    await platform.advance_to(max(c.ended_at for c in calls) + 25 * SECOND)
    missed_only = await platform.records(
        alice, ACCOUNT_CALL_LOG_SYNC, recordCount=10, statusGroup="Missed"
    )
    assert [(r["id"], r["result"]) for r in missed_only] == [(missed.id, "Missed")]


async def test_paging_and_heavy_limits_with_both_versions(platform: Platform, alice: Login) -> None:
    past = await platform.emulator.play(["answered_direct"], count=3, seed=1)
    await platform.emulator.advance(30)
    live = await start_live(platform, ["answered_direct"], count=3)
    await platform.advance_to(max(c.started_at for c in live) + 8 * SECOND)
    expected = {e.id: "Accepted" for c in past.calls for e in c.call_log}
    expected |= {e.id: "In Progress" for c in live for e in c.call_log}
    await platform.admin("PUT", "/rate-limits", {"enabled": True})

    seen: dict[str, str] = {}
    response = await platform.rest(alice, "/restapi/v1.0/account/~/call-log", perPage=4)
    requests = 1
    while True:
        assert response.status_code == 200, response.text
        assert response.headers["x-rate-limit-group"] == "heavy"
        body = response.json()
        for record in body["records"]:
            assert record["id"] not in seen
            seen[record["id"]] = record["result"]
        next_page = body["navigation"].get("nextPage")
        if next_page is None:
            break
        response = await platform.client.get(next_page["uri"], headers=alice.headers)
        requests += 1
    assert requests == 2
    assert seen == expected

    for _ in range(10 - requests):
        ok = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, recordCount=1)
        assert ok.status_code == 200
    limited = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, recordCount=1)
    assert limited.status_code == 429
    assert error_code(limited) == "CMN-301"
    assert limited.headers["retry-after"] == "60"
