"""`POST /restapi/oauth/token` and `POST /restapi/oauth/revoke` (Auth rate group)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from emulator.api.common import RATE_HEADERS, base_of, emulator_of, respond
from emulator.config import RateGroup
from emulator.errors import oauth_error
from emulator.oauth import REFRESH_GRANT, TokenRequest, ensure_form, jwt_subject

router = APIRouter(tags=["oauth"])


async def _form(request: Request) -> dict[str, str]:
    ensure_form(request.headers.get("content-type"))
    return dict(
        parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    )


def _rate_limit(request: Request, client_id: str, user: str | None) -> None:
    emulator = emulator_of(request)
    headers = emulator.rate_limiter.hit(
        user or "anonymous", client_id, RateGroup.AUTH, emulator.now()
    )
    setattr(request.state, RATE_HEADERS, headers)


@router.post("/restapi/oauth/token")
async def get_token(request: Request) -> Response:
    emulator = emulator_of(request)
    base_of(request)
    form = await _form(request)
    app = emulator.oauth.authenticate_client(request.headers.get("authorization"), form)
    if form.get("grant_type") == REFRESH_GRANT:
        user = emulator.oauth.owner_of(form.get("refresh_token", ""))
    else:
        user = jwt_subject(form.get("assertion", ""))
    _rate_limit(request, app.client_id, user)
    grant_type = form.get("grant_type")
    if not grant_type:
        raise oauth_error("invalid_request", "OAU-250", "Unsupported grant type")
    info = emulator.oauth.grant(app, TokenRequest(grant_type, form), emulator.now())
    return respond(request, info)


@router.post("/restapi/oauth/revoke")
async def revoke_token(request: Request) -> Response:
    """Revoking any token of a session ends the whole session; 200 with an empty body. Unknown
    tokens are also answered 200 (RFC 7009)."""
    emulator = emulator_of(request)
    form = await _form(request)
    app = emulator.oauth.authenticate_client(request.headers.get("authorization"), form)
    token = form.get("token") or request.query_params.get("token")
    _rate_limit(request, app.client_id, emulator.oauth.owner_of(token or ""))
    if not token:
        raise oauth_error(
            "invalid_request",
            "CMN-101",
            "Parameter [token] value is invalid",
            parameter_name="token",
        )
    emulator.oauth.revoke(token)
    return respond(request, None)
