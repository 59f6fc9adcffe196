"""Request-boundary dependencies of the API: the database connection and the API-key check.

Each request gets one connection, opened here and closed (rolled back: the API only reads) when
the response has been sent, streaming responses included; each of its statements may run
`api_statement_timeout_s`. Helpers receive it as an argument.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.exceptions import HTTPException

from service.api.running_service import services_of
from service.api.schemas import ErrorBody
from service.apikeys import queries
from service.apikeys.keys import digest_of, looks_like_key
from service.apikeys.verifier import use_is_due
from service.db.deadline import statement_time_limit
from service.db.sql import begin_snapshot

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `callsift api-keys create --name NAME`, sent as "
    "`Authorization: Bearer csk_...`.",
)

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, wrong or revoked API key."},
    422: {"model": ErrorBody, "description": "A parameter is invalid; `parameter` names it."},
}


async def read_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    services = services_of(request)
    async with (
        services.engine.connect() as connection,
        statement_time_limit(connection, services.settings.api_statement_timeout_s),
    ):
        yield connection


async def snapshot_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """A read connection whose statements all see one snapshot of the database (the stats
    reports read rollups, dirty marks and calls in several statements that must agree)."""
    services = services_of(request)
    async with services.engine.connect() as connection:
        await begin_snapshot(connection)
        async with statement_time_limit(connection, services.settings.api_statement_timeout_s):
            yield connection


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


async def require_api_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
) -> None:
    """Accept the request only with a known, unrevoked key. A key verified in the last
    `api_key_cache_s` seconds is accepted from memory (the poll path reads no key row)."""
    services = services_of(request)
    if credentials is None:
        services.metrics.api_auth_failures.labels(reason="missing").inc()
        raise _unauthorized("missing API key: send Authorization: Bearer <key>")
    secret = credentials.credentials
    verified = services.api.verified_keys
    if verified.vouches_for(secret):
        return
    digest = digest_of(secret)
    active = None
    if looks_like_key(secret):
        async with services.engine.connect() as connection:
            active = await queries.find_active(connection, digest)
    # The lookup is by digest, so its timing tells nothing about the key; compare anyway.
    if active is None or not hmac.compare_digest(active.digest, digest):
        services.metrics.api_auth_failures.labels(reason="invalid").inc()
        raise _unauthorized("invalid or revoked API key")
    verified.remember(digest)
    now = services.clock()
    if use_is_due(active.last_used_at, now):
        async with services.engine.begin() as connection:
            await queries.record_use(connection, active.id, now)
