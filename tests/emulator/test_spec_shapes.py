"""The emulator's responses and notifications validate against RingCentral's OpenAPI schemas.

Skipped (with the reason) when the spec file is not available; see tests/emulator/spec.py.
Known, deliberate deviations (the real captures disagree with the spec) are listed in
`VOICEMAIL_DEVIATIONS` and in docs/emulator.md.
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.emulator.conftest import ReceiverFactory
from tests.emulator.helpers import (
    ACCOUNT_CALL_LOG,
    ACCOUNT_CALL_LOG_SYNC,
    TELEPHONY_ACCOUNT,
    TELEPHONY_EXTENSION,
    VOICEMAIL,
    Login,
    Platform,
    Receiver,
)
from tests.emulator.spec import Spec, load_spec, spec_path


@pytest.fixture(scope="session")
def spec() -> Spec:
    path = spec_path()
    if path is None:
        pytest.skip(
            "RingCentral OpenAPI spec not found (set CALLSIFT_RC_SPEC, or place it at "
            "../shared/ringcentral/rc-platform.yml); it is not redistributable, so not in the repo"
        )
    return load_spec(path)


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_token_info(spec: Spec, platform: Platform, alice: Login) -> None:
    assert spec.schema_errors("TokenInfo", alice.info) == []
    refreshed = ok(await platform.refresh(alice.refresh_token))
    assert spec.schema_errors("TokenInfo", refreshed) == []


async def test_subscription_info_and_list(
    spec: Spec, platform: Platform, alice: Login, receiver: Receiver
) -> None:
    reminder = "/restapi/v1.0/subscription/~?threshold=86400&interval=3600"
    created = ok(await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION, reminder]))
    assert spec.schema_errors("SubscriptionInfo", created) == []
    listed = ok(await platform.client.get("/restapi/v1.0/subscription", headers=alice.headers))
    assert spec.schema_errors("SubscriptionListResource", listed) == []
    await platform.admin("POST", f"/subscriptions/{created['id']}/blacklist", {})
    blacklisted = ok(
        await platform.client.get(
            f"/restapi/v1.0/subscription/{created['id']}", headers=alice.headers
        )
    )
    assert blacklisted["blacklistedData"]
    assert spec.schema_errors("SubscriptionInfo", blacklisted) == []


async def test_extension_list_and_info(spec: Spec, platform: Platform, alice: Login) -> None:
    listed = ok(
        await platform.client.get(
            "/restapi/v1.0/account/~/extension",
            params={"perPage": 2, "page": 2},
            headers=alice.headers,
        )
    )
    assert spec.schema_errors("GetExtensionListResponse", listed) == []
    one = ok(
        await platform.client.get("/restapi/v1.0/account/~/extension/~", headers=alice.headers)
    )
    assert spec.schema_errors("GetExtensionInfoResponse", one) == []


async def check_call_log(
    spec: Spec, platform: Platform, login: Login, sync_path: str, *, in_progress: bool
) -> None:
    """Both list views and a Detailed sync match the spec, and every record is In Progress (or
    none is, with `in_progress` False)."""
    for view in ("Simple", "Detailed"):
        page = ok(await platform.rest(login, ACCOUNT_CALL_LOG, view=view, perPage=1000))
        assert len(page["records"]) > 30
        assert {r["result"] == "In Progress" for r in page["records"]} == {in_progress}
        assert spec.schema_errors("CallLogResponse", page) == []
    synced = ok(await platform.rest(login, sync_path, recordCount=250, view="Detailed"))
    assert synced["records"]
    assert {r["result"] == "In Progress" for r in synced["records"]} == {in_progress}
    assert spec.schema_errors("CallLogSyncResponse", synced) == []


async def test_call_log_and_sync(spec: Spec, platform: Platform, alice: Login) -> None:
    await platform.emulator.play(["all"])
    await platform.emulator.advance(60)
    sync_path = "/restapi/v1.0/account/~/extension/~/call-log-sync"
    await check_call_log(spec, platform, alice, sync_path, in_progress=False)


async def test_in_progress_records(spec: Spec, platform: Platform, alice: Login) -> None:
    play = await platform.emulator.play(["all"], pacing="realtime", spacing_s=0, wait=False, seed=2)
    start = min(c.started_at for c in play.calls)
    await platform.emulator.advance((start - platform.emulator.now()).total_seconds() + 8)
    await check_call_log(spec, platform, alice, ACCOUNT_CALL_LOG_SYNC, in_progress=True)


async def test_telephony_notifications(
    spec: Spec, platform: Platform, make_receiver: ReceiverFactory
) -> None:
    account_rx, extension_rx = await make_receiver(), await make_receiver()
    admin = await platform.login(platform.extension("Alice Adams"))
    agent = await platform.login(platform.extension("Bob Brown"))
    ok(await platform.subscribe(admin, account_rx.url, [TELEPHONY_ACCOUNT]))
    ok(await platform.subscribe(agent, extension_rx.url, [TELEPHONY_EXTENSION]))
    await platform.emulator.play(["all"], count=2)
    assert len(account_rx.notifications) > 300
    assert extension_rx.notifications
    for receiver, schema in ((account_rx, "AccountTelephonySessionsEvent"),
                             (extension_rx, "ExtensionTelephonySessionsEvent")):  # fmt: skip
        for notification in receiver.notifications:
            envelope = notification.json()
            assert spec.schema_errors(schema, envelope) == [], envelope
            assert spec.schema_errors("TelephonySessionsEventBody", envelope["body"]) == []
    seen_reasons = {
        n.json()["body"]["parties"][0]["status"].get("reason") for n in account_rx.notifications
    }
    assert seen_reasons - {None} <= set(
        spec.document["components"]["schemas"]["CallStatusInfo"]["properties"]["reason"]["enum"]
    )


# The captures (apidocs voicemail event) carry a string `id`, string attachment ids and type
# "VoiceMail"; the spec says integers and "Voicemail". The emulator follows the captures.
VOICEMAIL_DEVIATIONS = ("body.id", "body.attachments[].id", "body.type")


def as_spec_says(envelope: dict[str, Any]) -> dict[str, Any]:
    adjusted = copy.deepcopy(envelope)
    body = adjusted["body"]
    assert isinstance(body["id"], str)
    assert body["type"] == "VoiceMail"
    body["id"], body["type"] = int(body["id"]), "Voicemail"
    for attachment in body["attachments"]:
        attachment["id"] = int(attachment["id"])
    return adjusted


async def test_voicemail_notifications(
    spec: Spec, platform: Platform, make_receiver: ReceiverFactory
) -> None:
    receivers = []
    for user in ("Alice Adams", "Bob Brown", "Carol Chen", "Dan Diaz", "Erin Evans"):
        login = await platform.login(platform.extension(user))
        receivers.append(await make_receiver())
        ok(await platform.subscribe(login, receivers[-1].url, [VOICEMAIL]))
    await platform.emulator.play(["voicemail_left"], count=4)
    notifications = [n.json() for r in receivers for n in r.notifications]
    assert len(notifications) == 4
    for envelope in notifications:
        assert spec.schema_errors("VoicemailMessageEvent", as_spec_says(envelope)) == []


async def test_error_bodies(
    spec: Spec, platform: Platform, alice: Login, receiver: Receiver
) -> None:
    oauth = await platform.token({"grant_type": "password"})
    assert oauth.status_code == 400
    assert spec.response_errors("OauthInvalidRequest", oauth.json()) == []
    unauthorized = await platform.client.get("/restapi/v1.0/subscription")
    assert spec.response_errors("Unauthorized", unauthorized.json()) == []
    invalid = await platform.subscribe(alice, receiver.url, [TELEPHONY_EXTENSION], expiresIn=0)
    assert spec.response_errors("InvalidRequest", invalid.json()) == []
    missing = await platform.client.get("/restapi/v1.0/subscription/nope", headers=alice.headers)
    assert spec.response_errors("NotFound", missing.json()) == []
    await platform.admin(
        "PUT", "/rate-limits", {"enabled": True, "limits": {"Light": {"requests": 1}}}
    )
    await platform.client.get("/restapi/v1.0/subscription", headers=alice.headers)
    limited = await platform.client.get("/restapi/v1.0/subscription", headers=alice.headers)
    assert limited.status_code == 429
    assert spec.response_errors("TooManyRequests", limited.json()) == []


def test_validators_are_not_vacuous(spec: Spec) -> None:
    """The checks above could fail: broken bodies are reported."""
    token = {"access_token": "a", "expires_in": 3600, "scope": "", "token_type": "Bearer"}
    assert len(spec.schema_errors("TokenInfo", token)) == 2  # session_id missing, bad enum
    party = {"id": "p-1", "direction": "Inbound", "status": {"code": "Ringing"}}
    body = {"sequence": 2, "telephonySessionId": "s-1", "parties": [party]}
    assert spec.schema_errors("TelephonySessionsEventBody", body)
    page = {"records": [], "navigation": {}, "paging": {"perPage": 1, "cursor": "x"}}
    assert spec.schema_errors("CallLogResponse", page)
