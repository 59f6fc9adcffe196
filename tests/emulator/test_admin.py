"""The admin API: apps, accounts, extensions, JWTs, scenarios, plays, calls, clock, reset."""

from __future__ import annotations

from tests.emulator.helpers import TELEPHONY_ACCOUNT, Login, Platform, Receiver


async def test_apps_accounts_and_extensions(platform: Platform) -> None:
    app = await platform.admin(
        "POST", "/apps", {"name": "mine", "clientId": "my-client", "clientSecret": "s3cret"}
    )
    assert app["clientId"] == "my-client"
    assert app["clientSecret"] == "s3cret"
    assert "my-client" in [a["clientId"] for a in await platform.admin("GET", "/apps")]
    account = await platform.admin(
        "POST",
        "/accounts",
        {
            "name": "Small Co",
            "extensions": [
                {"kind": "User", "name": "Ann One"},
                {"kind": "User", "name": "Ben Two"},
                {"kind": "Department", "name": "Help Desk", "members": ["101", "102"]},
            ],
        },
    )
    assert [e["extensionNumber"] for e in account["extensions"]] == ["101", "102", "103"]
    assert all(e["id"].endswith("016") for e in account["extensions"])
    assert account["extensions"][0]["id"] == account["id"]  # the main extension
    queue = account["extensions"][2]
    assert queue["members"] == [account["extensions"][0]["id"], account["extensions"][1]["id"]]
    added = await platform.admin(
        "POST", f"/accounts/{account['id']}/extensions", {"kind": "IvrMenu", "name": "Menu"}
    )
    assert added["kind"] == "IvrMenu"
    assert len((await platform.admin("GET", f"/accounts/{account['id']}"))["extensions"]) == 4


async def test_admin_errors_are_json(platform: Platform) -> None:
    bad_kind = await platform.client.post(
        f"/_emulator/accounts/{platform.account_id}/extensions", json={"kind": "Robot", "name": "R"}
    )
    assert bad_kind.status_code == 400
    assert "unknown extension kind" in bad_kind.json()["error"]["message"]
    unknown = await platform.client.get("/_emulator/accounts/999")
    assert unknown.status_code == 404
    jwt = await platform.client.post("/_emulator/jwt", json={"extensionId": "nope"})
    assert jwt.status_code == 404
    play = await platform.client.post("/_emulator/scenarios/play", json={"kinds": ["dancing"]})
    assert play.status_code == 400
    assert "unknown scenario kind" in play.json()["error"]["message"]


async def test_scenario_catalogue(platform: Platform) -> None:
    kinds = await platform.admin("GET", "/scenarios")
    by_name = {k["kind"]: k for k in kinds}
    assert by_name["voicemail_greeting_hangup"]["truth"] == {
        "direction": "inbound",
        "category": "abandoned_voicemail",
        "reason": "during_greeting",
        "stage": "voicemail",
        "isAbandoned": True,
        "needs": [],
    }
    assert by_name["deflected_callback_requested"]["truth"]["needs"] == ["call_log"]
    assert len(kinds) >= 30


async def test_play_over_http_and_inspect_calls(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_ACCOUNT])
    subscription_id = response.json()["id"]
    played = await platform.admin(
        "POST",
        "/scenarios/play",
        {"kinds": ["short_abandon", "missed_no_agents"], "count": 2, "seed": 5},
    )
    assert played["status"] == "done"
    assert played["calls"] == 4
    assert played["delivered"] == played["notifications"] == len(receiver.notifications)
    truths = [c["truth"]["category"] for c in played["callList"]]
    assert sorted(truths) == ["missed", "missed", "short_abandon", "short_abandon"]
    calls = await platform.admin("GET", f"/calls?playId={played['playId']}&kind=missed_no_agents")
    assert [c["truth"]["reason"] for c in calls] == ["no_agents", "no_agents"]
    deliveries = await platform.admin("GET", f"/deliveries?subscriptionId={subscription_id}")
    assert {d["outcome"] for d in deliveries} == {"delivered"}
    assert (await platform.admin("GET", f"/plays/{played['playId']}"))["status"] == "done"
    subscriptions = await platform.admin("GET", "/subscriptions")
    assert subscriptions[0]["delivered"] == played["delivered"]
    assert subscriptions[0]["hasVerificationToken"] is True


async def test_mix_and_all(platform: Platform) -> None:
    mix = await platform.admin(
        "POST", "/scenarios/play", {"kinds": ["mix"], "count": 40, "seed": 1}
    )
    assert mix["calls"] == 40
    assert len({c["kind"] for c in mix["callList"]}) > 5
    everything = await platform.admin("POST", "/scenarios/play", {"kinds": ["all"]})
    assert {c["kind"] for c in everything["callList"]} == {
        k["kind"] for k in await platform.admin("GET", "/scenarios")
    }


async def test_realtime_play_follows_the_clock_and_cancels(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    await platform.subscribe(alice, receiver.url, [TELEPHONY_ACCOUNT])
    played = await platform.admin(
        "POST", "/scenarios/play", {"kinds": ["answered_direct"], "pacing": "realtime"}
    )
    assert played["status"] == "running"
    play = platform.emulator.plays[played["playId"]]
    call = play.calls[0]
    assert call.started_at > platform.emulator.now()  # starts a moment from now
    await platform.emulator.advance((call.ended_at - platform.emulator.now()).total_seconds() + 1)
    await play.wait()
    assert play.status == "done"
    assert len(receiver.notifications) == len(call.events)
    second = await platform.admin(
        "POST", "/scenarios/play", {"kinds": ["answered_direct"], "pacing": "realtime"}
    )
    cancelled = await platform.admin("POST", f"/plays/{second['playId']}/cancel")
    assert cancelled["status"] == "cancelled"


async def test_clock_and_reset(platform: Platform, alice: Login) -> None:
    before = await platform.admin("GET", "/clock")
    assert before["offsetSeconds"] == 0
    moved = await platform.admin("POST", "/clock/advance", {"seconds": 3600})
    assert moved["offsetSeconds"] == 3600
    sessions = await platform.admin("GET", "/sessions")
    assert sessions[0]["extensionId"] == platform.extension("Alice Adams")
    assert "access_token" not in str(sessions)
    state = await platform.admin("POST", "/reset")
    assert state["apps"] == state["accounts"] == state["sessions"] == 0
    assert state["offsetSeconds"] == 0
    refused = await platform.client.get("/restapi/v1.0/subscription", headers=alice.headers)
    assert refused.status_code == 401


async def test_revoke_session_through_admin(platform: Platform, alice: Login) -> None:
    result = await platform.admin("POST", f"/sessions/{alice.info['session_id']}/revoke")
    assert result == {"revoked": True}
    refused = await platform.client.get("/restapi/v1.0/subscription", headers=alice.headers)
    assert refused.status_code == 401
