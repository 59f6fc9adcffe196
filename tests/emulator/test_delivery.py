"""Webhook delivery: headers and envelopes, what each filter sees, blacklisting, chaos knobs."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from emulator.config import ChaosConfig
from tests.emulator.conftest import PlatformFactory, ReceiverFactory
from tests.emulator.helpers import (
    TELEPHONY_ACCOUNT,
    TELEPHONY_EXTENSION,
    VOICEMAIL,
    Login,
    Platform,
    Receiver,
)


async def subscribe(
    platform: Platform, login: Login, receiver: Receiver, filters: list[str]
) -> str:
    response = await platform.subscribe(login, receiver.url, filters)
    assert response.status_code == 200, response.text
    subscription_id: str = response.json()["id"]
    return subscription_id


async def test_notifications_carry_platform_headers_and_envelope(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    subscription_id = await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    play = await platform.emulator.play(["answered_direct"])
    call = play.calls[0]
    assert len(receiver.notifications) == len(call.events)
    first = receiver.notifications[0]
    assert first.headers["content-type"] == "application/json; charset=UTF-8"
    assert first.headers["user-agent"] == "RingCentral-Webhook/8.3"
    assert first.headers["accept"] == "application/json"
    assert first.headers["verification-token"] == "verify-me"
    envelope = first.json()
    assert list(envelope) == ["uuid", "event", "timestamp", "subscriptionId", "ownerId", "body"]
    assert envelope["subscriptionId"] == subscription_id
    assert envelope["ownerId"] == platform.extension("Alice Adams")
    assert len({n.json()["uuid"] for n in receiver.notifications}) == len(receiver.notifications)
    for notification in receiver.notifications:
        body = notification.json()["body"]
        assert len(body["parties"]) == 1
        party = body["parties"][0]
        expected = f"/restapi/v1.0/account/{platform.account_id}"
        if "extensionId" in party:
            expected += f"/extension/{party['extensionId']}"
        assert notification.json()["event"] == expected + "/telephony/sessions"


async def test_account_view_sees_pstn_parties_and_extension_view_only_its_own(
    platform: Platform, make_receiver: ReceiverFactory
) -> None:
    admin_rx, agent_rx = await make_receiver(), await make_receiver()
    alice = await platform.login(platform.extension("Alice Adams"))
    bob_id = platform.extension("Bob Brown")
    bob = await platform.login(bob_id)
    await subscribe(platform, alice, admin_rx, [TELEPHONY_ACCOUNT])
    await subscribe(platform, bob, agent_rx, [TELEPHONY_EXTENSION])
    await platform.emulator.play(
        ["answered_queue", "abandoned_queue", "outbound_connected"], count=3
    )
    account_parties = [n.json()["body"]["parties"][0] for n in admin_rx.notifications]
    assert any("extensionId" not in p for p in account_parties)  # the PSTN caller
    agent_parties = [n.json()["body"]["parties"][0] for n in agent_rx.notifications]
    assert agent_parties, "Bob is a queue member and rings in these calls"
    assert {p["extensionId"] for p in agent_parties} == {bob_id}
    bob_in_account_view = [p for p in account_parties if p.get("extensionId") == bob_id]
    assert len(bob_in_account_view) == len(agent_parties)


async def test_filter_query_parameters_narrow_what_is_delivered(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    await subscribe(
        platform, alice, receiver, [TELEPHONY_ACCOUNT + "?statusCode=Disconnected&missedCall=true"]
    )
    await platform.emulator.play(["abandoned_ringing", "answered_direct"], count=2)
    statuses = [n.json()["body"]["parties"][0] for n in receiver.notifications]
    assert statuses, "abandoned calls end with a missed Disconnected party"
    assert all(p["status"]["code"] == "Disconnected" and p["missedCall"] for p in statuses)


async def test_voicemail_notification_reaches_mailbox_subscription(
    platform: Platform, make_receiver: ReceiverFactory
) -> None:
    receivers = {}
    for user in ("Alice Adams", "Bob Brown", "Carol Chen", "Dan Diaz", "Erin Evans"):
        login = await platform.login(platform.extension(user))
        receivers[user] = await make_receiver()
        await subscribe(platform, login, receivers[user], [VOICEMAIL])
    play = await platform.emulator.play(["voicemail_left"])
    drop = play.calls[0].voicemails[0]
    mailbox = next(u for u in receivers if platform.extension(u) == drop.extension_id)
    got = receivers[mailbox].notifications
    assert len(got) == 1
    envelope = got[0].json()
    account = platform.account_id
    assert (
        envelope["event"]
        == f"/restapi/v1.0/account/{account}/extension/{drop.extension_id}/voicemail"
    )
    message = envelope["body"]
    assert message["type"] == "VoiceMail"
    assert message["attachments"][0]["vmDuration"] >= 3
    assert message["attachments"][0]["uri"].startswith(platform.base_url)
    assert message["from"]["phoneNumber"] == play.calls[0].events[0].party["from"]["phoneNumber"]
    others = [r for u, r in receivers.items() if u != mailbox]
    assert all(r.notifications == [] for r in others)


async def test_blacklisted_after_consecutive_failures(
    make_platform: PlatformFactory, make_receiver: ReceiverFactory
) -> None:
    platform = await make_platform(blacklist_after_failures=3, delivery_concurrency=1)
    alice = await platform.login(platform.extension("Alice Adams"))
    receiver = await make_receiver()
    subscription_id = await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    receiver.status = 404
    play = await platform.emulator.play(["answered_direct"])
    assert play.failed == 3
    assert play.suppressed == len(play.calls[0].events) - 3
    assert len(receiver.notifications) == 3
    response = await platform.client.get(
        f"/restapi/v1.0/subscription/{subscription_id}", headers=alice.headers
    )
    info = response.json()
    assert info["status"] == "Blacklisted"
    assert (
        info["blacklistedData"]["reason"]
        == "Webhook responses with code: [404], reason: [Not Found]"
    )
    assert info["blacklistedData"]["blacklistedAt"]
    records = await platform.admin("GET", f"/deliveries?subscriptionId={subscription_id}")
    assert Counter(r["outcome"] for r in records) == {"failed": 3, "suppressed": play.suppressed}
    assert records[0]["status"] == 404
    assert records[0]["latencyMs"] is not None


async def test_success_resets_the_failure_count(
    make_platform: PlatformFactory, make_receiver: ReceiverFactory
) -> None:
    platform = await make_platform(blacklist_after_failures=3, delivery_concurrency=1)
    alice = await platform.login(platform.extension("Alice Adams"))
    receiver = await make_receiver()
    subscription_id = await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    subscription = platform.emulator.subscriptions.by_id[subscription_id]
    receiver.status = 500
    await platform.emulator.play(["outbound_failed"])  # two events: Setup, Disconnected
    assert (subscription.consecutive_failures, subscription.status) == (2, "Active")
    receiver.status = 200
    await platform.emulator.play(["outbound_failed"])
    assert (subscription.consecutive_failures, subscription.status) == (0, "Active")
    receiver.status = 500
    await platform.emulator.play(["outbound_failed"])
    assert subscription.status == "Active"  # 2 fresh failures, not 4


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"body": b"y" * 2000}, "Webhook response exceeds max size. Read bytes count: [1024]"),
        ({"gate": "stall"}, "I/O operation is failed. Details: [Read timed out]"),
    ],
)
async def test_oversized_and_slow_answers_count_as_failures(
    make_platform: PlatformFactory,
    make_receiver: ReceiverFactory,
    settings: dict[str, object],
    reason: str,
) -> None:
    platform = await make_platform(blacklist_after_failures=1, delivery_timeout_s=0.2)
    alice = await platform.login(platform.extension("Alice Adams"))
    receiver = await make_receiver()
    subscription_id = await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    if settings.get("gate") == "stall":
        receiver.gate = asyncio.Event()
    else:
        receiver.body = b"y" * 2000
    await platform.emulator.play(["outbound_failed"])
    subscription = platform.emulator.subscriptions.by_id[subscription_id]
    assert subscription.status == "Blacklisted"
    assert subscription.blacklist_reason == reason


async def test_unreachable_receiver_blacklists(
    make_platform: PlatformFactory, receiver: Receiver
) -> None:
    platform = await make_platform(blacklist_after_failures=2)
    alice = await platform.login(platform.extension("Alice Adams"))
    subscription_id = await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    subscription = platform.emulator.subscriptions.by_id[subscription_id]
    subscription.address = "http://127.0.0.1:9/hook"  # the receiver went away after creation
    await platform.emulator.play(["answered_direct"])
    assert subscription.status == "Blacklisted"
    assert subscription.blacklist_reason == "I/O operation is failed. Details: [Connection refused]"


async def test_admin_blacklist_stops_delivery(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    subscription_id = await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    described = await platform.admin(
        "POST", f"/subscriptions/{subscription_id}/blacklist", {"reason": "manual"}
    )
    assert described["status"] == "Blacklisted"
    assert described["blacklistedData"]["reason"] == "manual"
    await platform.emulator.play(["answered_direct"])
    assert receiver.notifications == []


async def test_chaos_duplicates_and_drops(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    play = await platform.emulator.play(
        ["answered_queue"], count=5, chaos=ChaosConfig(duplicate=0.3, drop=0.2)
    )
    events = sum(len(c.events) for c in play.calls)
    assert play.notifications == events
    assert play.dropped > 0
    assert play.duplicates > 0
    assert len(receiver.notifications) == events - play.dropped + play.duplicates
    uuids = Counter(n.json()["uuid"] for n in receiver.notifications)
    assert sum(count - 1 for count in uuids.values()) == play.duplicates
    again = await platform.emulator.play(
        ["answered_queue"], count=5, seed=play.options.seed, chaos=ChaosConfig(drop=1.0)
    )
    assert again.delivered == 0
    assert again.dropped == again.notifications


async def test_chaos_reorder_shuffles_within_windows(
    make_platform: PlatformFactory, receiver: Receiver
) -> None:
    platform = await make_platform(delivery_concurrency=1)
    alice = await platform.login(platform.extension("Alice Adams"))
    await subscribe(platform, alice, receiver, [TELEPHONY_ACCOUNT])
    await platform.emulator.play(["answered_ivr"], chaos=ChaosConfig(reorder_window=5))
    sequences = [n.json()["body"]["sequence"] for n in receiver.notifications]
    assert sorted(sequences) == list(range(2, 2 + len(sequences)))
    assert sequences != sorted(sequences)
