"""Keep one webhook subscription alive per monitored extension (or one per account).

`next_step` decides from what we know (pure); `SubscriptionKeeper.sync` carries the step out
against RingCentral and records each result in the store as soon as it happens: the verification
token's hash before the create call (so the first events after creation verify), the subscription
id right after RingCentral returns it. Each store call is its own small transaction because the
remote calls between them cannot be rolled back.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

import structlog

from subscriptions.client import RingCentralClient
from subscriptions.errors import (
    ApiError,
    CredentialInvalid,
    NotFound,
    RateLimited,
    RingCentralError,
)
from subscriptions.schemas import SubscriptionInfo
from subscriptions.tokens import TokenManager

log = structlog.get_logger(__name__)

EXTENSION_FILTERS = (
    "/restapi/v1.0/account/~/extension/~/telephony/sessions",
    "/restapi/v1.0/account/~/extension/~/voicemail",
)
ACCOUNT_FILTERS = (
    "/restapi/v1.0/account/~/telephony/sessions",
    "/restapi/v1.0/account/~/extension/~/voicemail",  # the admin's own mailbox
)
SUBSCRIPTION_LIMIT_CODE = "SUB-505"
MAX_RETRY_DELAY = timedelta(hours=1)


class Mode(StrEnum):
    EXTENSION = "extension"
    ACCOUNT = "account"


class Step(StrEnum):
    CREATE = "create"
    RENEW = "renew"
    CHECK = "check"
    RECREATE = "recreate"
    NOTHING = "nothing"


class Action(StrEnum):
    """What a sync did, as shown by `callsift subscriptions sync`."""

    CREATED = "created"
    RENEWED = "renewed"
    RECREATED = "recreated"
    CHECKED = "checked"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    CREDENTIAL_INVALID = "credential_invalid"


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What the store knows about one extension's subscription."""

    extension_id: str
    mode: Mode
    subscription_id: str | None
    status: str | None
    expires_at: datetime | None
    webhook_url: str | None
    last_checked_at: datetime | None
    renew_requested: bool
    failures: int = 0


@dataclass(frozen=True, slots=True)
class Policy:
    webhook_url: str
    expires_in_s: int = 7 * 24 * 3600
    renew_before: timedelta = timedelta(hours=24)
    check_every: timedelta = timedelta(hours=1)
    reminder_threshold_s: int = 24 * 3600
    reminder_interval_s: int = 3600
    retry_base: timedelta = timedelta(minutes=1)

    def filters(self, mode: Mode) -> list[str]:
        base = ACCOUNT_FILTERS if mode is Mode.ACCOUNT else EXTENSION_FILTERS
        reminder = (
            f"/restapi/v1.0/subscription/~?threshold={self.reminder_threshold_s}"
            f"&interval={self.reminder_interval_s}"
        )
        return [*base, reminder]


@dataclass(frozen=True, slots=True)
class SyncResult:
    extension_id: str
    action: Action
    subscription_id: str | None = None
    expires_at: datetime | None = None
    detail: str = ""


class SubscriptionStore(Protocol):
    async def new_verification_token(self, extension_id: str, token: str) -> None:
        """Keep the hash of a token about to be given to RingCentral (before the create call)."""
        ...

    async def subscription_active(
        self, extension_id: str, info: SubscriptionInfo, *, webhook_url: str, action: Action
    ) -> None:
        """Record a created, renewed or checked subscription."""
        ...

    async def subscription_gone(self, extension_id: str, reason: str) -> None:
        """Forget the subscription id (it expired, was deleted or blacklisted)."""
        ...

    async def record_failure(self, extension_id: str, error: str, retry_at: datetime) -> None: ...


def next_step(state: SubscriptionState, *, now: datetime, policy: Policy) -> Step:
    """What to do for one extension now."""
    if state.subscription_id is None:
        return Step.CREATE
    if state.webhook_url != policy.webhook_url:
        return Step.RECREATE
    if state.status is not None and state.status.lower() == "blacklisted":
        return Step.RECREATE
    if state.expires_at is not None and state.expires_at <= now:
        return Step.RECREATE
    if state.renew_requested or (
        state.expires_at is not None and state.expires_at - policy.renew_before <= now
    ):
        return Step.RENEW
    if state.last_checked_at is None or now - state.last_checked_at >= policy.check_every:
        return Step.CHECK
    return Step.NOTHING


