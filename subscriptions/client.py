"""A typed async RingCentral REST client on one shared `httpx.AsyncClient`.

One method per endpoint callsift uses. Retries only where they are safe: 429 and 503 honouring
`Retry-After` (the request was not processed), and connection errors with exponential backoff (the
request never arrived). A read timeout is retried only for idempotent calls, and for the refresh
grant, whose repetition RingCentral answers with the same token pair during its grace window.
Other 4xx answers are never retried. Every call has a timeout. A 429 also holds back every other
request of the same user and rate group until its `Retry-After` has passed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson
import structlog
from pydantic import ValidationError

from subscriptions.errors import ApiError, TransportError, UntrustedPageUri, api_error
from subscriptions.ratelimit import RateGroup, RateLimiter, RateSlot
from subscriptions.schemas import (
    CallLogPage,
    ErrorBody,
    ExtensionList,
    ExtensionRecord,
    Paging,
    SubscriptionInfo,
    SubscriptionList,
    TokenInfo,
)

log = structlog.get_logger(__name__)

Model = TypeVar("Model", TokenInfo, SubscriptionInfo, SubscriptionList, ExtensionList)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
RETRYABLE_STATUS = frozenset({429, 503})
NO_RETRY_AFTER_WAIT_S = 30.0  # RingCentral: without Retry-After, wait at least 30 s
EXTENSION_CALL_LOG = "/restapi/v1.0/account/~/extension/~/call-log"
ACCOUNT_CALL_LOG = "/restapi/v1.0/account/~/call-log"
# the paths RingCentral's paging links use: `~` or the real account and extension ids
_ID = r"[A-Za-z0-9~_-]+"
_EXTENSION_CALL_LOG_PATH = re.compile(rf"/restapi/v1\.0/account/{_ID}/extension/{_ID}/call-log")
_ACCOUNT_CALL_LOG_PATH = re.compile(rf"/restapi/v1\.0/account/{_ID}/call-log")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    backoff_base_s: float = 2.0
    max_wait_s: float = 120.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)


class RingCentralClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        server: str,
        client_id: str,
        client_secret: str,
        retry: RetryPolicy = RetryPolicy(),
        limiter: RateLimiter | None = None,
    ) -> None:
        self._http = http
        self._server = server.rstrip("/")
        self._client_id = client_id
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._retry = retry
        self._limiter = limiter or RateLimiter()

    @property
    def server(self) -> str:
        return self._server

    # OAuth -------------------------------------------------------------------------------

    async def exchange_jwt(self, jwt: str, *, rate_key: str) -> TokenInfo:
        """Log in with an extension's JWT credential (opens a new RingCentral session)."""
        form = {"grant_type": JWT_GRANT, "assertion": jwt}
        return await self._token_request(form, rate_key=rate_key, replay_safe=False)

    async def refresh_tokens(self, refresh_token: str, *, rate_key: str) -> TokenInfo:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token_request(form, rate_key=rate_key, replay_safe=True)

    async def revoke(self, token: str, *, rate_key: str) -> None:
        """End the session the token belongs to. RingCentral advises ignoring revoke errors."""
        try:
            await self._send(
                "POST",
                "/restapi/oauth/revoke",
                group=RateGroup.AUTH,
                rate_key=rate_key,
                data={"token": token},
                headers=self._client_headers(),
                replay_safe=True,
            )
        except ApiError as exc:
            log.info("ringcentral.revoke_failed", status=exc.status, code=exc.code)

    async def _token_request(
        self, form: Mapping[str, str], *, rate_key: str, replay_safe: bool
    ) -> TokenInfo:
        response = await self._send(
            "POST",
            "/restapi/oauth/token",
            group=RateGroup.AUTH,
            rate_key=rate_key,
            data=dict(form),
            headers=self._client_headers(),
            replay_safe=replay_safe,
        )
        return _parse(TokenInfo, response)

    def _client_headers(self) -> dict[str, str]:
        return {"Authorization": f"Basic {self._basic}"}

    # Subscriptions -----------------------------------------------------------------------

    async def create_subscription(
        self,
        *,
        auth: httpx.Auth,
        rate_key: str,
        event_filters: list[str],
        address: str,
        verification_token: str,
        expires_in: int,
    ) -> SubscriptionInfo:
        body = {
            "eventFilters": event_filters,
            "deliveryMode": {
                "transportType": "WebHook",
                "address": address,
                "verificationToken": verification_token,
            },
            "expiresIn": expires_in,
        }
        response = await self._send(
            "POST",
            "/restapi/v1.0/subscription",
            group=RateGroup.MEDIUM,
            rate_key=rate_key,
            auth=auth,
            json=body,
            replay_safe=False,
        )
        return _parse(SubscriptionInfo, response)

    async def get_subscription(
        self, *, auth: httpx.Auth, rate_key: str, subscription_id: str
    ) -> SubscriptionInfo:
        response = await self._send(
            "GET",
            f"/restapi/v1.0/subscription/{subscription_id}",
            group=RateGroup.LIGHT,
            rate_key=rate_key,
            auth=auth,
            replay_safe=True,
        )
        return _parse(SubscriptionInfo, response)

    async def renew_subscription(
        self, *, auth: httpx.Auth, rate_key: str, subscription_id: str
    ) -> SubscriptionInfo:
        response = await self._send(
            "POST",
            f"/restapi/v1.0/subscription/{subscription_id}/renew",
            group=RateGroup.LIGHT,
            rate_key=rate_key,
            auth=auth,
            replay_safe=True,
        )
        return _parse(SubscriptionInfo, response)

    async def delete_subscription(
        self, *, auth: httpx.Auth, rate_key: str, subscription_id: str
    ) -> None:
        await self._send(
            "DELETE",
            f"/restapi/v1.0/subscription/{subscription_id}",
            group=RateGroup.MEDIUM,
            rate_key=rate_key,
            auth=auth,
            replay_safe=True,
        )

    async def list_subscriptions(
        self, *, auth: httpx.Auth, rate_key: str
    ) -> list[SubscriptionInfo]:
        response = await self._send(
            "GET",
            "/restapi/v1.0/subscription",
            group=RateGroup.LIGHT,
            rate_key=rate_key,
            auth=auth,
            replay_safe=True,
        )
        return _parse(SubscriptionList, response).records

    # Directory ---------------------------------------------------------------------------

    async def list_extensions(self, *, auth: httpx.Auth, rate_key: str) -> list[ExtensionRecord]:
        """Every extension of the account (all pages)."""
        records: list[ExtensionRecord] = []
        page = 1
        while True:
            response = await self._send(
                "GET",
                "/restapi/v1.0/account/~/extension",
                group=RateGroup.LIGHT,
                rate_key=rate_key,
                auth=auth,
                params={"page": page, "perPage": 1000},
                replay_safe=True,
            )
            listing = _parse(ExtensionList, response)
            records.extend(listing.records)
            total_pages = listing.paging.total_pages if listing.paging else None
            if not listing.records or total_pages is None or page >= total_pages:
                return records
            page += 1

    # Call log ----------------------------------------------------------------------------

    async def read_call_log(
        self,
        *,
        auth: httpx.Auth,
        rate_key: str,
        account_level: bool,
        params: Mapping[str, str] | None = None,
        page_uri: str | None = None,
    ) -> CallLogPage:
        """One page of the extension's (or, `account_level`, the account's) call log: the first
        page of a query given by `params`, or the page a previous page's `next_page_uri` names.

        A `page_uri` is followed only if it is this server's call-log path of the same level;
        anything else raises `UntrustedPageUri` without a request.
        """
        if page_uri is not None and params is not None:
            msg = "read_call_log takes params or page_uri, not both"
            raise ValueError(msg)
        if page_uri is not None:
            path = self._call_log_page_path(page_uri, account_level=account_level)
            query: dict[str, str] | None = None
        else:
            path = ACCOUNT_CALL_LOG if account_level else EXTENSION_CALL_LOG
            query = dict(params or {})
        response = await self._send(
            "GET",
            path,
            group=RateGroup.HEAVY,
            rate_key=rate_key,
            auth=auth,
            params=query,
            replay_safe=True,
        )
        return _parse_call_log_page(response)

    def _call_log_page_path(self, page_uri: str, *, account_level: bool) -> str:
        """The request path (with query) of a paging link, relative to the server, after
        checking that it stays on this server's call log."""
        server = httpx.URL(self._server)
        try:
            target = httpx.URL(page_uri)
        except httpx.InvalidURL as exc:
            msg = "RingCentral returned a call-log page URI that is not a URL"
            raise UntrustedPageUri(msg) from exc
        prefix = server.path.rstrip("/")
        pattern = _ACCOUNT_CALL_LOG_PATH if account_level else _EXTENSION_CALL_LOG_PATH
        same_origin = (target.scheme, target.host, target.port) == (
            server.scheme,
            server.host,
            server.port,
        )
        on_call_log = target.path.startswith(prefix) and pattern.fullmatch(
            target.path[len(prefix) :]
        )
        if not same_origin or not on_call_log or target.userinfo or target.fragment:
            level = "account" if account_level else "extension"
            msg = (
                f"refusing to follow a call-log page URI outside {self._server}'s {level} "
                f"call log: {target.scheme}://{target.host}:{target.port}{target.path}"
            )
            raise UntrustedPageUri(msg)
        return target.raw_path.decode("ascii")[len(prefix) :]

    # Transport ---------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        group: RateGroup,
        rate_key: str,
        replay_safe: bool,
        auth: httpx.Auth | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        url = f"{self._server}{path}"
        penalty_served: float | None = None
        for attempt in range(1, self._retry.attempts + 1):
            slot = await self._limiter.acquire(rate_key, group, penalty_served=penalty_served)
            last_attempt = attempt == self._retry.attempts
            try:
                response = await self._request(slot, method, url, auth, kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if last_attempt:
                    raise TransportError(f"{method} {path}: {type(exc).__name__}") from exc
                await self._retry.sleep(self._backoff(attempt))
                continue
            except httpx.TransportError as exc:
                if last_attempt or not replay_safe:
                    raise TransportError(f"{method} {path}: {type(exc).__name__}") from exc
                await self._retry.sleep(self._backoff(attempt))
                continue
            if response.status_code < 400:
                return response
            error = _error(response)
            wait = (
                error.retry_after_s if error.retry_after_s is not None else self._backoff(attempt)
            )
            if response.status_code == 429:
                if error.retry_after_s is None:
                    wait = NO_RETRY_AFTER_WAIT_S
                # held for everyone, also when this caller gives up: a request sent during the
                # penalty would restart it
                penalty_served = self._limiter.penalize(rate_key, group, wait)
            if response.status_code not in RETRYABLE_STATUS or last_attempt:
                raise error
            if wait > self._retry.max_wait_s:
                raise error
            log.info("ringcentral.retry", path=path, status=response.status_code, wait_s=wait)
            await self._retry.sleep(wait)
        msg = "unreachable: the retry loop always returns or raises"
        raise AssertionError(msg)

    async def _request(
        self,
        slot: RateSlot,
        method: str,
        url: str,
        auth: httpx.Auth | None,
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method, url, auth=auth or httpx.USE_CLIENT_DEFAULT, **kwargs
            )
        finally:
            self._limiter.answered(slot)

    def _backoff(self, attempt: int) -> float:
        return float(min(self._retry.backoff_base_s * 2 ** (attempt - 1), self._retry.max_wait_s))


def _error(response: httpx.Response) -> ApiError:
    try:
        body = ErrorBody.model_validate_json(response.content)
    except ValidationError:
        body = ErrorBody(message=response.text[:200] or response.reason_phrase)
    return api_error(response.status_code, body, _retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _parse(model: type[Model], response: httpx.Response) -> Model:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        msg = f"unexpected {model.__name__} from RingCentral: {exc.errors()[0]['msg']}"
        raise TransportError(msg) from exc


def _decoded(content: bytes) -> Any:
    """JSON through orjson (a page of a thousand records in a few milliseconds of the event
    loop, against tens with the standard library), which the standard library backs up for what
    orjson refuses and JSON allows (integers beyond 64 bits)."""
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return json.loads(content)


def _parse_call_log_page(response: httpx.Response) -> CallLogPage:
    """Check the page's shape; keep its well-formed records exactly as decoded."""
    try:
        body = _decoded(response.content)
    except ValueError as exc:
        msg = "unexpected call-log page from RingCentral: the body is not JSON"
        raise TransportError(msg) from exc
    raw_records = body.get("records") if isinstance(body, dict) else None
    if not isinstance(raw_records, list):
        msg = "unexpected call-log page from RingCentral: no `records` list"
        raise TransportError(msg)
    records = [
        record
        for record in raw_records
        if isinstance(record, dict) and isinstance(record.get("id"), str) and record["id"]
    ]
    malformed = len(raw_records) - len(records)
    if malformed:
        log.warning("ringcentral.call_log_malformed_records", dropped=malformed)
    return CallLogPage(
        records=records,
        next_page_uri=_next_page_uri(body.get("navigation")),
        paging=_paging(body.get("paging")),
        malformed=malformed,
    )


def _next_page_uri(navigation: Any) -> str | None:
    unreadable = "unexpected call-log page from RingCentral: unreadable `navigation.nextPage`"
    if navigation is None:
        return None
    if not isinstance(navigation, dict):
        raise TransportError(unreadable)
    next_page = navigation.get("nextPage")
    if next_page is None:
        return None
    uri = next_page.get("uri") if isinstance(next_page, dict) else None
    if not isinstance(uri, str) or not uri:
        # a next page we cannot follow must not pass for the last page
        raise TransportError(unreadable)
    return uri


def _paging(paging: Any) -> Paging | None:
    """Paging is informational: an unreadable one is left out rather than failing the page."""
    if not isinstance(paging, dict):
        return None
    try:
        return Paging.model_validate(paging)
    except ValidationError:
        return None
