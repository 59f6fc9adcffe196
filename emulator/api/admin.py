"""The admin API under `/_emulator/`: what the Developer Console and admin portal do on the real
platform, plus test control (clock, scenarios, faults, inspection). JSON in and out, camelCase.

Every route mirrors a method of `emulator.state.Emulator`; docs/emulator.md lists them all.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from emulator.api.common import base_of, emulator_of
from emulator.clock import iso
from emulator.config import ChaosConfig, RateGroup, RateLimit
from emulator.directory import Account, App, Extension, ExtensionSpec, UnknownEntityError
from emulator.player import Play
from emulator.scenarios import KINDS
from emulator.state import outage_json

router = APIRouter(prefix="/_emulator", tags=["admin"])


class AdminModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class AppIn(AdminModel):
    name: str = "callsift"
    client_id: str | None = None
    client_secret: str | None = None
    scope: list[str] | None = None
    jwt_enabled: bool = True
    issue_refresh_tokens: bool = True


class ExtensionIn(AdminModel):
    kind: str
    name: str
    extension_number: str | None = None
    phone_number: str | None = None
    members: list[str] = []

    def spec(self) -> ExtensionSpec:
        return ExtensionSpec(
            self.kind, self.name, self.extension_number, self.phone_number, tuple(self.members)
        )


class AccountIn(AdminModel):
    name: str = "Emulated Company"
    main_number: str | None = None
    demo: bool = False  # the demo topology: 5 users, a queue, an IVR
    extensions: list[ExtensionIn] = []


class JwtIn(AdminModel):
    extension_id: str
    client_id: str | None = None
    expires_in: int | None = Field(default=None, gt=0)


class RevokeJwtIn(AdminModel):
    jwt: str | None = None
    jti: str | None = None


class AdvanceIn(AdminModel):
    seconds: float = Field(ge=0)


class BlacklistIn(AdminModel):
    reason: str = "Webhook responses with code: [503], reason: [Service Unavailable]"


class ChaosIn(AdminModel):
    duplicate: float = Field(default=0.0, ge=0, le=1)
    reorder_window: int = Field(default=0, ge=0)
    delay_s: float = Field(default=0.0, ge=0)
    drop: float = Field(default=0.0, ge=0, le=1)
    lose_calls: float = Field(default=0.0, ge=0, le=1)
    lose_starts: float = Field(default=0.0, ge=0, le=1)


class OutageIn(AdminModel):
    starts_at: AwareDatetime | None = None  # default: now
    ends_at: AwareDatetime | None = None  # neither this nor durationS: until DELETE
    duration_s: float | None = Field(default=None, gt=0)


class PlayIn(AdminModel):
    kinds: list[str] | None = None  # None or ["mix"]: a weighted mix; ["all"]: every kind
    count: int = Field(default=1, ge=1, le=100_000)
    seed: int | None = None
    pacing: Literal["instant", "realtime"] = "instant"
    speed: float = Field(default=1.0, gt=0)
    spacing_s: float = Field(default=15.0, ge=0)
    chaos: ChaosIn | None = None
    account_id: str | None = None
    wait: bool | None = None  # default: wait for instant plays, not for realtime ones


class LimitIn(AdminModel):
    requests: int = Field(ge=1)
    window_s: float = Field(default=60.0, gt=0)
    penalty_s: float = Field(default=60.0, ge=0)


class RateLimitsIn(AdminModel):
    enabled: bool
    limits: dict[RateGroup, LimitIn] = {}


class ResetSyncIn(AdminModel):
    account_id: str
    code: Literal["CLG-101", "CLG-102", "CLG-103", "CLG-104", "CLG-105"] = "CLG-101"


def app_json(app: App) -> dict[str, Any]:
    return {
        "clientId": app.client_id,
        "clientSecret": app.client_secret,
        "name": app.name,
        "scope": list(app.scope),
        "jwtEnabled": app.jwt_enabled,
        "issueRefreshTokens": app.issue_refresh_tokens,
    }


def extension_json(extension: Extension) -> dict[str, Any]:
    return {
        "id": extension.id,
        "accountId": extension.account_id,
        "extensionNumber": extension.extension_number,
        "name": extension.name,
        "kind": extension.kind,
        "phoneNumber": extension.phone_number,
        "members": extension.members,
    }


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "mainNumber": account.main_number,
        "extensions": [extension_json(e) for e in account.extensions.values()],
    }


@router.get("/state")
async def state(request: Request) -> dict[str, Any]:
    return emulator_of(request).describe()


@router.post("/reset")
async def reset(request: Request) -> dict[str, Any]:
    emulator = emulator_of(request)
    await emulator.reset()
    return emulator.describe()


@router.get("/clock")
async def clock(request: Request) -> dict[str, Any]:
    emulator = emulator_of(request)
    return {"now": iso(emulator.now()), "offsetSeconds": emulator.clock.offset_s}


@router.post("/clock/advance")
async def advance(request: Request, body: AdvanceIn) -> dict[str, Any]:
    emulator = emulator_of(request)
    before = len(emulator.deliveries())
    now = await emulator.advance(body.seconds)
    return {
        "now": iso(now),
        "offsetSeconds": emulator.clock.offset_s,
        "deliveries": [r.as_dict() for r in emulator.deliveries()[before:]],
    }


@router.post("/apps")
async def create_app(request: Request, body: AppIn) -> dict[str, Any]:
    app = emulator_of(request).create_app(
        name=body.name, client_id=body.client_id, client_secret=body.client_secret,
        scope=body.scope, jwt_enabled=body.jwt_enabled,
        issue_refresh_tokens=body.issue_refresh_tokens,
    )  # fmt: skip
    return app_json(app)


@router.get("/apps")
async def list_apps(request: Request) -> list[dict[str, Any]]:
    return [app_json(a) for a in emulator_of(request).directory.apps.values()]


@router.post("/accounts")
async def create_account(request: Request, body: AccountIn) -> dict[str, Any]:
    emulator = emulator_of(request)
    if body.demo:
        account = emulator.create_demo_account(body.name)
    else:
        account = emulator.create_account(
            name=body.name, main_number=body.main_number,
            extensions=[e.spec() for e in body.extensions],
        )  # fmt: skip
    return account_json(account)


@router.get("/accounts")
async def list_accounts(request: Request) -> list[dict[str, Any]]:
    return [account_json(a) for a in emulator_of(request).directory.accounts.values()]


@router.get("/accounts/{account_id}")
async def read_account(request: Request, account_id: str) -> dict[str, Any]:
    return account_json(emulator_of(request).directory.account(account_id))


@router.post("/accounts/{account_id}/extensions")
async def add_extension(request: Request, account_id: str, body: ExtensionIn) -> dict[str, Any]:
    return extension_json(emulator_of(request).add_extension(account_id, body.spec()))


@router.post("/jwt")
async def issue_jwt(request: Request, body: JwtIn) -> dict[str, Any]:
    emulator = emulator_of(request)
    base_of(request)
    token = emulator.issue_jwt(body.extension_id, body.client_id, expires_in_s=body.expires_in)
    credential = emulator.directory.jwts[token]
    return {
        "jwt": token,
        "jti": credential.jti,
        "extensionId": credential.extension_id,
        "clientId": credential.client_id,
    }


@router.post("/jwt/revoke")
async def revoke_jwt(request: Request, body: RevokeJwtIn) -> dict[str, Any]:
    key = body.jwt or body.jti or ""
    return {"revoked": emulator_of(request).revoke_jwt(key)}


@router.get("/sessions")
async def sessions(request: Request) -> list[dict[str, Any]]:
    return emulator_of(request).oauth.describe()


@router.post("/sessions/{session_id}/revoke")
async def revoke_session(request: Request, session_id: str) -> dict[str, Any]:
    return {"revoked": emulator_of(request).oauth.revoke_session(session_id)}


@router.get("/subscriptions")
async def subscriptions(request: Request) -> list[dict[str, Any]]:
    emulator = emulator_of(request)
    now = emulator.now()
    return [s.describe(now) for s in emulator.list_subscriptions()]


@router.post("/subscriptions/{subscription_id}/expire")
async def expire(request: Request, subscription_id: str) -> dict[str, Any]:
    emulator = emulator_of(request)
    return emulator.expire_subscription(subscription_id).describe(emulator.now())


@router.post("/subscriptions/{subscription_id}/blacklist")
async def blacklist(request: Request, subscription_id: str, body: BlacklistIn) -> dict[str, Any]:
    emulator = emulator_of(request)
    subscription = emulator.blacklist_subscription(subscription_id, body.reason)
    return subscription.describe(emulator.now())


@router.get("/deliveries")
async def deliveries(
    request: Request,
    subscription_id: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    records = [
        r for r in emulator_of(request).deliveries(subscription_id) if kind in (None, r.kind)
    ]
    return [r.as_dict() for r in records[-limit:]]


@router.get("/delivery/outage")
async def outage(request: Request) -> dict[str, Any]:
    return {"outage": outage_json(emulator_of(request).dispatcher.outage)}


@router.post("/delivery/outage")
async def start_outage(request: Request, body: OutageIn) -> dict[str, Any]:
    window = emulator_of(request).set_outage(
        body.starts_at, body.ends_at, duration_s=body.duration_s
    )
    return {"outage": outage_json(window)}


@router.delete("/delivery/outage")
async def end_outage(request: Request) -> dict[str, Any]:
    emulator_of(request).clear_outage()
    return {"outage": None}


@router.get("/scenarios")
async def scenario_kinds() -> list[dict[str, Any]]:
    return [k.as_dict() for k in KINDS.values()]


@router.post("/scenarios/play")
async def play(request: Request, body: PlayIn) -> dict[str, Any]:
    kinds = None if body.kinds in (None, ["mix"]) else body.kinds
    chaos = ChaosConfig(**body.chaos.model_dump()) if body.chaos else None
    wait = body.wait if body.wait is not None else body.pacing == "instant"
    result = await emulator_of(request).play(
        kinds, count=body.count, seed=body.seed, pacing=body.pacing, speed=body.speed,
        spacing_s=body.spacing_s, chaos=chaos, account_id=body.account_id, wait=wait,
    )  # fmt: skip
    return result.summary(with_calls=True)


@router.get("/plays")
async def plays(request: Request) -> list[dict[str, Any]]:
    return [p.summary() for p in emulator_of(request).plays.values()]


@router.get("/plays/{play_id}")
async def read_play(request: Request, play_id: str) -> dict[str, Any]:
    return _play(request, play_id).summary(with_calls=True)


@router.post("/plays/{play_id}/cancel")
async def cancel_play(request: Request, play_id: str) -> dict[str, Any]:
    _play(request, play_id)
    return (await emulator_of(request).cancel_play(play_id)).summary()


@router.get("/calls")
async def calls(
    request: Request, play_id: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    return [c.summary() for c in emulator_of(request).calls_of(play_id, kind)]


@router.get("/rate-limits")
async def rate_limits(request: Request) -> dict[str, Any]:
    limiter = emulator_of(request).rate_limiter
    return {
        "enabled": limiter.enabled,
        "limits": {
            group.value: {"requests": v.requests, "windowS": v.window_s, "penaltyS": v.penalty_s}
            for group, v in limiter.limits.items()
        },
    }


@router.put("/rate-limits")
async def set_rate_limits(request: Request, body: RateLimitsIn) -> dict[str, Any]:
    limits = {g: RateLimit(v.requests, v.window_s, v.penalty_s) for g, v in body.limits.items()}
    emulator_of(request).set_rate_limits(body.enabled, limits)
    return await rate_limits(request)


@router.post("/call-log/reset-sync")
async def reset_sync(request: Request, body: ResetSyncIn) -> dict[str, Any]:
    emulator_of(request).reset_call_log_sync(body.account_id, body.code)
    return {"accountId": body.account_id, "code": body.code}


def _play(request: Request, play_id: str) -> Play:
    found = emulator_of(request).plays.get(play_id)
    if found is None:
        msg = f"unknown play {play_id!r}"
        raise UnknownEntityError(msg)
    return found
