"""Call log: delayed appearance, views, filters, paging with navigation, FSync/ISync and resets."""

from __future__ import annotations

from tests.emulator.conftest import PlatformFactory
from tests.emulator.helpers import (
    ACCOUNT_CALL_LOG,
    ACCOUNT_CALL_LOG_SYNC,
    Login,
    Platform,
    error_code,
)


async def test_records_are_final_after_the_call_log_delay(platform: Platform, alice: Login) -> None:
    play = await platform.emulator.play(["answered_direct"])
    (record_id,) = {e.id for e in play.calls[0].call_log}
    # the call ended ~1 s ago and the final version is due 20 s after the end: until then the
    # record shows In Progress (visible since it was registered)
    early = await platform.records(alice)
    assert [(r["id"], r["result"]) for r in early] == [(record_id, "In Progress")]
    await platform.emulator.advance(25)
    records = await platform.records(alice)
    assert [(r["id"], r["result"]) for r in records] == [(record_id, "Accepted")]


async def test_no_in_progress_version_when_disabled(make_platform: PlatformFactory) -> None:
    platform = await make_platform(call_log_in_progress_delay_s=-1)
    alice = await platform.login(platform.extension("Alice Adams"))
    play = await platform.emulator.play(["answered_direct"])
    assert await platform.records(alice) == []
    await platform.emulator.advance(25)
    records = await platform.records(alice)
    assert [r["id"] for r in records] == [play.calls[0].call_log[0].id]


async def test_simple_and_detailed_views(platform: Platform, alice: Login) -> None:
    play = await platform.emulator.play(["voicemail_left"])
    await platform.emulator.advance(25)
    session = play.calls[0].truth.telephony_session_id
    simple = (await platform.rest(alice, ACCOUNT_CALL_LOG, telephonySessionId=session)).json()
    detailed = (
        await platform.rest(alice, ACCOUNT_CALL_LOG, telephonySessionId=session, view="Detailed")
    ).json()
    (record,) = simple["records"]
    assert "legs" not in record
    assert "lastModifiedTime" not in record
    assert record["uri"].endswith("?view=Simple")
    assert record["result"] == "Voicemail"
    assert record["message"]["type"] == "VoiceMail"
    assert record["message"]["uri"].startswith(platform.base_url)
    assert record["telephonySessionId"] == session
    assert isinstance(record["extension"]["id"], int)
    (full,) = detailed["records"]
    assert full["legs"][0]["master"] is True
    assert full["legs"][0]["legType"] == "Accept"
    assert full["lastModifiedTime"]
    bad = await platform.rest(alice, ACCOUNT_CALL_LOG, view="Verbose")
    assert bad.status_code == 400
    assert error_code(bad) == "CMN-101"


async def test_user_log_holds_only_that_extension(platform: Platform, alice: Login) -> None:
    await platform.emulator.play(["answered_queue", "internal_answered"], count=4)
    await platform.emulator.advance(30)
    everyone = await platform.records(alice)
    bob_id = platform.extension("Bob Brown")
    bob_log = f"/restapi/v1.0/account/~/extension/{bob_id}/call-log"
    bobs = await platform.records(alice, bob_log)
    assert bobs
    assert all(r["extension"]["id"] == int(bob_id) for r in bobs)
    assert len(bobs) < len(everyone)
    own = (await platform.rest(alice, "/restapi/v1.0/account/~/extension/~/call-log")).json()
    assert all(
        r["extension"]["id"] == int(platform.extension("Alice Adams")) for r in own["records"]
    )


async def test_paging_follows_navigation(platform: Platform, alice: Login) -> None:
    await platform.emulator.play(["answered_direct"], count=5)
    await platform.emulator.advance(30)
    all_ids = [r["id"] for r in await platform.records(alice)]
    assert len(all_ids) == 5
    seen: list[str] = []
    response = await platform.rest(alice, ACCOUNT_CALL_LOG, perPage=2)
    pages = 0
    while True:
        body = response.json()
        pages += 1
        assert body["paging"]["perPage"] == 2
        seen.extend(r["id"] for r in body["records"])
        next_page = body["navigation"].get("nextPage")
        if next_page is None:
            break
        response = await platform.client.get(next_page["uri"], headers=alice.headers)
    assert pages == 3
    assert seen == all_ids  # newest first, no record twice
    second = (await platform.rest(alice, ACCOUNT_CALL_LOG, perPage=2, page=2)).json()
    assert second["paging"] == {"page": 2, "perPage": 2, "pageStart": 2, "pageEnd": 3}
    assert "previousPage" in second["navigation"]


