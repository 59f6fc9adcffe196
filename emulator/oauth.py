"""OAuth sessions and tokens: the JWT bearer and refresh grants, rotation with grace, revocation.

Behaviour follows DOC:authentication/* and Tyler Liu's token-refresh experiment (docs/emulator.md,
Sources):
- each JWT exchange opens a session; at most `sessions_per_user` per (extension, app), the
  oldest evicted;
- a refresh rotates both tokens; the old access token answers OAU-129 for ~10 s, then OAU-213;
- the old refresh token keeps returning the SAME new pair for ~10 s after the new access token is
  first used, or up to 60 min while it is never used;
- revoking any token of a session ends the whole session.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from emulator.clock import iso
from emulator.config import EmulatorConfig
from emulator.directory import App, Directory, Extension
from emulator.errors import RCError, oauth_error, token_invalid
from emulator.ids import Ids

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REFRESH_GRANT = "refresh_token"


@dataclass(slots=True)
class AccessToken:
    token: str
    expires_at: datetime
    first_used_at: datetime | None = None
    replaced_at: datetime | None = None  # set when a refresh rotated it out


@dataclass(frozen=True, slots=True)
class Rotation:
    """What a refresh did to the refresh token it consumed: when, and the pair it issued."""

    at: datetime
    access: AccessToken
    refresh: RefreshToken


@dataclass(slots=True)
class RefreshToken:
    token: str
    expires_at: datetime
    rotation: Rotation | None = None


@dataclass(slots=True)
class OAuthSession:
    session_id: str
    extension_id: str
    account_id: str
    client_id: str
    endpoint_id: str
    scope: tuple[str, ...]
    created_at: datetime
    access: AccessToken
    refresh: RefreshToken | None
    ended: str | None = None  # "revoked" or "evicted"
    all_access: list[AccessToken] = field(default_factory=list)
    all_refresh: list[RefreshToken] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who is calling a REST endpoint: the session behind a valid access token."""

    session: OAuthSession
    extension: Extension
    app: App


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """The parsed form of `POST /restapi/oauth/token`."""

    grant_type: str
    fields: dict[str, str]


def parse_basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


