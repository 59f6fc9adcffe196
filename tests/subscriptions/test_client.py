"""The REST client's error handling and retries, against respx-mocked RingCentral answers."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx

from subscriptions.client import RetryPolicy, RingCentralClient
from subscriptions.errors import ApiError, InvalidGrant, NotFound, RateLimited, TransportError
from subscriptions.ratelimit import RateGroup, RateLimiter

SERVER = "https://platform.example.test"
TOKEN_URL = f"{SERVER}/restapi/oauth/token"
SUBSCRIPTION_URL = f"{SERVER}/restapi/v1.0/subscription/sub-1"
TOKEN_BODY = {
    "access_token": "access-1",
    "token_type": "bearer",
    "expires_in": 3600,
    "refresh_token": "refresh-1",
    "refresh_token_expires_in": 604800,
    "scope": "CallControl",
    "owner_id": "62242421016",
}
SUBSCRIPTION_BODY = {
    "id": "sub-1",
    "status": "Active",
    "eventFilters": [],
    "expirationTime": "2026-12-06T10:00:00.000Z",
}


class Waits:
    """Records the waits the client asks for instead of sleeping."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
async def client(waits: Waits) -> RingCentralClient:
    http = httpx.AsyncClient()
    return RingCentralClient(
        http,
        server=SERVER,
        client_id="client-id",
        client_secret="client-secret",
        retry=RetryPolicy(attempts=4, backoff_base_s=2.0, sleep=waits),
        limiter=RateLimiter(sleep=waits),
    )


@respx.mock
async def test_jwt_exchange_sends_basic_client_auth_and_the_grant(
    client: RingCentralClient,
) -> None:
    route = respx.post(TOKEN_URL).respond(200, json=TOKEN_BODY)
    info = await client.exchange_jwt("a.b.c", rate_key="ext")
    request = route.calls.last.request
    expected = base64.b64encode(b"client-id:client-secret").decode()
    assert request.headers["Authorization"] == f"Basic {expected}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in request.content
    assert b"assertion=a.b.c" in request.content
    assert (info.access_token, info.owner_id, info.expires_in) == ("access-1", "62242421016", 3600)


@respx.mock
async def test_invalid_grant_carries_ringcentral_code_and_is_not_retried(
    client: RingCentralClient,
) -> None:
    route = respx.post(TOKEN_URL).respond(
        400,
        json={
            "error": "invalid_grant",
            "errors": [{"errorCode": "OAU-210", "message": "Token expired"}],
            "error_description": "Token expired",
        },
    )
    with pytest.raises(InvalidGrant) as caught:
        await client.refresh_tokens("old", rate_key="ext")
    assert caught.value.code == "OAU-210"
    assert caught.value.status == 400
    assert route.call_count == 1


@respx.mock
async def test_429_waits_for_retry_after_then_succeeds(
    client: RingCentralClient, waits: Waits
) -> None:
    route = respx.get(SUBSCRIPTION_URL)
    route.side_effect = [
        httpx.Response(
            429,
            headers={"Retry-After": "7"},
            json={"errorCode": "CMN-301", "message": "Request rate exceeded"},
        ),
        httpx.Response(200, json=SUBSCRIPTION_BODY),
    ]
    info = await client.get_subscription(auth=_bearer(), rate_key="ext", subscription_id="sub-1")
    assert info.id == "sub-1"
    assert route.call_count == 2
    assert waits.seconds == [7.0]


@respx.mock
async def test_429_asking_for_too_long_a_wait_is_raised_for_the_caller_to_reschedule(
    client: RingCentralClient, waits: Waits
) -> None:
    respx.get(SUBSCRIPTION_URL).respond(
        429, headers={"Retry-After": "600"}, json={"errorCode": "CMN-301"}
    )
    with pytest.raises(RateLimited) as caught:
        await client.get_subscription(auth=_bearer(), rate_key="ext", subscription_id="sub-1")
    assert caught.value.retry_after_s == 600
    assert waits.seconds == []