class SubscriptionKeeper:
    def __init__(
        self,
        client: RingCentralClient,
        tokens: TokenManager,
        store: SubscriptionStore,
        *,
        policy: Policy,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._tokens = tokens
        self._store = store
        self._policy = policy
        self._clock = clock

    async def sync(self, state: SubscriptionState) -> SyncResult:
        """Bring one extension's subscription to Active, doing only what is due."""
        step = next_step(state, now=self._clock(), policy=self._policy)
        try:
            return await self._carry_out(step, state)
        except CredentialInvalid as exc:
            return SyncResult(state.extension_id, Action.CREDENTIAL_INVALID, detail=exc.reason)
        except RingCentralError as exc:
            retry_at = self._retry_at(exc, state.failures)
            await self._store.record_failure(state.extension_id, str(exc), retry_at)
            log.warning(
                "subscription.sync_failed",
                extension_id=state.extension_id,
                step=step,
                error=str(exc),
            )
            return SyncResult(
                state.extension_id, Action.FAILED, state.subscription_id, detail=str(exc)
            )

    async def remove(self, extension_id: str, subscription_id: str | None) -> None:
        """Delete the subscription at RingCentral (if any) and revoke the extension's session."""
        if subscription_id:
            await self._delete_if_exists(extension_id, subscription_id)
        token = await self._tokens.access_token(extension_id)
        await self._client.revoke(token, rate_key=extension_id)
        self._tokens.forget(extension_id)

    async def _carry_out(self, step: Step, state: SubscriptionState) -> SyncResult:
        if step is Step.NOTHING:
            return SyncResult(
                state.extension_id, Action.UNCHANGED, state.subscription_id, state.expires_at
            )
        if step is Step.CREATE:
            return await self._create(state, Action.CREATED)
        if step is Step.RECREATE:
            await self._delete_quietly(state)
            return await self._create(state, Action.RECREATED)
        return await self._refresh(step, state)

    async def _refresh(self, step: Step, state: SubscriptionState) -> SyncResult:
        assert state.subscription_id is not None
        auth = self._tokens.auth(state.extension_id)
        try:
            if step is Step.RENEW:
                info = await self._client.renew_subscription(
                    auth=auth, rate_key=state.extension_id, subscription_id=state.subscription_id
                )
            else:
                info = await self._client.get_subscription(
                    auth=auth, rate_key=state.extension_id, subscription_id=state.subscription_id
                )
        except NotFound:
            await self._store.subscription_gone(state.extension_id, "not found at RingCentral")
            return await self._create(state, Action.RECREATED)
        if info.is_blacklisted:
            reason = info.blacklisted_data.reason if info.blacklisted_data else None
            await self._store.subscription_gone(state.extension_id, f"blacklisted: {reason}")
            await self._delete_quietly(state)
            return await self._create(state, Action.RECREATED)
        action = Action.RENEWED if step is Step.RENEW else Action.CHECKED
        await self._store.subscription_active(
            state.extension_id, info, webhook_url=self._policy.webhook_url, action=action
        )
        return SyncResult(state.extension_id, action, info.id, info.expiration_time)

    async def _create(self, state: SubscriptionState, action: Action) -> SyncResult:
        token = secrets.token_urlsafe(32)
        await self._store.new_verification_token(state.extension_id, token)
        try:
            info = await self._create_call(state, token)
        except ApiError as exc:
            if exc.code != SUBSCRIPTION_LIMIT_CODE:
                raise
            removed = await self._remove_stale(state)
            log.info("subscription.limit_cleanup", extension_id=state.extension_id, removed=removed)
            info = await self._create_call(state, token)
        await self._store.subscription_active(
            state.extension_id, info, webhook_url=self._policy.webhook_url, action=action
        )
        log.info("subscription.active", extension_id=state.extension_id, action=action.value)
        return SyncResult(state.extension_id, action, info.id, info.expiration_time)

    async def _create_call(self, state: SubscriptionState, token: str) -> SubscriptionInfo:
        return await self._client.create_subscription(
            auth=self._tokens.auth(state.extension_id),
            rate_key=state.extension_id,
            event_filters=self._policy.filters(state.mode),
            address=self._policy.webhook_url,
            verification_token=token,
            expires_in=self._policy.expires_in_s,
        )

    async def _remove_stale(self, state: SubscriptionState) -> int:
        """Delete this app's other subscriptions of the extension that point at our webhook
        (leftovers of crashed runs or of an earlier webhook URL)."""
        auth = self._tokens.auth(state.extension_id)
        existing = await self._client.list_subscriptions(auth=auth, rate_key=state.extension_id)
        removed = 0
        for info in existing:
            address = info.delivery_mode.address if info.delivery_mode else None
            ours = address in (self._policy.webhook_url, state.webhook_url)
            if ours and info.id != state.subscription_id:
                await self._client.delete_subscription(
                    auth=auth, rate_key=state.extension_id, subscription_id=info.id
                )
                removed += 1
        return removed

    async def _delete_quietly(self, state: SubscriptionState) -> None:
        if state.subscription_id is None:
            return
        await self._delete_if_exists(state.extension_id, state.subscription_id)
        await self._store.subscription_gone(state.extension_id, "deleted to be recreated")

    async def _delete_if_exists(self, extension_id: str, subscription_id: str) -> None:
        with contextlib.suppress(NotFound):
            await self._client.delete_subscription(
                auth=self._tokens.auth(extension_id),
                rate_key=extension_id,
                subscription_id=subscription_id,
            )

    def _retry_at(self, error: RingCentralError, failures: int) -> datetime:
        now = self._clock()
        if isinstance(error, RateLimited) and error.retry_after_s is not None:
            return now + timedelta(seconds=error.retry_after_s)
        return now + min(self._policy.retry_base * (1 << min(failures, 12)), MAX_RETRY_DELAY)
