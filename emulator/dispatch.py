"""Sending one notification to one subscription: headers, delivery record, blacklist accounting,
and the delivery outage window (nothing due inside it is sent; it is recorded as `lost`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import structlog

from emulator.clock import SimClock
from emulator.config import EmulatorConfig
from emulator.delivery import DeliveryLog, DeliveryRecord, HttpPoster, encode
from emulator.subscriptions import Subscription, SubscriptionStore

log = structlog.get_logger(__name__)

NotSent = Literal["dropped", "lost"]


class OutageError(ValueError):
    """An outage window that cannot be set (it ends before it starts)."""


@dataclass(frozen=True, slots=True)
class Outage:
    """Delivery is down from `starts_at` until `ends_at` (None: until cleared)."""

    starts_at: datetime
    ends_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.ends_at is not None and self.ends_at <= self.starts_at:
            msg = "an outage must end after it starts"
            raise OutageError(msg)

    def covers(self, moment: datetime) -> bool:
        return self.starts_at <= moment and (self.ends_at is None or moment < self.ends_at)


class Dispatcher:
    def __init__(
        self,
        config: EmulatorConfig,
        clock: SimClock,
        poster: HttpPoster,
        store: SubscriptionStore,
        records: DeliveryLog,
    ) -> None:
        self._config = config
        self._clock = clock
        self._poster = poster
        self._store = store
        self._records = records
        self._slots = asyncio.Semaphore(config.delivery_concurrency)
        self.outage: Outage | None = None

    async def deliver(
        self,
        subscription: Subscription,
        envelope: dict[str, Any],
        *,
        kind: str,
        duplicate: bool = False,
        delay_s: float = 0.0,
    ) -> DeliveryRecord:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        async with self._slots:  # deliverability is judged when the slot is ours
            return await self._deliver(subscription, envelope, kind, duplicate)

    async def _deliver(
        self, subscription: Subscription, envelope: dict[str, Any], kind: str, duplicate: bool
    ) -> DeliveryRecord:
        fields = self._fields(subscription, envelope, kind, duplicate)
        now = self._clock.now()
        if not subscription.deliverable(now):
            return self._records.add(
                self._clock, outcome="suppressed", status=None, error=None, latency_ms=None,
                response_bytes=None, **fields,
            )  # fmt: skip
        if self.outage is not None and self.outage.covers(now):
            return self._records.add(
                self._clock, outcome="lost", status=None, error=None, latency_ms=None,
                response_bytes=None, **fields,
            )  # fmt: skip
        headers = {}
        if subscription.verification_token is not None:
            headers["Verification-Token"] = subscription.verification_token
        result = await self._poster.post(
            subscription.address,
            encode(envelope),
            headers,
            timeout_s=self._config.delivery_timeout_s,
        )
        if self._store.record_result(subscription, result.failure, self._clock.now()):
            log.warning(
                "emulator.subscription_blacklisted",
                subscription_id=subscription.id,
                reason=result.failure,
            )
        return self._records.add(
            self._clock,
            outcome="failed" if result.failure else "delivered",
            status=result.status,
            error=result.failure,
            latency_ms=round(result.latency_ms, 3),
            response_bytes=result.response_bytes,
            **fields,
        )

    def not_sent(
        self, subscription: Subscription, envelope: dict[str, Any], kind: str, outcome: NotSent
    ) -> DeliveryRecord:
        """Record a notification that chaos keeps from being sent."""
        return self._records.add(
            self._clock, outcome=outcome, status=None, error=None, latency_ms=None,
            response_bytes=None, **self._fields(subscription, envelope, kind, False),
        )  # fmt: skip

    @staticmethod
    def _fields(
        subscription: Subscription, envelope: dict[str, Any], kind: str, duplicate: bool
    ) -> dict[str, Any]:
        body = envelope.get("body")
        body = body if isinstance(body, dict) else {}
        sequence = body.get("sequence")
        session = body.get("telephonySessionId")
        return {
            "kind": kind,
            "subscription_id": subscription.id,
            "address": subscription.address,
            "uuid": envelope.get("uuid"),
            "event": envelope.get("event"),
            "telephony_session_id": session if isinstance(session, str) else None,
            "sequence": sequence if isinstance(sequence, int) else None,
            "duplicate": duplicate,
        }