@respx.mock
async def test_503_backs_off_exponentially_and_gives_up(
    client: RingCentralClient, waits: Waits
) -> None:
    route = respx.get(SUBSCRIPTION_URL).respond(503, json={"errorCode": "CMN-201"})
    with pytest.raises(ApiError) as caught:
        await client.get_subscription(auth=_bearer(), rate_key="ext", subscription_id="sub-1")
    assert caught.value.status == 503
    assert route.call_count == 4
    assert waits.seconds == [2.0, 4.0, 8.0]


@pytest.mark.parametrize("status", [400, 403, 409, 422])
@respx.mock
async def test_other_4xx_are_never_retried(client: RingCentralClient, status: int) -> None:
    route = respx.post(f"{SERVER}/restapi/v1.0/subscription").respond(
        status,
        json={"errors": [{"errorCode": "SUB-505", "message": "Subscriptions limit exceeded"}]},
    )
    with pytest.raises(ApiError) as caught:
        await client.create_subscription(
            auth=_bearer(),
            rate_key="ext",
            event_filters=["/restapi/v1.0/account/~/extension/~/telephony/sessions"],
            address="https://hooks.example.test/webhooks/ringcentral",
            verification_token="t",
            expires_in=604800,
        )
    assert caught.value.code == "SUB-505"
    assert route.call_count == 1


@respx.mock
async def test_404_is_not_found(client: RingCentralClient) -> None:
    respx.get(SUBSCRIPTION_URL).respond(
        404, json={"errorCode": "SUB-507", "message": "Subscription was expired"}
    )
    with pytest.raises(NotFound):
        await client.get_subscription(auth=_bearer(), rate_key="ext", subscription_id="sub-1")


@respx.mock
async def test_connection_errors_are_retried_then_reported(
    client: RingCentralClient, waits: Waits
) -> None:
    route = respx.get(SUBSCRIPTION_URL)
    route.side_effect = [httpx.ConnectError("refused"), httpx.Response(200, json=SUBSCRIPTION_BODY)]
    assert (
        await client.get_subscription(auth=_bearer(), rate_key="ext", subscription_id="sub-1")
    ).status == "Active"
    assert waits.seconds == [2.0]

    route.side_effect = httpx.ConnectError("refused")
    with pytest.raises(TransportError):
        await client.get_subscription(auth=_bearer(), rate_key="ext", subscription_id="sub-1")


@respx.mock
async def test_a_read_timeout_on_create_is_not_repeated(client: RingCentralClient) -> None:
    route = respx.post(f"{SERVER}/restapi/v1.0/subscription")
    route.side_effect = httpx.ReadTimeout("slow")
    with pytest.raises(TransportError):
        await client.create_subscription(
            auth=_bearer(),
            rate_key="ext",
            event_filters=["/restapi/v1.0/account/~/extension/~/telephony/sessions"],
            address="https://hooks.example.test/webhooks/ringcentral",
            verification_token="t",
            expires_in=604800,
        )
    assert route.call_count == 1


@respx.mock
async def test_a_read_timeout_on_refresh_is_repeated(client: RingCentralClient) -> None:
    route = respx.post(TOKEN_URL)
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json=TOKEN_BODY)]
    assert (await client.refresh_tokens("r", rate_key="ext")).access_token == "access-1"
    assert route.call_count == 2


async def test_rate_limiter_paces_a_group_to_its_limit(waits: Waits) -> None:
    now = [0.0]
    limiter = RateLimiter(dict.fromkeys(RateGroup, 2), clock=lambda: now[0], sleep=waits)
    await limiter.acquire("ext", RateGroup.AUTH)
    await limiter.acquire("ext", RateGroup.AUTH)
    await limiter.acquire("other", RateGroup.AUTH)
    assert waits.seconds == []

    async def advance(seconds: float) -> None:
        waits.seconds.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(dict.fromkeys(RateGroup, 2), clock=lambda: now[0], sleep=advance)
    now[0] = 10.0
    await limiter.acquire("ext", RateGroup.AUTH)
    now[0] = 20.0
    await limiter.acquire("ext", RateGroup.AUTH)
    now[0] = 30.0
    await limiter.acquire("ext", RateGroup.AUTH)
    assert waits.seconds == [40.0]


def _bearer() -> httpx.Auth:
    return httpx.BasicAuth("unused", "unused")
