"""Losing webhook deliveries while the call log stays complete: whole calls (`lose_calls`), the
start of a call's main session (`lose_starts`), and delivery outage windows."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from emulator.clock import iso
from emulator.config import ChaosConfig
from tests.emulator.conftest import PlatformFactory, ReceiverFactory
from tests.emulator.helpers import (
    TELEPHONY_ACCOUNT,
    USERS,
    VOICEMAIL,
    Login,
    Platform,
    Receiver,
)

KINDS = ["voicemail_left", "attended_transfer", "answered_queue", "abandoned_ivr"]


async def subscribe_everything(platform: Platform, receiver: Receiver) -> None:
    """Account telephony (as Alice) and every user's voicemail, all to `receiver`."""
    for user in USERS:
        login = await platform.login(platform.extension(user))
        filters = [VOICEMAIL, TELEPHONY_ACCOUNT] if user == USERS[0] else [VOICEMAIL]
        response = await platform.subscribe(login, receiver.url, filters)
        assert response.status_code == 200, response.text


def received(receiver: Receiver) -> tuple[Counter[tuple[str, int]], set[str]]:
    """(telephony session, sequence) pairs and voicemail message ids that arrived."""
    events: Counter[tuple[str, int]] = Counter()
    messages = set()
    for request in receiver.notifications:
        envelope = request.json()
        body = envelope["body"]
        if envelope["event"].endswith("/voicemail"):
            messages.add(body["id"])
        else:
            events[(body["telephonySessionId"], body["sequence"])] += 1
    return events, messages


def lost_deliveries(platform: Platform) -> Counter[tuple[str | None, int | None]]:
    return Counter(
        (r.telephony_session_id, r.sequence)
        for r in platform.emulator.deliveries()
        if r.outcome == "lost"
    )


async def logged_ids(platform: Platform, login: Login) -> set[str]:
    await platform.emulator.advance(120)
    return {r["id"] for r in await platform.records(login, perPage="max")}


