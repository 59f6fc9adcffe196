"""What the call log knows about each call, in the Detailed view: the voicemail leg, the queue
an agent rang for, closed calls, exit-key transfers and forwarding to an outside number."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.scenarios import GeneratedCall
from tests.emulator.helpers import Login, Platform

QUEUE_KINDS = ["answered_queue", "abandoned_queue", "missed_queue_timeout"]


async def played(platform: Platform, kinds: list[str], count: int = 1) -> list[GeneratedCall]:
    """Play `kinds` in the past and let every final record appear."""
    play = await platform.emulator.play(kinds, count=count, seed=5)
    await platform.emulator.advance(60)
    return play.calls


async def records_of(
    platform: Platform, login: Login, call: GeneratedCall, view: str
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = await platform.records(
        login, telephonySessionId=call.truth.telephony_session_id, view=view
    )
    return records


def first_party(call: GeneratedCall, **wanted: Any) -> dict[str, Any]:
    """The first party snapshot of the call with the given status code / fields."""
    for event in call.events:
        party = event.party
        code = wanted.get("code")
        if code is not None and party["status"]["code"] != code:
            continue
        if all(party.get(k) == v for k, v in wanted.items() if k != "code"):
            return party
    raise AssertionError(f"no party {wanted} in {call.kind}")


@pytest.mark.parametrize("kind", ["voicemail_left", "voicemail_greeting_hangup"])
async def test_voicemail_calls_have_a_sent_to_voicemail_leg(
    platform: Platform, alice: Login, kind: str
) -> None:
    (call,) = await played(platform, [kind])
    mailbox = first_party(call, code="VoiceMail")["extensionId"]
    caller = call.events[0].party["from"]["phoneNumber"]
    (record,) = await records_of(platform, alice, call, "Detailed")
    assert str(record["extension"]["id"]) == mailbox
    master, sent = record["legs"]
    assert master["master"] is True
    assert master["result"] == record["result"]
    assert sent["master"] is False
    assert {k: sent[k] for k in ("result", "legType", "action", "direction")} == {
        "result": "Sent to Voicemail",
        "legType": "Accept",
        "action": "Phone Call",
        "direction": "Inbound",
    }
    assert sent["telephonySessionId"] == call.truth.telephony_session_id
    names = {e["id"]: e["name"] for e in platform.account["extensions"]}
    assert sent["to"] == {"name": names[mailbox], "extensionId": mailbox}
    assert sent["from"]["phoneNumber"] == caller
    if kind == "voicemail_left":
        assert record["result"] == "Voicemail"
        assert record["message"]["type"] == "VoiceMail"
    else:
        assert (record["result"], record["reason"]) == ("Missed", "Hang Up")
        assert "message" not in record
    (simple,) = await records_of(platform, alice, call, "Simple")
    assert "legs" not in simple
    assert simple["result"] == record["result"]


async def test_queue_agents_records_name_the_queue(platform: Platform, alice: Login) -> None:
    queue_id = platform.extension("Sales Queue")
    delegate = {"id": queue_id, "name": "Sales Queue"}
    agent_records = queue_records = 0
    for call in await played(platform, QUEUE_KINDS, count=2):
        rang = {e.party["extensionId"] for e in call.events if e.party.get("queueCall")}
        detailed = await records_of(platform, alice, call, "Detailed")
        simple = {r["id"]: r for r in await records_of(platform, alice, call, "Simple")}
        owners = set()
        for record in detailed:
            owner = str(record["extension"]["id"])
            if owner == queue_id:
                queue_records += 1
                assert record["to"]["extensionId"] == queue_id
                assert "delegationType" not in record
                assert "delegate" not in record
                continue
            agent_records += 1
            owners.add(owner)
            (master,) = record["legs"]
            for item in (record, master, simple[record["id"]]):
                assert item["delegationType"] == "QueueForwarding"
                assert item["delegate"] == delegate
            assert "legs" not in simple[record["id"]]
        assert owners == rang, call.kind  # the winner and every agent who missed
    assert agent_records > 0
    assert queue_records > 0


async def test_missed_closed_calls_were_not_accepted(platform: Platform, alice: Login) -> None:
    for call in await played(platform, ["missed_closed"], count=3):
        (record,) = await records_of(platform, alice, call, "Detailed")
        assert (record["result"], record["reason"]) == ("Missed", "Calls Not Accepted")
        assert record["legs"][0]["reason"] == "Calls Not Accepted"


async def test_exit_key_leaves_through_a_transfer_leg(platform: Platform, alice: Login) -> None:
    (call,) = await played(platform, ["deflected_exit_key"])
    (record,) = await records_of(platform, alice, call, "Detailed")
    assert str(record["extension"]["id"]) == platform.extension("Sales Queue")
    assert record["result"] == "Missed"
    assert "reason" not in record
    master, transfer = record["legs"]
    assert master["master"] is True
    assert transfer["master"] is False
    assert {k: transfer[k] for k in ("legType", "action", "result", "telephonySessionId")} == {
        "legType": "TransferCall",
        "action": "Transfer",
        "result": "Accepted",
        "telephonySessionId": call.truth.telephony_session_id,
    }
    assert set(transfer["to"]) == {"phoneNumber"}
    assert transfer["to"]["phoneNumber"].startswith("+1")
    (simple,) = await records_of(platform, alice, call, "Simple")
    assert "legs" not in simple
    assert simple["result"] == "Missed"


async def test_forwarded_call_has_a_follow_me_record(platform: Platform, alice: Login) -> None:
    (call,) = await played(platform, ["deflected_forwarded_external"])
    caller = call.events[0].party
    user = first_party(call, code="Answered", id=caller["id"])["to"]["extensionId"]
    outside = first_party(call, direction="Inbound", code="Answered")["to"]["phoneNumber"]
    (record,) = await records_of(platform, alice, call, "Detailed")
    assert str(record["extension"]["id"]) == user
    assert (record["result"], record["reason"]) == ("Accepted", "Accepted")
    (leg,) = record["legs"]
    assert {k: leg[k] for k in ("master", "legType", "action", "result", "reason")} == {
        "master": True,
        "legType": "FollowMe",
        "action": "FollowMe",
        "result": "Accepted",
        "reason": "Accepted",
    }
    assert leg["from"]["phoneNumber"] == caller["from"]["phoneNumber"]
    assert leg["to"] == {"phoneNumber": outside}
    (simple,) = await records_of(platform, alice, call, "Simple")
    assert "legs" not in simple
    assert simple["result"] == "Accepted"
