"""Registering, listing and removing monitored extensions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from service.ringcentral import queries
from service.ringcentral.runtime import RingCentralRuntime
from service.secrets import SecretBox
from subscriptions.errors import RingCentralError
from subscriptions.lifecycle import Mode, SubscriptionKeeper
from subscriptions.tokens import StoredTokens, jwt_subject


class RegistrationError(Exception):
    """The credential could not be registered; the message says why."""


@dataclass(frozen=True, slots=True)
class Registered:
    extension_id: str
    mode: Mode
    replaced: bool


async def add_extension(
    engine: AsyncEngine, runtime: RingCentralRuntime, *, jwt: str, mode: Mode
) -> Registered:
    """Exchange the JWT once (which also tells us whose it is) and store everything encrypted.
    The subscription is created by the next subscription pass."""
    info = await runtime.client.exchange_jwt(jwt, rate_key=jwt_subject(jwt) or "registration")
    if not info.owner_id:
        msg = "RingCentral did not say which extension the JWT belongs to (no owner_id)"
        raise RegistrationError(msg)
    now = runtime.clock()
    tokens = StoredTokens.from_info(info, now)
    box = runtime.box
    async with engine.begin() as connection:
        existing = await queries.get_extension(connection, info.owner_id)
        if existing is None:
            await queries.insert_extension(
                connection,
                {
                    "extension_id": info.owner_id,
                    "account_id": None,
                    "name": None,
                    "mode": mode.value,
                    "credential": box.encrypt(jwt),
                    "status": "active",
                    "status_reason": None,
                    "created_at": now,
                    "updated_at": now,
                    "last_event_at": None,
                },
            )
            await queries.insert_subscription_row(
                connection, _new_subscription_row(info.owner_id, now)
            )
        else:
            await queries.update_extension(
                connection,
                info.owner_id,
                mode=mode.value,
                credential=box.encrypt(jwt),
                status="active",
                status_reason=None,
                updated_at=now,
            )
            # a new credential may belong to another app or platform: check the subscription
            await queries.update_subscription(
                connection, info.owner_id, next_due_at=now, last_checked_at=None
            )
        await queries.ensure_token_row(connection, info.owner_id)
        await queries.save_tokens(
            connection,
            info.owner_id,
            access_token=box.encrypt(tokens.access_token),
            access_expires_at=tokens.access_expires_at,
            refresh_token=box.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
            refresh_expires_at=tokens.refresh_expires_at,
            refreshed_at=now,
        )
    runtime.tokens.forget(info.owner_id)
    return Registered(info.owner_id, mode, replaced=existing is not None)


def _new_subscription_row(extension_id: str, now: datetime) -> dict[str, object]:
    return {
        "extension_id": extension_id,
        "subscription_id": None,
        "status": None,
        "expires_at": None,
        "webhook_url": None,
        "event_filters": None,
        "last_renewed_at": None,
        "last_checked_at": None,
        "last_error": None,
        "failures": 0,
        "renew_requested": False,
        "next_due_at": now,
        "lease_until": None,
        "updated_at": now,
    }


@dataclass(frozen=True, slots=True)
class Removed:
    extension_id: str
    remote_error: str | None  # why the clean-up at RingCentral failed, if it did


async def remove_extension(
    engine: AsyncEngine, keeper: SubscriptionKeeper, extension_id: str
) -> Removed | None:
    """Delete the extension's subscription at RingCentral and revoke its session (best effort),
    then forget it here in any case; None if it was not registered.

    If RingCentral cannot be reached, the subscription may live on there until it expires; its
    deliveries are refused (403) because the extension's verification tokens are gone with it.
    """
    async with engine.connect() as connection:
        state = await queries.subscription_of(connection, extension_id)
        extension = await queries.get_extension(connection, extension_id)
    if extension is None:
        return None
    remote_error = None
    if extension.status == "active":
        try:
            await keeper.remove(extension_id, state.subscription_id if state else None)
        except RingCentralError as exc:
            remote_error = str(exc)
    async with engine.begin() as connection:
        await queries.delete_extension(connection, extension_id)
    return Removed(extension_id, remote_error)


async def rotate_secrets(engine: AsyncEngine, box: SecretBox) -> int:
    """Re-encrypt every credential and token with the newest key, in one transaction."""
    rotated = 0
    async with engine.begin() as connection:
        for extension_id, credential in await queries.all_credentials(connection):
            await queries.replace_credential(connection, extension_id, box.rotate(credential))
            rotated += 1
        for extension_id, access, refresh in await queries.all_token_secrets(connection):
            await queries.replace_token_secrets(
                connection,
                extension_id,
                box.rotate(access) if access else None,
                box.rotate(refresh) if refresh else None,
            )
            rotated += (access is not None) + (refresh is not None)
    return rotated
