"""OAuth: JWT and refresh grants, TTL clamps, rotation and its grace, revocation, errors."""

from __future__ import annotations

import base64
import json

import pytest

from tests.emulator.conftest import PlatformFactory
from tests.emulator.helpers import JWT_GRANT, Login, Platform, error_code

EXTENSION_LIST = "/restapi/v1.0/account/~/extension"


def jwt_claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    claims: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def test_jwt_credential_looks_like_rs256_jwt(platform: Platform) -> None:
    extension_id = platform.extension("Bob Brown")
    token = await platform.jwt(extension_id)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    claims = jwt_claims(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert header["kid"]
    assert claims["sub"] == extension_id
    assert claims["aud"] == f"{platform.base_url}/restapi/oauth/token"
    assert claims["iss"] == platform.base_url
    assert isinstance(claims["iat"], int)
    assert claims["jti"]


async def test_jwt_grant_returns_token_info(platform: Platform) -> None:
    extension_id = platform.extension("Alice Adams")
    login = await platform.login(extension_id)
    info = login.info
    assert info["token_type"] == "bearer"
    assert info["expires_in"] == 3600
    assert info["refresh_token_expires_in"] == 604800
    assert info["owner_id"] == extension_id
    assert "CallControl" in info["scope"].split()
    assert info["session_id"]
    assert info["endpoint_id"]
    response = await platform.client.get(EXTENSION_LIST, headers=login.headers)
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("requested", "access", "refresh"),
    [
        ({"access_token_ttl": "100"}, 600, 604800),  # below the minimum: raised to 600
        ({"access_token_ttl": "1800"}, 1800, 604800),
        ({"access_token_ttl": "7200"}, 3600, 604800),  # above the maximum: the default
        ({"refresh_token_ttl": "86400"}, 3600, 86400),
        ({"refresh_token_ttl": "9999999"}, 3600, 604800),  # above 30 days: the default
    ],
)
async def test_token_ttls_are_clamped(
    platform: Platform, requested: dict[str, str], access: int, refresh: int
) -> None:
    login = await platform.login(platform.extension("Alice Adams"), **requested)
    assert login.info["expires_in"] == access
    assert login.info["refresh_token_expires_in"] == refresh


async def test_bad_client_credentials_are_invalid_client(platform: Platform) -> None:
    assertion = await platform.jwt(platform.extension("Alice Adams"))
    form = {"grant_type": JWT_GRANT, "assertion": assertion}
    response = await platform.token(form, platform.basic(secret="wrong"))
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "invalid_client"
    assert body["errors"][0]["errorCode"] == "OAU-153"
    assert body["errors"][0]["parameters"] == [{"parameterName": "client_id"}]
    no_auth = await platform.client.post("/restapi/oauth/token", data=form)
    assert no_auth.status_code == 401


async def test_password_grant_is_refused(platform: Platform) -> None:
    response = await platform.token({"grant_type": "password", "username": "x", "password": "y"})
    assert response.status_code == 400
    assert error_code(response) == "OAU-250"
    assert response.json()["error_description"] == "Unsupported grant type"


async def test_token_endpoint_wants_a_form(platform: Platform) -> None:
    response = await platform.client.post(
        "/restapi/oauth/token", json={"grant_type": JWT_GRANT}, headers=platform.basic()
    )
    assert response.status_code == 415


