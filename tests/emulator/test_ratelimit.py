"""Rate limits: off by default; when on, per (user, app, group) with 429, Retry-After, penalty."""

from __future__ import annotations

from tests.emulator.helpers import JWT_GRANT, Login, Platform, error_code

SUBSCRIPTIONS = "/restapi/v1.0/subscription"


async def enable(platform: Platform, **limits: int) -> None:
    body = {"enabled": True, "limits": {g: {"requests": n} for g, n in limits.items()}}
    state = await platform.admin("PUT", "/rate-limits", body)
    assert state["enabled"] is True


async def test_off_by_default(platform: Platform, alice: Login) -> None:
    for _ in range(51):  # one more than the Light limit
        response = await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)
        assert response.status_code == 200
        assert "x-rate-limit-group" not in response.headers


async def test_light_group_limit_with_headers_and_penalty(platform: Platform, alice: Login) -> None:
    await enable(platform, Light=3)
    for remaining in (2, 1, 0):
        response = await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)
        assert response.status_code == 200
        assert response.headers["x-rate-limit-group"] == "light"
        assert response.headers["x-rate-limit-limit"] == "3"
        assert response.headers["x-rate-limit-window"] == "60"
        assert response.headers["x-rate-limit-remaining"] == str(remaining)
    refused = await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"
    assert error_code(refused) == "CMN-301"
    assert refused.json()["message"] == "Request rate exceeded"

    await platform.emulator.advance(45)
    again = await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)
    assert again.status_code == 429  # a request during the penalty restarts it
    await platform.emulator.advance(45)
    assert (await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)).status_code == 429
    await platform.emulator.advance(61)
    assert (await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)).status_code == 200


async def test_limits_are_per_user_and_per_group(platform: Platform, alice: Login) -> None:
    await enable(platform, Light=2)
    bob = await platform.login(platform.extension("Bob Brown"))
    for _ in range(2):
        await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)
    assert (await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)).status_code == 429
    assert (await platform.client.get(SUBSCRIPTIONS, headers=bob.headers)).status_code == 200
    heavy = await platform.client.get("/restapi/v1.0/account/~/call-log", headers=alice.headers)
    assert heavy.status_code == 200
    assert heavy.headers["x-rate-limit-group"] == "heavy"
    assert heavy.headers["x-rate-limit-limit"] == "10"


async def test_auth_group_on_the_token_endpoint(platform: Platform) -> None:
    await enable(platform)  # documented defaults: Auth 5 a minute
    assertion = await platform.jwt(platform.extension("Alice Adams"))
    form = {"grant_type": JWT_GRANT, "assertion": assertion}
    for _ in range(5):
        response = await platform.token(form)
        assert response.status_code == 200
        assert response.headers["x-rate-limit-group"] == "auth"
    refused = await platform.token(form)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "60"


async def test_endpoint_groups(platform: Platform, alice: Login) -> None:
    await enable(platform)
    cases = {
        ("GET", SUBSCRIPTIONS): "light",
        ("GET", "/restapi/v1.0/account/~/extension"): "medium",
        ("GET", "/restapi/v1.0/account/~/extension/~"): "light",
        ("GET", "/restapi/v1.0/account/~/extension/~/call-log"): "heavy",
    }
    for (method, path), group in cases.items():
        response = await platform.client.request(method, path, headers=alice.headers)
        assert response.headers["x-rate-limit-group"] == group, path


async def test_admin_reads_and_disables_limits(platform: Platform, alice: Login) -> None:
    await enable(platform, Light=1)
    state = await platform.admin("GET", "/rate-limits")
    assert state["limits"]["Light"]["requests"] == 1
    assert state["limits"]["Heavy"]["requests"] == 10
    await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)
    assert (await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)).status_code == 429
    await platform.admin("PUT", "/rate-limits", {"enabled": False})
    assert (await platform.client.get(SUBSCRIPTIONS, headers=alice.headers)).status_code == 200
