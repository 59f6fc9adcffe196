"""OAuth tokens per extension: one JWT login, then a session kept alive with refresh tokens.

Logging in with the JWT on every expiry would open a new RingCentral session each hour and evict
older ones (RingCentral keeps about five sessions per user), so the JWT is exchanged once and the
rotating refresh token does the rest. Refreshing is serialised per extension across processes by
the store's row lock: the first process redeems the refresh token and saves the new pair in the
same transaction that replaces (spends) the old one; the others find the fresh pair when they get
the lock. If the refresh token is refused (`invalid_grant`), the JWT is exchanged again; if the
JWT itself is refused, the extension is marked `credential_invalid` and the others carry on.

A refresh is its own unit of work: the store commits it whatever else the caller is doing, because
a redeemed refresh token that is not saved is lost for good.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import httpx
import structlog

from subscriptions.client import RingCentralClient
from subscriptions.errors import ApiError, CredentialInvalid, InvalidGrant
from subscriptions.schemas import TokenInfo

log = structlog.get_logger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
CREDENTIAL_ERRORS = frozenset(
    {"invalid_grant", "unauthorized_client", "invalid_client", "access_denied"}
)
TOKEN_ERROR_CODES = frozenset({"OAU-128", "OAU-129", "OAU-213", "OAU-149", "TokenInvalid"})


@dataclass(frozen=True, slots=True)
class StoredTokens:
    access_token: str
    access_expires_at: datetime
    refresh_token: str | None
    refresh_expires_at: datetime | None
    issued_at: datetime | None = None

    def access_valid(self, now: datetime) -> bool:
        return self.access_expires_at - REFRESH_MARGIN > now

    def refresh_valid(self, now: datetime) -> bool:
        return (
            self.refresh_token is not None
            and self.refresh_expires_at is not None
            and self.refresh_expires_at > now
        )

    @classmethod
    def from_info(cls, info: TokenInfo, now: datetime) -> StoredTokens:
        refresh_expiry = (
            now + timedelta(seconds=info.refresh_token_expires_in)
            if info.refresh_token and info.refresh_token_expires_in
            else None
        )
        return cls(
            access_token=info.access_token,
            access_expires_at=now + timedelta(seconds=info.expires_in),
            refresh_token=info.refresh_token,
            refresh_expires_at=refresh_expiry,
            issued_at=now,
        )


class TokenSlot(Protocol):
    """An extension's tokens under its row lock, inside the store's transaction."""

    @property
    def tokens(self) -> StoredTokens | None: ...

    @property
    def credential(self) -> str: ...

    async def save(self, tokens: StoredTokens) -> None: ...

    async def mark_credential_invalid(self, reason: str) -> None: ...


class TokenStore(Protocol):
    async def read_tokens(self, extension_id: str) -> StoredTokens | None:
        """The current tokens, without locking."""
        ...

    def lock_tokens(self, extension_id: str) -> AbstractAsyncContextManager[TokenSlot]:
        """Lock the extension's token row until the block exits, then commit."""
        ...


class TokenManager:
    """Hands out valid access tokens, refreshing them when they are about to expire."""

    def __init__(
        self,
        client: RingCentralClient,
        store: TokenStore,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._store = store
        self._clock = clock
        self._cache: dict[str, StoredTokens] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def access_token(self, extension_id: str, *, rejected: str | None = None) -> str:
        """A valid access token; `rejected` is one RingCentral just refused (forces a refresh)."""
        now = self._clock()
        cached = self._cache.get(extension_id)
        if cached and cached.access_valid(now) and cached.access_token != rejected:
            return cached.access_token
        async with self._locks.setdefault(extension_id, asyncio.Lock()):
            stored = await self._store.read_tokens(extension_id)
            if stored and stored.access_valid(self._clock()) and stored.access_token != rejected:
                self._cache[extension_id] = stored
                return stored.access_token
            tokens = await self._renew(extension_id, rejected)
            self._cache[extension_id] = tokens
            return tokens.access_token

    async def login(self, extension_id: str) -> StoredTokens:
        """Exchange the JWT now (used when an extension is added) and store the tokens."""
        async with self._store.lock_tokens(extension_id) as slot:
            outcome = await self._exchange_jwt(extension_id, slot)
        if isinstance(outcome, CredentialInvalid):
            raise outcome
        self._cache[extension_id] = outcome
        return outcome

    def forget(self, extension_id: str) -> None:
        self._cache.pop(extension_id, None)

    def auth(self, extension_id: str) -> httpx.Auth:
        return BearerAuth(self, extension_id)

    async def _renew(self, extension_id: str, rejected: str | None) -> StoredTokens:
        async with self._store.lock_tokens(extension_id) as slot:
            outcome = await self._renew_locked(extension_id, slot, rejected)
        # raised only now, so the store committed the extension's `credential_invalid` mark
        if isinstance(outcome, CredentialInvalid):
            raise outcome
        return outcome

    async def _renew_locked(
        self, extension_id: str, slot: TokenSlot, rejected: str | None
    ) -> StoredTokens | CredentialInvalid:
        now = self._clock()
        current = slot.tokens
        if current and current.access_valid(now) and current.access_token != rejected:
            return current  # another process refreshed while we waited for the lock
        if current and current.refresh_valid(now) and current.refresh_token:
            try:
                info = await self._client.refresh_tokens(
                    current.refresh_token, rate_key=extension_id
                )
            except InvalidGrant as exc:
                log.info("tokens.refresh_refused", extension_id=extension_id, code=exc.code)
            else:
                tokens = StoredTokens.from_info(info, self._clock())
                await slot.save(tokens)
                log.info("tokens.refreshed", extension_id=extension_id)
                return tokens
        return await self._exchange_jwt(extension_id, slot)

    async def _exchange_jwt(
        self, extension_id: str, slot: TokenSlot
    ) -> StoredTokens | CredentialInvalid:
        try:
            info = await self._client.exchange_jwt(slot.credential, rate_key=extension_id)
        except ApiError as exc:
            if exc.status in (400, 401, 403) and exc.oauth_error in CREDENTIAL_ERRORS:
                reason = f"{exc.code or exc.oauth_error}: {exc.body.text}"
                await slot.mark_credential_invalid(reason)
                log.warning("tokens.credential_invalid", extension_id=extension_id, reason=reason)
                return CredentialInvalid(extension_id, reason)
            raise
        tokens = StoredTokens.from_info(info, self._clock())
        await slot.save(tokens)
        log.info("tokens.jwt_exchanged", extension_id=extension_id)
        return tokens


def jwt_subject(jwt: str) -> str | None:
    """The `sub` claim (the extension id) of a JWT credential, read without verifying it: only
    to pace requests per user before RingCentral has told us whose credential it is."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    subject = claims.get("sub") if isinstance(claims, dict) else None
    return str(subject) if subject is not None else None


class BearerAuth(httpx.Auth):
    """Adds the extension's access token; on a 401 for an expired or invalid token, refreshes
    once and repeats the request."""

    requires_response_body = True

    def __init__(self, manager: TokenManager, extension_id: str) -> None:
        self._manager = manager
        self._extension_id = extension_id

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._manager.access_token(self._extension_id)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401 and _is_token_error(response):
            token = await self._manager.access_token(self._extension_id, rejected=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


def _is_token_error(response: httpx.Response) -> bool:
    text = response.text
    return any(code in text for code in TOKEN_ERROR_CODES)