async def test_app_without_jwt_flow_is_unauthorized_client(platform: Platform) -> None:
    other = await platform.admin("POST", "/apps", {"name": "no-jwt", "jwtEnabled": False})
    assertion = await platform.jwt(platform.extension("Alice Adams"), other["clientId"])
    response = await platform.token(
        {"grant_type": JWT_GRANT, "assertion": assertion},
        platform.basic(other["clientId"], other["clientSecret"]),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
    assert error_code(response) == "OAU-251"


async def test_revoked_unknown_and_foreign_jwts_are_invalid_grant(platform: Platform) -> None:
    extension_id = platform.extension("Alice Adams")
    revoked = await platform.jwt(extension_id)
    assert (await platform.admin("POST", "/jwt/revoke", {"jwt": revoked})) == {"revoked": True}
    other = await platform.admin("POST", "/apps", {"name": "other"})
    foreign = await platform.jwt(extension_id, other["clientId"])
    cases = {revoked: "OAU-211", "not.a-jwt.at-all": "OAU-213", foreign: "OAU-213"}
    for assertion, code in cases.items():
        response = await platform.token({"grant_type": JWT_GRANT, "assertion": assertion})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"
        assert error_code(response) == code


async def test_refresh_rotates_and_old_access_token_dies(platform: Platform, alice: Login) -> None:
    response = await platform.refresh(alice.refresh_token)
    assert response.status_code == 200
    fresh = response.json()
    assert fresh["access_token"] != alice.access_token
    assert fresh["refresh_token"] != alice.refresh_token
    assert fresh["session_id"] == alice.info["session_id"]

    old = await platform.client.get(EXTENSION_LIST, headers=alice.headers)
    assert old.status_code == 401
    assert old.json()["errorCode"] == "TokenInvalid"
    assert error_code(old) == "OAU-129"
    await platform.emulator.advance(11)
    later = await platform.client.get(EXTENSION_LIST, headers=alice.headers)
    assert error_code(later) == "OAU-213"
    new_headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert (await platform.client.get(EXTENSION_LIST, headers=new_headers)).status_code == 200


async def test_old_refresh_token_replays_same_pair_for_10s_after_new_token_is_used(
    platform: Platform, alice: Login
) -> None:
    first = (await platform.refresh(alice.refresh_token)).json()
    await platform.client.get(
        EXTENSION_LIST, headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    await platform.emulator.advance(5)
    replay = await platform.refresh(alice.refresh_token)
    assert replay.status_code == 200
    assert replay.json()["access_token"] == first["access_token"]
    assert replay.json()["refresh_token"] == first["refresh_token"]
    await platform.emulator.advance(6)
    expired = await platform.refresh(alice.refresh_token)
    assert expired.status_code == 400
    assert error_code(expired) == "OAU-213"


async def test_old_refresh_token_replays_for_an_hour_while_new_token_is_unused(
    platform: Platform, alice: Login
) -> None:
    first = (await platform.refresh(alice.refresh_token)).json()
    await platform.emulator.advance(59 * 60)
    replay = await platform.refresh(alice.refresh_token)
    assert replay.json()["refresh_token"] == first["refresh_token"]
    await platform.emulator.advance(2 * 60)
    assert error_code(await platform.refresh(alice.refresh_token)) == "OAU-213"


async def test_expired_tokens(platform: Platform, alice: Login) -> None:
    await platform.emulator.advance(3601)
    response = await platform.client.get(EXTENSION_LIST, headers=alice.headers)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "TokenInvalid"
    assert (await platform.refresh(alice.refresh_token)).status_code == 200
    later = await platform.login(platform.extension("Alice Adams"))
    await platform.emulator.advance(604801)
    expired = await platform.refresh(later.refresh_token)
    assert expired.status_code == 400
    assert error_code(expired) == "OAU-210"
    assert expired.json() == {
        "error": "invalid_grant",
        "errors": [{"errorCode": "OAU-210", "message": "Token expired"}],
        "error_description": "Token expired",
    }


async def test_revoke_ends_the_whole_session(platform: Platform, alice: Login) -> None:
    response = await platform.client.post(
        "/restapi/oauth/revoke", data={"token": alice.access_token}, headers=platform.basic()
    )
    assert response.status_code == 200
    assert response.content == b""
    refused = await platform.client.get(EXTENSION_LIST, headers=alice.headers)
    assert refused.status_code == 401
    refresh = await platform.refresh(alice.refresh_token)
    assert refresh.status_code == 400
    assert error_code(refresh) == "OAU-211"


async def test_sixth_session_evicts_the_oldest(platform: Platform) -> None:
    extension_id = platform.extension("Alice Adams")
    logins = [await platform.login(extension_id) for _ in range(6)]
    oldest = await platform.client.get(EXTENSION_LIST, headers=logins[0].headers)
    assert oldest.status_code == 401
    for login in logins[1:]:
        assert (await platform.client.get(EXTENSION_LIST, headers=login.headers)).status_code == 200


async def test_missing_or_unknown_bearer(platform: Platform) -> None:
    missing = await platform.client.get(EXTENSION_LIST)
    assert missing.status_code == 401
    unknown = await platform.client.get(EXTENSION_LIST, headers={"Authorization": "Bearer nope"})
    assert unknown.status_code == 401
    assert unknown.json() == {
        "errorCode": "TokenInvalid",
        "message": "Token not found",
        "errors": [{"errorCode": "OAU-213", "message": "Token not found"}],
    }


async def test_access_token_in_query_parameter(platform: Platform, alice: Login) -> None:
    response = await platform.client.get(
        EXTENSION_LIST, params={"access_token": alice.access_token}
    )
    assert response.status_code == 200


async def test_app_without_refresh_tokens_gets_none(make_platform: PlatformFactory) -> None:
    platform = await make_platform()
    app = await platform.admin("POST", "/apps", {"name": "short", "issueRefreshTokens": False})
    assertion = await platform.jwt(platform.extension("Alice Adams"), app["clientId"])
    response = await platform.token(
        {"grant_type": JWT_GRANT, "assertion": assertion},
        platform.basic(app["clientId"], app["clientSecret"]),
    )
    assert response.status_code == 200
    assert "refresh_token" not in response.json()