async def test_lost_calls_lose_every_notification_but_no_record(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    await subscribe_everything(platform, receiver)
    play = await platform.emulator.play(KINDS, count=3, seed=4, chaos=ChaosConfig(lose_calls=0.5))
    fates = Counter(c.webhooks for c in play.calls)
    assert fates.keys() == {"lost", "delivered"}
    events, messages = received(receiver)
    lost_calls = [c for c in play.calls if c.webhooks == "lost"]
    for call in play.calls:
        sent = Counter((e.telephony_session_id, e.sequence) for e in call.events)
        left = {d.message["id"] for d in call.voicemails}
        if call.webhooks == "lost":
            assert not sent.keys() & events.keys(), call.kind
            assert not left & messages
        else:
            assert all(events[key] == 1 for key in sent), call.kind
            assert left <= messages
    expected = sum(len(c.events) + len(c.voicemails) for c in lost_calls)
    assert any(c.voicemails for c in lost_calls)  # a lost call's voicemail is lost too
    assert any(len(c.truths) > 1 for c in lost_calls)  # ... and every one of its sessions
    assert play.lost == expected
    assert sum(lost_deliveries(platform).values()) == expected
    assert len(receiver.notifications) == play.notifications - expected == play.delivered
    summary = play.summary(with_calls=True)
    assert summary["lost"] == expected
    assert [c["webhooks"] for c in summary["callList"]] == [c.webhooks for c in play.calls]
    every_record = {e.id for c in play.calls for e in c.call_log}
    assert every_record <= await logged_ids(platform, alice)


async def test_lost_starts_lose_the_first_events_of_the_main_session(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    await subscribe_everything(platform, receiver)
    play = await platform.emulator.play(KINDS, count=2, seed=8, chaos=ChaosConfig(lose_starts=1))
    events, messages = received(receiver)
    expected_lost: Counter[tuple[str | None, int | None]] = Counter()
    cuts = set()
    for call in play.calls:
        assert call.webhooks == "lost_start"
        main = call.truth.telephony_session_id
        sequences = sorted(e.sequence for e in call.events_of(main))
        cut = call.lost_below_sequence
        assert sequences[0] < cut <= sequences[-1]
        cuts.add(cut - sequences[0])
        got = sorted(seq for (session, seq) in events if session == main)
        assert got == [s for s in sequences if s >= cut]
        last = call.events_of(main)[-1]
        assert last.party["status"]["code"] == "Disconnected"
        assert (main, last.sequence) in events
        for other in call.truths[1:]:  # the attended transfer's consult session is whole
            sent = {
                (e.telephony_session_id, e.sequence)
                for e in call.events_of(other.telephony_session_id)
            }
            assert sent <= events.keys()
        assert {d.message["id"] for d in call.voicemails} <= messages
        expected_lost.update((main, s) for s in sequences if s < cut)
    assert len(cuts) > 1  # the cut is drawn, not fixed
    assert lost_deliveries(platform) == expected_lost
    assert play.lost == sum(expected_lost.values())
    every_record = {e.id for c in play.calls for e in c.call_log}
    assert every_record <= await logged_ids(platform, alice)


async def test_a_call_is_lost_whole_or_from_its_start_never_both(platform: Platform) -> None:
    play = await platform.emulator.play(
        None, count=40, seed=2, chaos=ChaosConfig(lose_calls=0.5, lose_starts=1)
    )
    fates = Counter(c.webhooks for c in play.calls)
    assert fates.keys() == {"lost", "lost_start"}
    assert all(c.lost_below_sequence == 0 for c in play.calls if c.webhooks == "lost")


async def test_losses_are_deterministic_for_a_seed(
    make_platform: PlatformFactory, make_receiver: ReceiverFactory
) -> None:
    chaos = ChaosConfig(lose_calls=0.3, lose_starts=0.3)

    async def run(play_seed: int) -> tuple[list[Any], Counter[tuple[str | None, int | None]]]:
        platform = await make_platform(session_id_style="classic")
        await subscribe_everything(platform, await make_receiver())
        play = await platform.emulator.play(None, count=30, seed=play_seed, chaos=chaos)
        fates = [
            (c.kind, c.truth.telephony_session_id, c.webhooks, c.lost_below_sequence)
            for c in play.calls
        ]
        return fates, lost_deliveries(platform)

    first, again, other = await run(11), await run(11), await run(12)
    assert first == again
    assert {f[2] for f in first[0]} == {"delivered", "lost", "lost_start"}
    assert [f[2:] for f in first[0]] != [f[2:] for f in other[0]]


async def test_loss_knobs_over_the_admin_api(platform: Platform, receiver: Receiver) -> None:
    await subscribe_everything(platform, receiver)
    lost = await platform.admin(
        "POST",
        "/scenarios/play",
        {"kinds": ["answered_direct"], "count": 2, "chaos": {"loseCalls": 1}},
    )
    assert lost["notifications"] > 0
    assert (lost["lost"], lost["delivered"]) == (lost["notifications"], 0)
    assert {c["webhooks"] for c in lost["callList"]} == {"lost"}
    cut = await platform.admin(
        "POST", "/scenarios/play", {"kinds": ["answered_direct"], "chaos": {"loseStarts": 1.0}}
    )
    assert [c["webhooks"] for c in cut["callList"]] == ["lost_start"]
    assert 0 < cut["lost"] < cut["notifications"]
    assert cut["delivered"] == cut["notifications"] - cut["lost"]
    plain = await platform.admin("POST", "/scenarios/play", {"kinds": ["answered_direct"]})
    assert (plain["lost"], [c["webhooks"] for c in plain["callList"]]) == (0, ["delivered"])
    bad = await platform.client.post(
        "/_emulator/scenarios/play", json={"kinds": ["answered_direct"], "chaos": {"loseCalls": 2}}
    )
    assert bad.status_code == 422
    with pytest.raises(ValueError, match="lose_starts"):
        ChaosConfig(lose_starts=-0.1)


async def until(condition: Callable[[], bool]) -> None:
    """Let the event loop run until `condition` holds: deliveries are background tasks, and a
    lost one is only a delivery record (nothing arrives that an event could mark)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - sleep(0) yields; it does not wait for time
            await asyncio.sleep(0)


async def test_outage_loses_exactly_the_notifications_due_inside_it(
    platform: Platform, alice: Login, receiver: Receiver
) -> None:
    assert (await platform.subscribe(alice, receiver.url, [TELEPHONY_ACCOUNT])).status_code == 200
    play = await platform.emulator.play(["answered_queue"], seed=6, pacing="realtime", wait=False)
    (call,) = play.calls
    answer = next(
        e
        for e in call.events
        if e.party.get("queueCall") and e.party["status"]["code"] == "Answered"
    )
    # the answer comes >= 3 s after the event before it, and talk lasts >= 20 s after it
    starts, ends = (
        answer.event_time - timedelta(seconds=1.5),
        answer.event_time + timedelta(seconds=10),
    )
    platform.emulator.set_outage(starts, ends)
    inside = {e.sequence for e in call.events if starts <= e.event_time < ends}
    before = [e for e in call.events if e.event_time < starts]
    assert inside
    assert before

    def recorded() -> int:
        return len(platform.emulator.deliveries())

    await platform.advance_to(starts - timedelta(seconds=1))
    await until(lambda: recorded() == len(before))
    await platform.advance_to(ends - timedelta(seconds=1))
    await until(lambda: recorded() == len(before) + len(inside))
    await platform.advance_to(call.ended_at + timedelta(seconds=1))
    await play.wait()

    outcomes = {r.sequence: r.outcome for r in platform.emulator.deliveries()}
    assert {s for s, outcome in outcomes.items() if outcome == "lost"} == inside
    assert {s for s, outcome in outcomes.items() if outcome == "delivered"} == {
        e.sequence for e in call.events
    } - inside
    assert sorted(r.json()["body"]["sequence"] for r in receiver.notifications) == sorted(
        e.sequence for e in call.events if e.sequence not in inside
    )
    assert play.lost == len(inside)
    assert call.webhooks == "delivered"  # the outage is not a per-call draw


async def test_outage_over_the_admin_api(platform: Platform, receiver: Receiver) -> None:
    await subscribe_everything(platform, receiver)
    window = await platform.admin("POST", "/delivery/outage", {"durationS": 60})
    assert window["outage"]["endsAt"] is not None
    assert (await platform.admin("GET", "/delivery/outage")) == window
    assert (await platform.admin("GET", "/state"))["outage"] == window["outage"]
    down = await platform.admin("POST", "/scenarios/play", {"kinds": ["voicemail_left"]})
    assert down["notifications"] > 0
    assert (down["lost"], down["delivered"]) == (down["notifications"], 0)
    assert receiver.notifications == []
    assert [c["webhooks"] for c in down["callList"]] == ["delivered"]

    assert (await platform.admin("DELETE", "/delivery/outage")) == {"outage": None}
    up = await platform.admin("POST", "/scenarios/play", {"kinds": ["voicemail_left"]})
    assert (up["lost"], up["delivered"]) == (0, up["notifications"])

    later = platform.emulator.now() + timedelta(seconds=300)
    await platform.admin(
        "POST",
        "/delivery/outage",
        {"startsAt": iso(later), "endsAt": iso(later + timedelta(seconds=5))},
    )
    not_yet = await platform.admin("POST", "/scenarios/play", {"kinds": ["voicemail_left"]})
    assert not_yet["lost"] == 0  # nothing of this play is due inside the window

    both = await platform.client.post(
        "/_emulator/delivery/outage", json={"endsAt": iso(later), "durationS": 5}
    )
    assert both.status_code == 400
    assert both.json()["error"]["code"] == "invalid_request"
    backwards = await platform.client.post(
        "/_emulator/delivery/outage",
        json={"startsAt": iso(later), "endsAt": iso(later - timedelta(seconds=1))},
    )
    assert backwards.status_code == 400
