"""Sending one notification to one subscription: headers, delivery record, blacklist accounting."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from emulator.clock import SimClock
from emulator.config import EmulatorConfig
from emulator.delivery import DeliveryLog, DeliveryRecord, HttpPoster, encode
from emulator.subscriptions import Subscription, SubscriptionStore

log = structlog.get_logger(__name__)


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
        if not subscription.deliverable(self._clock.now()):
            return self._records.add(
                self._clock, outcome="suppressed", status=None, error=None, latency_ms=None,
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
                "subscription_blacklisted", subscription_id=subscription.id, reason=result.failure
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

    def dropped(
        self, subscription: Subscription, envelope: dict[str, Any], kind: str
    ) -> DeliveryRecord:
        return self._records.add(
            self._clock, outcome="dropped", status=None, error=None, latency_ms=None,
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
