"""`Emulator`: all state of one emulated platform and its Python control API.

The admin HTTP API (`emulator.api.admin`) is a thin JSON layer over these methods, so tests and the
demo can drive the emulator in process (`app.state.emulator`) or over HTTP, with the same effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from emulator.calllog import CallLogStore
from emulator.clock import SimClock, iso
from emulator.config import ChaosConfig, EmulatorConfig, RateGroup, RateLimit
from emulator.delivery import DeliveryLog, DeliveryRecord, HttpPoster
from emulator.directory import DEMO_EXTENSIONS, Account, App, Directory, Extension, ExtensionSpec
from emulator.dispatch import Dispatcher, Outage, OutageError
from emulator.ids import Ids
from emulator.notifications import envelope
from emulator.oauth import OAuthService
from emulator.player import Pacing, Play, Player, PlayOptions
from emulator.ratelimit import RateLimiter
from emulator.scenarios import GeneratedCall, ScenarioError
from emulator.subscriptions import Subscription, SubscriptionStore

log = structlog.get_logger(__name__)

FALLBACK_BASE = "http://127.0.0.1"


def outage_json(outage: Outage | None) -> dict[str, Any] | None:
    if outage is None:
        return None
    ends_at = iso(outage.ends_at) if outage.ends_at is not None else None
    return {"startsAt": iso(outage.starts_at), "endsAt": ends_at}


class Emulator:
    """One emulated RingCentral platform: directory, OAuth, subscriptions, deliveries, call log,
    scenarios and the simulated clock. Everything is in memory and derives from `config.seed`."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = SimClock()
        self.poster = HttpPoster(self.config)
        self.rate_limiter = RateLimiter(
            self.config.rate_limits, enabled=self.config.rate_limits_enabled
        )
        self._observed_base: str | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._build_state()

    def _build_state(self) -> None:
        self.ids = Ids(random.Random(self.config.seed))
        self.directory = Directory(self.ids)
        self.oauth = OAuthService(self.config, self.ids, self.directory)
        self.subscriptions = SubscriptionStore(self.config, self.ids)
        self.call_log = CallLogStore(self.config, self.ids)
        self.delivery_log = DeliveryLog(self.config.max_delivery_records)
        self.dispatcher = Dispatcher(
            self.config, self.clock, self.poster, self.subscriptions, self.delivery_log
        )
        self.player = Player(
            self.config, self.clock, self.dispatcher,
            lambda: list(self.subscriptions.by_id.values()), self.public_base,
        )  # fmt: skip
        self.calls: list[GeneratedCall] = []
        self.plays: dict[str, Play] = {}

    # lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.poster.start()
        if self.config.timer_tick_s > 0 and self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever())

    async def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self._cancel_plays()
        await self.poster.close()

    async def reset(self) -> None:
        """Forget everything (apps, accounts, tokens, subscriptions, calls, deliveries) and
        restart ids from the seed; the clock returns to real time."""
        await self._cancel_plays()
        self.clock.reset()
        self.rate_limiter.configure(
            enabled=self.config.rate_limits_enabled, limits=self.config.rate_limits
        )
        self._build_state()

    # clock -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    async def advance(self, seconds: float) -> datetime:
        """Move the simulated clock forward and run what became due (expiry, reminders)."""
        self.clock.advance(seconds)
        await self.process_timers()
        return self.clock.now()

    async def process_timers(self) -> list[DeliveryRecord]:
        now = self.clock.now()
        sends = []
        for due in self.subscriptions.due_reminders(now):
            reminder = due.subscription.reminder
            if reminder is None:
                continue
            message = envelope(
                uuid=self.ids.uuid4(), event=reminder.raw, timestamp=now,
                subscription=due.subscription, body={"expiresIn": due.expires_in},
            )  # fmt: skip
            sends.append(self.dispatcher.deliver(due.subscription, message, kind="reminder"))
        return list(await asyncio.gather(*sends))

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.timer_tick_s)
            try:
                await self.process_timers()
            except Exception:  # the ticker must survive one bad round
                log.exception("emulator.timer_round_failed")

    # base URL --------------------------------------------------------------------------------

    def observe_base(self, base_url: str) -> None:
        self._observed_base = base_url.rstrip("/")

    def public_base(self) -> str:
        return (self.config.server_url or self._observed_base or FALLBACK_BASE).rstrip("/")

    # directory -------------------------------------------------------------------------------

    def create_app(
        self,
        *,
        name: str = "callsift",
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: Iterable[str] | None = None,
        jwt_enabled: bool = True,
        issue_refresh_tokens: bool = True,
    ) -> App:
        return self.directory.create_app(
            name=name, client_id=client_id, client_secret=client_secret, scope=scope,
            jwt_enabled=jwt_enabled, issue_refresh_tokens=issue_refresh_tokens,
        )  # fmt: skip

    def create_account(
        self,
        *,
        name: str = "Emulated Company",
        main_number: str | None = None,
        extensions: Iterable[ExtensionSpec] = (),
    ) -> Account:
        return self.directory.create_account(
            name=name, main_number=main_number, extensions=extensions
        )

    def create_demo_account(self, name: str = "Demo Company") -> Account:
        """Five users, a call queue "Sales Queue" (members 102-104) and an IVR "Main Menu"."""
        return self.create_account(name=name, extensions=DEMO_EXTENSIONS)

    def add_extension(self, account_id: str, spec: ExtensionSpec) -> Extension:
        return self.directory.add_extension(account_id, spec)

    def issue_jwt(
        self, extension_id: str, client_id: str | None, *, expires_in_s: int | None = None
    ) -> str:
        credential = self.directory.issue_jwt(
            extension_id, client_id, now=self.now(), server_url=self.public_base(),
            expires_in_s=expires_in_s,
        )  # fmt: skip
        return credential.token

    def revoke_jwt(self, token_or_jti: str) -> bool:
        return self.directory.revoke_jwt(token_or_jti, now=self.now())

    # subscriptions and deliveries ------------------------------------------------------------

    def list_subscriptions(self) -> list[Subscription]:
        return list(self.subscriptions.by_id.values())

    def expire_subscription(self, subscription_id: str) -> Subscription:
        return self.subscriptions.force_expire(subscription_id, self.now())

    def blacklist_subscription(
        self,
        subscription_id: str,
        reason: str = "Webhook responses with code: [503], reason: [Service Unavailable]",
    ) -> Subscription:
        return self.subscriptions.admin_blacklist(subscription_id, reason, self.now())

    def deliveries(self, subscription_id: str | None = None) -> list[DeliveryRecord]:
        return self.delivery_log.records(subscription_id)

    def set_outage(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        duration_s: float | None = None,
    ) -> Outage:
        """Lose every notification due (by the simulated clock) from `start` (default now) until
        `end`, or for `duration_s`, or until `clear_outage`. Replaces any earlier window."""
        if end is not None and duration_s is not None:
            msg = "give the outage's end or its duration, not both"
            raise OutageError(msg)
        if duration_s is not None and duration_s <= 0:
            msg = f"an outage's duration must be positive, got {duration_s}"
            raise OutageError(msg)
        starts_at = start if start is not None else self.now()
        if duration_s is not None:
            end = starts_at + timedelta(seconds=duration_s)
        self.dispatcher.outage = Outage(starts_at, end)
        return self.dispatcher.outage

    def clear_outage(self) -> None:
        """End the outage window, if any: what is due from now on is delivered."""
        self.dispatcher.outage = None

    # rate limits and call log ----------------------------------------------------------------

    def set_rate_limits(
        self, enabled: bool, limits: Mapping[RateGroup, RateLimit] | None = None
    ) -> None:
        self.rate_limiter.configure(enabled=enabled, limits=limits)

    def reset_call_log_sync(self, account_id: str, code: str = "CLG-101") -> None:
        self.directory.account(account_id)
        self.call_log.reset_sync(account_id, code)

    # scenarios -------------------------------------------------------------------------------

    async def play(
        self,
        kinds: Sequence[str] | None = None,
        *,
        count: int = 1,
        seed: int | None = None,
        pacing: Pacing = "instant",
        speed: float = 1.0,
        spacing_s: float = 15.0,
        chaos: ChaosConfig | None = None,
        account_id: str | None = None,
        wait: bool = True,
    ) -> Play:
        """Play calls: `kinds` each `count` times, `["all"]`, or None for a mix of `count` calls.
        With `wait` the call returns when every notification has been delivered."""
        options = PlayOptions(
            kinds=kinds, count=count, seed=seed, pacing=pacing, speed=speed,
            spacing_s=spacing_s, chaos=chaos, account_id=account_id,
        )  # fmt: skip
        account = self._play_account(account_id)
        number = len(self.plays) + 1
        play = self.player.plan(f"play-{number}", account, options, number)
        self.plays[play.id] = play
        for call in play.calls:
            self.calls.append(call)
            for entry in call.call_log:
                self.call_log.add(entry, play.started_at)
        play.task = asyncio.create_task(self.player.run(play, number))
        log.info("emulator.play_started", play_id=play.id, calls=len(play.calls), pacing=pacing)
        if wait:
            await play.wait()
        return play

    def calls_of(self, play_id: str | None = None, kind: str | None = None) -> list[GeneratedCall]:
        return [c for c in self.calls if play_id in (None, c.play_id) and kind in (None, c.kind)]

    async def cancel_play(self, play_id: str) -> Play:
        play = self.plays[play_id]
        if play.task is not None and not play.task.done():
            play.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await play.task
            if play.status == "running":  # cancelled before it began
                play.status = "cancelled"
        return play

    def _play_account(self, account_id: str | None) -> Account:
        if account_id is not None:
            return self.directory.account(account_id)
        if not self.directory.accounts:
            msg = "no account exists yet: create one (or the demo account) first"
            raise ScenarioError(msg)
        return next(iter(self.directory.accounts.values()))

    async def _cancel_plays(self) -> None:
        for play_id in list(self.plays):
            await self.cancel_play(play_id)

    def describe(self) -> dict[str, Any]:
        now = self.now()
        subscriptions = self.list_subscriptions()
        return {
            "now": iso(now),
            "offsetSeconds": self.clock.offset_s,
            "seed": self.config.seed,
            "apps": len(self.directory.apps),
            "accounts": len(self.directory.accounts),
            "sessions": len(self.oauth.sessions),
            "subscriptions": sum(1 for s in subscriptions if not s.deleted and not s.expired(now)),
            "calls": len(self.calls),
            "plays": len(self.plays),
            "deliveries": len(self.delivery_log.records()),
            "outage": outage_json(self.dispatcher.outage),
            "rateLimitsEnabled": self.rate_limiter.enabled,
        }