def jwt_subject(assertion: str) -> str | None:
    """The `sub` claim of a JWT, without verifying it (used only to key rate limits)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


class OAuthService:
    """Issues, rotates, validates and revokes tokens."""

    def __init__(self, config: EmulatorConfig, ids: Ids, directory: Directory) -> None:
        self._config = config
        self._ids = ids
        self._directory = directory
        self.sessions: dict[str, OAuthSession] = {}
        self._access: dict[str, tuple[AccessToken, OAuthSession]] = {}
        self._refresh: dict[str, tuple[RefreshToken, OAuthSession]] = {}

    # client authentication -------------------------------------------------------------------

    def authenticate_client(self, authorization: str | None, form: dict[str, str]) -> App:
        """Confidential apps authenticate with HTTP Basic (`client_secret_basic`)."""
        credentials = parse_basic_auth(authorization) or (form.get("client_id", ""), None)
        client_id, secret = credentials
        app = self._directory.apps.get(client_id)
        if app is None or app.client_secret != secret:
            raise oauth_error(
                "invalid_client", "OAU-153", "Invalid client", status=401,
                parameter_name="client_id",
            )  # fmt: skip
        return app

    # grants ----------------------------------------------------------------------------------

    def grant(self, app: App, request: TokenRequest, now: datetime) -> dict[str, Any]:
        if request.grant_type == JWT_GRANT:
            return self._jwt_grant(app, request.fields, now)
        if request.grant_type == REFRESH_GRANT:
            return self._refresh_grant(app, request.fields, now)
        raise oauth_error("invalid_request", "OAU-250", "Unsupported grant type")

    def _jwt_grant(self, app: App, form: dict[str, str], now: datetime) -> dict[str, Any]:
        if not app.jwt_enabled:
            raise oauth_error("unauthorized_client", "OAU-251", "Unauthorized for this grant type")
        assertion = form.get("assertion")
        if not assertion:
            raise _missing("assertion")
        credential = self._directory.jwts.get(assertion)
        if credential is None or credential.client_id not in (None, app.client_id):
            raise oauth_error("invalid_grant", "OAU-213", "Token not found")
        if credential.revoked_at is not None:
            raise oauth_error("invalid_grant", "OAU-211", "Token revoked")
        if credential.expires_at is not None and credential.expires_at <= now:
            raise oauth_error("invalid_grant", "OAU-210", "Token expired")
        extension = self._directory.extension(credential.extension_id)
        access_ttl, refresh_ttl = self._ttls(form)
        session = OAuthSession(
            session_id=self._ids.digits(19),
            extension_id=extension.id,
            account_id=extension.account_id,
            client_id=app.client_id,
            endpoint_id=form.get("endpoint_id") or self._ids.endpoint_id(),
            scope=self._scope(app, form.get("scope")),
            created_at=now,
            access=self._new_access(now, access_ttl),
            refresh=self._new_refresh(now, refresh_ttl) if app.issue_refresh_tokens else None,
        )
        self._register(session, session.access, session.refresh)
        self.sessions[session.session_id] = session
        self._evict_beyond_limit(extension.id, app.client_id)
        return self.token_info(session, session.access, session.refresh, now)

    def _refresh_grant(self, app: App, form: dict[str, str], now: datetime) -> dict[str, Any]:
        presented = form.get("refresh_token")
        if not presented:
            raise _missing("refresh_token")
        found = self._refresh.get(presented)
        if found is None or found[1].client_id != app.client_id:
            raise oauth_error("invalid_grant", "OAU-213", "Token not found")
        refresh, session = found
        if session.ended == "revoked":
            raise oauth_error("invalid_grant", "OAU-211", "Token revoked")
        if session.ended is not None:
            raise oauth_error("invalid_grant", "OAU-213", "Token not found")
        if refresh.rotation is not None:
            return self._replay_within_grace(session, refresh.rotation, now)
        if refresh.expires_at <= now:
            raise oauth_error("invalid_grant", "OAU-210", "Token expired")
        access_ttl, refresh_ttl = self._ttls(form)
        new_access = self._new_access(now, access_ttl)
        new_refresh = self._new_refresh(now, refresh_ttl)
        session.access.replaced_at = now
        refresh.rotation = Rotation(now, new_access, new_refresh)
        session.access, session.refresh = new_access, new_refresh
        self._register(session, new_access, new_refresh)
        return self.token_info(session, new_access, new_refresh, now)

    def _replay_within_grace(
        self, session: OAuthSession, rotation: Rotation, now: datetime
    ) -> dict[str, Any]:
        """An already-rotated refresh token returns the same new pair while the grace lasts."""
        access, refresh = rotation.access, rotation.refresh
        if refresh.rotation is not None:
            raise oauth_error("invalid_grant", "OAU-213", "Token not found")
        if access.first_used_at is not None:
            deadline = access.first_used_at + timedelta(
                seconds=self._config.rotation_grace_after_use_s
            )
        else:
            deadline = rotation.at + timedelta(seconds=self._config.rotation_grace_unused_s)
        if now >= deadline:
            raise oauth_error("invalid_grant", "OAU-213", "Token not found")
        return self.token_info(session, access, refresh, now)

    # bearer validation -----------------------------------------------------------------------

    def authenticate(self, token: str | None, now: datetime) -> AuthContext:
        if not token:
            raise token_invalid("OAU-123", "Authorization header is not specified")
        found = self._access.get(token)
        if found is None:
            raise token_invalid("OAU-213", "Token not found")
        access, session = found
        if access.replaced_at is not None:
            window = timedelta(seconds=self._config.old_access_corrupted_s)
            if now < access.replaced_at + window:
                raise token_invalid("OAU-129", "Access token corrupted")
            raise token_invalid("OAU-213", "Token not found")
        if session.ended is not None:
            raise token_invalid("OAU-213", "Token not found")
        if access.expires_at <= now:
            raise token_invalid("OAU-213", "Access token expired")
        if access.first_used_at is None:
            access.first_used_at = now
        extension = self._directory.extension(session.extension_id)
        return AuthContext(session, extension, self._directory.apps[session.client_id])

    # revocation ------------------------------------------------------------------------------

    def revoke(self, token: str) -> bool:
        """End the session owning `token` (access or refresh); unknown tokens are ignored."""
        found = self._access.get(token) or self._refresh.get(token)
        if found is None:
            return False
        found[1].ended = "revoked"
        return True

    def revoke_session(self, session_id: str) -> bool:
        session = self.sessions.get(session_id)
        if session is None:
            return False
        session.ended = "revoked"
        return True

    def owner_of(self, token: str) -> str | None:
        """Extension id behind a token (any state), for rate-limit keys."""
        found = self._access.get(token) or self._refresh.get(token)
        return found[1].extension_id if found else None

    # helpers ---------------------------------------------------------------------------------

    def token_info(
        self,
        session: OAuthSession,
        access: AccessToken,
        refresh: RefreshToken | None,
        now: datetime,
    ) -> dict[str, Any]:
        """The `TokenInfo` body; lifetimes are seconds remaining, rounded down."""
        info: dict[str, Any] = {
            "access_token": access.token,
            "token_type": "bearer",
            "expires_in": max(0, int((access.expires_at - now).total_seconds())),
        }
        if refresh is not None:
            info["refresh_token"] = refresh.token
            info["refresh_token_expires_in"] = max(
                0, int((refresh.expires_at - now).total_seconds())
            )
        info.update(
            scope=" ".join(session.scope),
            owner_id=session.extension_id,
            endpoint_id=session.endpoint_id,
            session_id=session.session_id,
        )
        return info

    def describe(self) -> list[dict[str, Any]]:
        """Sessions for the admin API, without any token."""
        return [
            {
                "sessionId": s.session_id,
                "extensionId": s.extension_id,
                "clientId": s.client_id,
                "createdAt": iso(s.created_at),
                "accessExpiresAt": iso(s.access.expires_at),
                "refreshExpiresAt": iso(s.refresh.expires_at) if s.refresh else None,
                "ended": s.ended,
            }
            for s in self.sessions.values()
        ]

    def _ttls(self, form: dict[str, str]) -> tuple[int, int]:
        config = self._config
        access = _int_field(form, "access_token_ttl", config.access_token_ttl_s)
        refresh = _int_field(form, "refresh_token_ttl", config.refresh_token_ttl_s)
        if access > config.access_token_ttl_s:
            access = config.access_token_ttl_s
        access = max(access, config.access_token_ttl_min_s)
        if refresh > config.refresh_token_ttl_max_s or refresh <= 0:
            refresh = config.refresh_token_ttl_s
        return access, refresh

    def _scope(self, app: App, requested: str | None) -> tuple[str, ...]:
        if not requested:
            return app.scope
        wanted = set(requested.split())
        return tuple(s for s in app.scope if s in wanted) or app.scope

    def _new_access(self, now: datetime, ttl: int) -> AccessToken:
        return AccessToken(self._ids.token(), now + timedelta(seconds=ttl))

    def _new_refresh(self, now: datetime, ttl: int) -> RefreshToken:
        return RefreshToken(self._ids.token(), now + timedelta(seconds=ttl))

    def _register(
        self, session: OAuthSession, access: AccessToken, refresh: RefreshToken | None
    ) -> None:
        self._access[access.token] = (access, session)
        session.all_access.append(access)
        if refresh is not None:
            self._refresh[refresh.token] = (refresh, session)
            session.all_refresh.append(refresh)

    def _evict_beyond_limit(self, extension_id: str, client_id: str) -> None:
        live = [
            s
            for s in self.sessions.values()
            if s.extension_id == extension_id and s.client_id == client_id and s.ended is None
        ]
        for session in live[: max(0, len(live) - self._config.sessions_per_user)]:
            session.ended = "evicted"


def _int_field(form: dict[str, str], name: str, default: int) -> int:
    raw = form.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise oauth_error(
            "invalid_request",
            "CMN-101",
            f"Parameter [{name}] value is invalid",
            parameter_name=name,
        ) from None


def _missing(name: str) -> RCError:
    return oauth_error(
        "invalid_request", "CMN-101", f"Parameter [{name}] value is invalid", parameter_name=name
    )


def ensure_form(content_type: str | None) -> None:
    """The token endpoints accept only `application/x-www-form-urlencoded` (else 415)."""
    if not content_type or not content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise RCError(
            415,
            {
                "error": "invalid_request",
                "errors": [{"errorCode": "CMN-415", "message": "Unsupported Media Type"}],
                "error_description": "Unsupported Media Type",
            },
        )
