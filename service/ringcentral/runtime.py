"""Assemble the RingCentral side from settings: one shared HTTP client, the REST client, the
token manager, the stores and the subscription keeper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from service.ringcentral.stores import DatabaseSubscriptionStore, DatabaseTokenStore
from service.secrets import SecretBox, SecretsUnavailable, development_key
from service.settings import Environment, Settings
from subscriptions.calllog import CallLogPolicy
from subscriptions.client import DEFAULT_TIMEOUT, RetryPolicy, RingCentralClient
from subscriptions.lifecycle import Policy, SubscriptionKeeper
from subscriptions.ratelimit import RateLimiter
from subscriptions.tokens import TokenManager

USER_AGENT = "callsift/0.1 (+https://github.com/callsift)"


class NotConfigured(Exception):
    """A RingCentral setting the command needs is missing; the message names it."""


def secret_box(settings: Settings) -> SecretBox:
    if settings.secret_keys is not None:
        return SecretBox.from_setting(settings.secret_keys.get_secret_value())
    if settings.env is Environment.PRODUCTION:
        msg = "CALLSIFT_SECRET_KEYS must be set in production"
        raise SecretsUnavailable(msg)
    return SecretBox([development_key()])


def call_log_policy(settings: Settings) -> CallLogPolicy:
    return CallLogPolicy(
        backfill=timedelta(days=settings.calllog_backfill_days),
        overlap=timedelta(seconds=settings.calllog_overlap_s),
    )


def policy(settings: Settings) -> Policy:
    if not settings.webhook_url:
        msg = "CALLSIFT_WEBHOOK_URL is not set: RingCentral needs the public webhook address"
        raise NotConfigured(msg)
    return Policy(
        webhook_url=settings.webhook_url,
        expires_in_s=settings.subscription_expires_in_s,
        renew_before=timedelta(seconds=settings.renew_before_s),
        check_every=timedelta(seconds=settings.subscription_check_every_s),
    )


@dataclass(slots=True)
class RingCentralRuntime:
    http: httpx.AsyncClient
    client: RingCentralClient
    tokens: TokenManager
    token_store: DatabaseTokenStore
    box: SecretBox
    clock: Callable[[], datetime]

    def keeper(self, engine: AsyncEngine, policy: Policy) -> SubscriptionKeeper:
        store = DatabaseSubscriptionStore(engine, policy=policy, clock=self.clock)
        return SubscriptionKeeper(self.client, self.tokens, store, policy=policy, clock=self.clock)

    async def aclose(self) -> None:
        await self.http.aclose()


def build_runtime(
    settings: Settings,
    engine: AsyncEngine,
    *,
    clock: Callable[[], datetime],
    retry: RetryPolicy | None = None,
    http: httpx.AsyncClient | None = None,
) -> RingCentralRuntime:
    """The RingCentral side; raises NotConfigured when the app's credentials are missing."""
    if not settings.rc_client_id or settings.rc_client_secret is None:
        msg = "CALLSIFT_RC_CLIENT_ID and CALLSIFT_RC_CLIENT_SECRET must be set"
        raise NotConfigured(msg)
    http = http or httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, headers={"User-Agent": USER_AGENT})
    client = RingCentralClient(
        http,
        server=settings.rc_server,
        client_id=settings.rc_client_id,
        client_secret=settings.rc_client_secret.get_secret_value(),
        retry=retry or RetryPolicy(),
        # paced by the service's clock (a simulated one in tests and the demo)
        limiter=RateLimiter(clock=lambda: clock().timestamp()),
    )
    box = secret_box(settings)
    store = DatabaseTokenStore(engine, box)
    tokens = TokenManager(client, store, clock=clock)
    return RingCentralRuntime(http, client, tokens, store, box, clock)