async def test_date_range_filters(platform: Platform, alice: Login) -> None:
    play = await platform.emulator.play(["answered_direct"], count=3, spacing_s=600)
    await platform.emulator.advance(30)
    starts = sorted(c.started_at for c in play.calls)
    middle = starts[1].isoformat().replace("+00:00", "Z")
    newer = await platform.records(alice, dateFrom=middle)
    assert len(newer) == 2
    older = await platform.records(alice, dateTo=middle)
    assert len(older) == 2  # the first call and the middle one (startTime rounds down)
    bad = await platform.rest(alice, ACCOUNT_CALL_LOG, dateFrom="yesterday")
    assert bad.status_code == 400


async def test_full_and_incremental_sync(platform: Platform, alice: Login) -> None:
    await platform.emulator.play(["answered_direct"], count=3)
    await platform.emulator.advance(30)
    missing = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="FSync")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["parameterName"] == "recordCount"
    too_many = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="FSync", recordCount=251)
    assert too_many.status_code == 400

    full = (
        await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="FSync", recordCount=2)
    ).json()
    assert len(full["records"]) == 2
    assert full["syncInfo"]["syncType"] == "FSync"
    token = full["syncInfo"]["syncToken"]
    nothing = (
        await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="ISync", syncToken=token)
    ).json()
    assert nothing["records"] == []

    play = await platform.emulator.play(["outbound_connected"], count=2)
    await platform.emulator.advance(30)
    fresh = (
        await platform.rest(
            alice,
            ACCOUNT_CALL_LOG_SYNC,
            syncType="ISync",
            syncToken=nothing["syncInfo"]["syncToken"],
        )
    ).json()
    assert {r["id"] for r in fresh["records"]} == {e.id for c in play.calls for e in c.call_log}
    assert fresh["syncInfo"]["syncType"] == "ISync"
    unknown = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="ISync", syncToken="bogus")
    assert unknown.status_code == 400


async def test_isync_refuses_more_than_the_cap(make_platform: PlatformFactory) -> None:
    platform = await make_platform(call_log_sync_max_records=3)
    alice = await platform.login(platform.extension("Alice Adams"))
    full = (await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, recordCount=1)).json()
    await platform.emulator.play(["answered_direct"], count=4)
    await platform.emulator.advance(30)
    response = await platform.rest(
        alice, ACCOUNT_CALL_LOG_SYNC, syncType="ISync", syncToken=full["syncInfo"]["syncToken"]
    )
    assert response.status_code == 400
    assert "max sync record number limit is exceeded" in response.json()["message"]


async def test_admin_reset_invalidates_sync_tokens(platform: Platform, alice: Login) -> None:
    full = (await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, recordCount=10)).json()
    await platform.admin(
        "POST", "/call-log/reset-sync", {"accountId": platform.account_id, "code": "CLG-102"}
    )
    response = await platform.rest(
        alice, ACCOUNT_CALL_LOG_SYNC, syncType="ISync", syncToken=full["syncInfo"]["syncToken"]
    )
    assert response.status_code == 400
    assert error_code(response) == "CLG-102"
    assert response.json()["message"] == (
        "Parameter [syncToken] is invalid [Sync token expired, call log was reset]"
    )
    again = await platform.rest(alice, ACCOUNT_CALL_LOG_SYNC, syncType="FSync", recordCount=10)
    assert again.status_code == 200


async def test_call_log_needs_read_call_log(platform: Platform) -> None:
    app = await platform.admin("POST", "/apps", {"name": "narrow", "scope": ["CallControl"]})
    assertion = await platform.jwt(platform.extension("Alice Adams"), app["clientId"])
    info = (
        await platform.token(
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            platform.basic(app["clientId"], app["clientSecret"]),
        )
    ).json()
    response = await platform.client.get(
        ACCOUNT_CALL_LOG, headers={"Authorization": f"Bearer {info['access_token']}"}
    )
    assert response.status_code == 403
    assert error_code(response) == "CMN-401"
    assert response.json()["permissionName"] == "ReadCallLog"
