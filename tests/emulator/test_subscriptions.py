"""Subscriptions: CRUD, validation errors, limits, the validation handshake, expiry, reminders."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.emulator.conftest import PlatformFactory, ReceiverFactory
from tests.emulator.helpers import (
    TELEPHONY_ACCOUNT,
    TELEPHONY_EXTENSION,
    VOICEMAIL,
    Login,
    Platform,
    Receiver,
    error_code,
)

SUBSCRIPTION = "/restapi/v1.0/subscription"


async def created(
    platform: Platform, login: Login, receiver: Receiver, **extra: Any
) -> dict[str, Any]:
    response = await platform.subscribe(login, receiver.url, [TELEPHONY_EXTENSION], **extra)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_create_returns_subscription_info(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    filters = [TELEPHONY_ACCOUNT, TELEPHONY_EXTENSION, VOICEMAIL]
    response = await platform.subscribe(alice, receiver.url, filters)
    assert response.status_code == 200
    info = response.json()
    account, extension = platform.account_id, platform.extension("Alice Adams")
    assert info["eventFilters"] == [
        f"/restapi/v1.0/account/{account}/telephony/sessions",
        f"/restapi/v1.0/account/{account}/extension/{extension}/telephony/sessions",
        f"/restapi/v1.0/account/{account}/extension/{extension}/voicemail",
    ]
    assert info["status"] == "Active"
    assert info["expiresIn"] in (604799, 604800)
    assert info["deliveryMode"] == {
        "transportType": "WebHook",
        "encryption": False,
        "address": receiver.url,
    }
    assert "verificationToken" not in str(info)
    assert info["uri"] == f"{platform.base_url}{SUBSCRIPTION}/{info['id']}"
    assert len(receiver.handshakes) == 1
    handshake = receiver.handshakes[0]
    assert handshake.headers["user-agent"] == "RingCentral-Webhook/8.3"
    assert handshake.headers["validation-token"]


async def test_list_get_update_renew_delete(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    info = await created(platform, alice, receiver, expiresIn=3600)
    path = f"{SUBSCRIPTION}/{info['id']}"
    listed = (await platform.client.get(SUBSCRIPTION, headers=alice.headers)).json()
    assert listed["uri"] == f"{platform.base_url}{SUBSCRIPTION}"
    assert [r["id"] for r in listed["records"]] == [info["id"]]
    assert (await platform.client.get(path, headers=alice.headers)).json()["id"] == info["id"]

    await platform.emulator.advance(1000)
    renewed = (await platform.client.post(f"{path}/renew", headers=alice.headers)).json()
    assert renewed["expiresIn"] == 3600  # renew keeps the subscription's own lifetime

    updated = await platform.client.put(
        path, json={"eventFilters": [TELEPHONY_ACCOUNT], "expiresIn": 7200}, headers=alice.headers
    )
    assert updated.status_code == 200
    assert updated.json()["eventFilters"] == [
        f"/restapi/v1.0/account/{platform.account_id}/telephony/sessions"
    ]
    assert updated.json()["expiresIn"] == 7200
    empty = await platform.client.put(path, headers=alice.headers)
    assert empty.json()["expiresIn"] == 604800  # an empty PUT renews with the default

    deleted = await platform.client.delete(path, headers=alice.headers)
    assert deleted.status_code == 204
    gone = await platform.client.get(path, headers=alice.headers)
    assert gone.status_code == 404
    assert error_code(gone) == "CMN-102"


async def test_subscriptions_belong_to_extension_and_app(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    info = await created(platform, alice, receiver)
    bob = await platform.login(platform.extension("Bob Brown"))
    assert (await platform.client.get(SUBSCRIPTION, headers=bob.headers)).json()["records"] == []
    other = await platform.client.get(f"{SUBSCRIPTION}/{info['id']}", headers=bob.headers)
    assert other.status_code == 404


@pytest.mark.parametrize("value", [0, -5, "600", 1.5, True])
async def test_bad_expires_in_is_cmn_101(
    platform: Platform, alice: Login, receiver: Receiver, value: object
) -> None:
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION], expiresIn=value)
    assert response.status_code == 400
    assert error_code(response) == "CMN-101"
    assert response.json()["errors"][0]["parameterName"] == "expiresIn"


async def test_expires_in_above_maximum_is_clamped(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    info = await created(platform, alice, receiver, expiresIn=999_999_999)
    assert info["expiresIn"] in (315_359_999, 315_360_000)


@pytest.mark.parametrize(
    ("filters", "status", "code"),
    [
        (["/restapi/v1.0/account/~/presence"], 400, "SUB-508"),
        ([TELEPHONY_EXTENSION + "?direction=Sideways"], 400, "SUB-508"),
        (["/restapi/v1.0/account/~/extension/999/telephony/sessions"], 400, "SUB-508"),
        (["/restapi/v1.0/account/123456016/telephony/sessions"], 403, "SUB-406"),
        (["/restapi/v1.0/subscription/~?threshold=86400"], 400, "SUB-516"),
        (["/restapi/v1.0/subscription/~?threshold=500000&interval=3600"], 400, "SUB-516"),
        (["/restapi/v1.0/subscription/~?threshold=86400&interval=86400"], 400, "SUB-516"),
        ([], 400, "CMN-101"),
    ],
)
async def test_invalid_filters(
    platform: Platform,
    alice: Login,
    receiver: Receiver,
    filters: list[str],
    status: int,
    code: str,
) -> None:
    response = await platform.subscribe(alice, receiver.url, filters)
    assert response.status_code == status
    assert error_code(response) == code
    assert receiver.handshakes == []  # validation happens before the handshake


async def test_filter_query_parameters_are_accepted(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    query = "?direction=Inbound&missedCall=true&statusCode=Disconnected&sipData=true"
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION + query])
    assert response.status_code == 200
    assert response.json()["eventFilters"][0].endswith("/telephony/sessions" + query)


async def test_thirty_subscriptions_per_extension_and_app(
    make_platform: PlatformFactory, receiver: Receiver
) -> None:
    platform = await make_platform(subscriptions_per_user=3)
    alice = await platform.login(platform.extension("Alice Adams"))
    for _ in range(3):
        await created(platform, alice, receiver)
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION])
    assert response.status_code == 403
    assert error_code(response) == "SUB-505"


async def test_default_limit_is_thirty(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    for _ in range(30):
        await created(platform, alice, receiver)
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION])
    assert error_code(response) == "SUB-505"


async def test_handshake_without_echoed_header_is_sub_520(
    platform: Platform, alice: Login, make_receiver: ReceiverFactory
) -> None:
    mute = await make_receiver(echo=False)
    response = await platform.subscribe(alice, mute.url, [TELEPHONY_EXTENSION])
    assert response.status_code == 400
    assert error_code(response) == "SUB-520"
    assert platform.emulator.list_subscriptions() == []


async def test_handshake_with_large_body_is_sub_525(
    platform: Platform, alice: Login, make_receiver: ReceiverFactory
) -> None:
    chatty = await make_receiver(body=b"x" * 1000)  # 1000 bytes of body + headers > 1024
    response = await platform.subscribe(alice, chatty.url, [TELEPHONY_EXTENSION])
    assert response.status_code == 400
    assert error_code(response) == "SUB-525"


async def test_handshake_with_bad_status_is_sub_525(
    platform: Platform, alice: Login, make_receiver: ReceiverFactory
) -> None:
    failing = await make_receiver(status=202)
    response = await platform.subscribe(alice, failing.url, [TELEPHONY_EXTENSION])
    assert error_code(response) == "SUB-525"


async def test_handshake_unreachable_is_sub_521(platform: Platform, alice: Login) -> None:
    response = await platform.subscribe(alice, "http://127.0.0.1:9/hook", [TELEPHONY_EXTENSION])
    assert response.status_code == 400
    assert error_code(response) == "SUB-521"


async def test_handshake_slower_than_budget_is_sub_521(
    make_platform: PlatformFactory, make_receiver: ReceiverFactory
) -> None:
    platform = await make_platform(validation_timeout_s=0.2)
    alice = await platform.login(platform.extension("Alice Adams"))
    stalled = await make_receiver(gate=asyncio.Event())  # never answers until the test ends
    response = await platform.subscribe(alice, stalled.url, [TELEPHONY_EXTENSION])
    assert response.status_code == 400
    assert error_code(response) == "SUB-521"
    assert len(stalled.handshakes) == 1


async def test_https_required_when_configured(
    make_platform: PlatformFactory, receiver: Receiver
) -> None:
    platform = await make_platform(require_https=True)
    alice = await platform.login(platform.extension("Alice Adams"))
    response = await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION])
    assert error_code(response) == "SUB-523"


async def test_bad_delivery_mode(platform: Platform, alice: Login) -> None:
    response = await platform.client.post(
        SUBSCRIPTION,
        json={"eventFilters": [TELEPHONY_EXTENSION], "deliveryMode": {"transportType": "WebHook"}},
        headers=alice.headers,
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameterName"] == "deliveryMode.address"


async def test_expired_subscription_is_404_and_stops_delivering(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    info = await created(platform, alice, receiver, expiresIn=600)
    path = f"{SUBSCRIPTION}/{info['id']}"
    await platform.emulator.advance(601)
    for method in ("GET", "PUT", "DELETE"):
        response = await platform.client.request(method, path, headers=alice.headers)
        assert response.status_code == 404
        assert error_code(response) == "SUB-507"
    renew = await platform.client.post(f"{path}/renew", headers=alice.headers)
    assert renew.status_code == 404
    assert (await platform.client.get(SUBSCRIPTION, headers=alice.headers)).json()["records"] == []
    await platform.emulator.play(["answered_direct"])
    assert receiver.notifications == []


async def test_admin_force_expire(platform: Platform, alice: Login, receiver: Receiver) -> None:
    info = await created(platform, alice, receiver)
    described = await platform.admin("POST", f"/subscriptions/{info['id']}/expire")
    assert described["state"] == "expired"
    response = await platform.client.get(f"{SUBSCRIPTION}/{info['id']}", headers=alice.headers)
    assert response.status_code == 404


async def test_renewal_reminders_follow_the_clock(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    reminder = "/restapi/v1.0/subscription/~?threshold=120&interval=30"
    response = await platform.subscribe(
        alice, receiver.url, [TELEPHONY_EXTENSION, reminder], expiresIn=600
    )
    info = response.json()
    assert info["eventFilters"][1] == reminder
    await platform.emulator.advance(470)
    assert receiver.notifications == []
    await platform.emulator.advance(15)  # 115 s left: past expiry - threshold
    assert len(receiver.notifications) == 1
    first = receiver.notifications[0].json()
    assert first["event"] == reminder
    assert first["subscriptionId"] == info["id"]
    assert first["ownerId"] == platform.extension("Alice Adams")
    assert 110 <= first["body"]["expiresIn"] <= 115
    assert receiver.notifications[0].headers["verification-token"] == "verify-me"
    await platform.emulator.advance(10)
    assert len(receiver.notifications) == 1  # the next one is due an interval later
    await platform.emulator.advance(30)
    assert len(receiver.notifications) == 2
    second = receiver.notifications[1].json()
    assert second["body"]["expiresIn"] < first["body"]["expiresIn"]
    await platform.client.post(f"{SUBSCRIPTION}/{info['id']}/renew", headers=alice.headers)
    await platform.emulator.advance(30)
    assert len(receiver.notifications) == 2  # renewed: reminders wait for the new expiry


async def test_reminders_through_admin_clock_route(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    reminder = "/restapi/v1.0/subscription/~?threshold=120&interval=30"
    await platform.subscribe(alice, receiver.url, [reminder], expiresIn=600)
    moved = await platform.admin("POST", "/clock/advance", {"seconds": 500})
    assert moved["offsetSeconds"] == 500
    assert [d["kind"] for d in moved["deliveries"]] == ["reminder"]
    assert moved["deliveries"][0]["outcome"] == "delivered"
