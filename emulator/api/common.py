"""Shared route plumbing: the emulator of a request, bearer authentication with rate limiting,
`~` resolution, JSON bodies and responses carrying the rate-limit headers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from emulator.config import RateGroup
from emulator.directory import Account, Extension
from emulator.errors import RCError, api_error, invalid_parameter, permission_denied
from emulator.oauth import AuthContext
from emulator.state import Emulator

RATE_HEADERS = "rate_limit_headers"


def emulator_of(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


def base_of(request: Request) -> str:
    """The base URL this request reached (used in every `uri` of the response)."""
    base = str(request.base_url).rstrip("/")
    emulator_of(request).observe_base(base)
    return base


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.query_params.get("access_token")


def authorize(request: Request, group: RateGroup, permission: str | None = None) -> AuthContext:
    """Authenticate the bearer token, count the request in its rate group, check permission."""
    emulator = emulator_of(request)
    base_of(request)
    now = emulator.now()
    context = emulator.oauth.authenticate(bearer_token(request), now)
    headers = emulator.rate_limiter.hit(context.extension.id, context.app.client_id, group, now)
    setattr(request.state, RATE_HEADERS, headers)
    if permission is not None and permission not in context.app.scope:
        raise permission_denied(permission)
    return context


def respond(request: Request, body: Any, status: int = 200) -> Response:
    headers: dict[str, str] = getattr(request.state, RATE_HEADERS, {})
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def account_of(request: Request, context: AuthContext, value: str) -> Account:
    """`~` or the token's own account id; any other account is not found."""
    if value not in ("~", context.extension.account_id):
        raise api_error(
            404, "CMN-102", "Resource for parameter [accountId] is not found",
            parameter_name="accountId",
        )  # fmt: skip
    return emulator_of(request).directory.account(context.extension.account_id)


def extension_of(account: Account, context: AuthContext, value: str) -> Extension:
    """`~` is the token's extension; other extensions of the same account are allowed (as for
    an admin user)."""
    if value == "~":
        return context.extension
    found = account.extensions.get(value)
    if found is None:
        raise api_error(
            404, "CMN-102", "Resource for parameter [extensionId] is not found",
            parameter_name="extensionId",
        )  # fmt: skip
    return found


async def json_body(request: Request, *, allow_empty: bool = False) -> Any:
    raw = await request.body()
    if not raw.strip():
        if allow_empty:
            return None
        raise invalid_parameter("body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise api_error(400, "CMN-101", "Request body is not valid JSON") from None


def query_lists(request: Request) -> dict[str, list[str]]:
    lists: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        lists.setdefault(key, []).append(value)
    return lists


async def rc_error_handler(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RCError):  # registered only for RCError
        raise exc
    headers = {**getattr(request.state, RATE_HEADERS, {}), **exc.headers}
    if exc.body is None:
        return Response(status_code=exc.status, headers=headers)
    return JSONResponse(exc.body, status_code=exc.status, headers=headers)
