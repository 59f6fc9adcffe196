"""Webhook subscriptions: validation of requests, lifetime, expiry, reminders and blacklisting.

HTTP work (the validation handshake, deliveries) lives in `emulator.delivery`; this module keeps the
state and the rules (SPEC createSubscription & co, DOC:notifications/webhooks/*, docs/emulator.md,
Sources):
subscriptions belong to an (extension, app); 30 of them at most (403 SUB-505); `expiresIn` defaults
to 604800 s and is clamped to 315360000 s; `verificationToken` is write-only; an expired
subscription stops delivering and answers 404; a blacklisted one stops delivering.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from emulator.clock import iso
from emulator.config import EmulatorConfig
from emulator.directory import Account
from emulator.errors import RCError, api_error, invalid_parameter, not_found
from emulator.filters import (
    EventFilter,
    ReminderFilter,
    TelephonyFilter,
    VoicemailFilter,
    check_reminder,
    invalid_filters,
    parse_filter,
)
from emulator.ids import Ids


@dataclass(slots=True)
class Subscription:
    id: str
    account_id: str
    owner_extension_id: str
    client_id: str
    filters: list[EventFilter]
    address: str
    verification_token: str | None
    expires_in: int
    creation_time: datetime
    expiration_time: datetime
    status: str = "Active"
    blacklisted_at: datetime | None = None
    blacklist_reason: str | None = None
    consecutive_failures: int = 0
    deleted: bool = False
    next_reminder_at: datetime | None = None
    delivered: int = 0
    failed: int = 0

    def expired(self, now: datetime) -> bool:
        return self.expiration_time <= now

    def deliverable(self, now: datetime) -> bool:
        return not self.deleted and self.status == "Active" and not self.expired(now)

    @property
    def telephony_filters(self) -> Iterator[TelephonyFilter]:
        return (f for f in self.filters if isinstance(f, TelephonyFilter))

    @property
    def voicemail_filters(self) -> Iterator[VoicemailFilter]:
        return (f for f in self.filters if isinstance(f, VoicemailFilter))

    @property
    def reminder(self) -> ReminderFilter | None:
        return next((f for f in self.filters if isinstance(f, ReminderFilter)), None)

    def info(self, base_url: str, now: datetime) -> dict[str, Any]:
        """The `SubscriptionInfo` body (no verification token: it is write-only)."""
        body: dict[str, Any] = {
            "uri": f"{base_url}/restapi/v1.0/subscription/{self.id}",
            "id": self.id,
            "creationTime": iso(self.creation_time),
            "status": self.status,
            "eventFilters": [f.expanded for f in self.filters],
            "expirationTime": iso(self.expiration_time),
            "expiresIn": max(0, int((self.expiration_time - now).total_seconds())),
            "deliveryMode": {
                "transportType": "WebHook",
                "encryption": False,
                "address": self.address,
            },
        }
        if self.status == "Blacklisted" and self.blacklisted_at is not None:
            body["blacklistedData"] = {
                "blacklistedAt": iso(self.blacklisted_at),
                "reason": self.blacklist_reason or "",
            }
        return body

    def describe(self, now: datetime) -> dict[str, Any]:
        """Admin view: the public info plus what the platform keeps to itself."""
        state = "deleted" if self.deleted else "expired" if self.expired(now) else self.status
        return {
            **self.info("", now),
            "uri": f"/restapi/v1.0/subscription/{self.id}",
            "state": state,
            "ownerId": self.owner_extension_id,
            "accountId": self.account_id,
            "clientId": self.client_id,
            "hasVerificationToken": self.verification_token is not None,
            "consecutiveFailures": self.consecutive_failures,
            "delivered": self.delivered,
            "failed": self.failed,
            "nextReminderAt": iso(self.next_reminder_at) if self.next_reminder_at else None,
        }


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """A validated create request, before the handshake."""

    filters: list[EventFilter]
    address: str
    verification_token: str | None
    expires_in: int


@dataclass(frozen=True, slots=True)
class DueReminder:
    subscription: Subscription
    expires_in: int


@dataclass(slots=True)
class SubscriptionStore:
    config: EmulatorConfig
    ids: Ids
    by_id: dict[str, Subscription] = field(default_factory=dict)

    # requests --------------------------------------------------------------------------------

    def parse_create(self, body: object, *, account: Account, extension_id: str) -> CreateRequest:
        if not isinstance(body, Mapping):
            raise invalid_parameter("body")
        filters = self.parse_filters(body.get("eventFilters"), account, extension_id)
        mode = body.get("deliveryMode")
        if not isinstance(mode, Mapping):
            raise invalid_parameter("deliveryMode")
        if mode.get("transportType") != "WebHook":
            raise invalid_parameter("deliveryMode.transportType", mode.get("transportType"))
        address = self._address(mode.get("address"))
        token = mode.get("verificationToken")
        if token is not None and (not isinstance(token, str) or not token):
            raise invalid_parameter("deliveryMode.verificationToken")
        expires_in = self.parse_expires_in(body)
        self._check_reminders(filters, expires_in)
        return CreateRequest(filters, address, token, expires_in)

    def parse_filters(
        self, value: object, account: Account, extension_id: str
    ) -> list[EventFilter]:
        if not isinstance(value, list) or not value:
            raise invalid_parameter("eventFilters")
        if not all(isinstance(item, str) and item for item in value):
            raise invalid_filters([str(item) for item in value])
        return [parse_filter(raw, account=account, extension_id=extension_id) for raw in value]

    def parse_expires_in(self, body: Mapping[str, Any], *, default: int | None = None) -> int:
        value = body.get("expiresIn")
        if value is None:
            return default if default is not None else self.config.subscription_default_ttl_s
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise invalid_parameter("expiresIn", value)
        return min(value, self.config.subscription_max_ttl_s)

    def _check_reminders(self, filters: list[EventFilter], ttl_s: int) -> None:
        for item in filters:
            if isinstance(item, ReminderFilter):
                check_reminder(item, ttl_s, self.config.reminder_job_period_s)

    def _address(self, value: object) -> str:
        if not isinstance(value, str):
            raise invalid_parameter("deliveryMode.address")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise invalid_parameter("deliveryMode.address", value)
        if parts.scheme == "http" and self.config.require_https:
            raise api_error(400, "SUB-523", "HTTPS is required")
        return value

    # lifecycle -------------------------------------------------------------------------------

    def check_limit(self, extension_id: str, client_id: str, now: datetime) -> None:
        if len(self.owned(extension_id, client_id, now)) >= self.config.subscriptions_per_user:
            raise api_error(403, "SUB-505", "Subscriptions limit exceeded")

    def create(
        self,
        request: CreateRequest,
        *,
        account_id: str,
        extension_id: str,
        client_id: str,
        now: datetime,
    ) -> Subscription:
        subscription = Subscription(
            id=self.ids.uuid4(),
            account_id=account_id,
            owner_extension_id=extension_id,
            client_id=client_id,
            filters=request.filters,
            address=request.address,
            verification_token=request.verification_token,
            expires_in=request.expires_in,
            creation_time=now,
            expiration_time=now + timedelta(seconds=request.expires_in),
        )
        self._schedule_reminder(subscription, now)
        self.by_id[subscription.id] = subscription
        return subscription

    def owned(self, extension_id: str, client_id: str, now: datetime) -> list[Subscription]:
        return [
            s
            for s in self.by_id.values()
            if s.owner_extension_id == extension_id
            and s.client_id == client_id
            and not s.deleted
            and not s.expired(now)
        ]

    def get_owned(
        self, subscription_id: str, extension_id: str, client_id: str, now: datetime
    ) -> Subscription:
        found = self.by_id.get(subscription_id)
        if (
            found is None
            or found.deleted
            or found.owner_extension_id != extension_id
            or found.client_id != client_id
        ):
            raise not_found("subscriptionId")
        if found.expired(now):
            raise expired_error(found)
        return found

    def update(
        self, subscription: Subscription, body: object, account: Account, now: datetime
    ) -> None:
        """PUT: new filters and/or lifetime; every PUT renews (empty body: default lifetime)."""
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise invalid_parameter("body")
        filters = subscription.filters
        if "eventFilters" in body:
            filters = self.parse_filters(
                body["eventFilters"], account, subscription.owner_extension_id
            )
        expires_in = self.parse_expires_in(body)
        self._check_reminders(filters, expires_in)
        subscription.filters = filters
        subscription.expires_in = expires_in
        self.renew(subscription, now)

    def renew(self, subscription: Subscription, now: datetime) -> None:
        """Extend by the subscription's own `expiresIn` (CHG 1.0.38)."""
        subscription.expiration_time = now + timedelta(seconds=subscription.expires_in)
        self._schedule_reminder(subscription, now)

    def delete(self, subscription: Subscription) -> None:
        subscription.deleted = True

    def force_expire(self, subscription_id: str, now: datetime) -> Subscription:
        subscription = self._admin_get(subscription_id)
        subscription.expiration_time = min(subscription.expiration_time, now)
        return subscription

    def blacklist(self, subscription: Subscription, reason: str, now: datetime) -> None:
        if subscription.status != "Blacklisted":
            subscription.status = "Blacklisted"
            subscription.blacklisted_at = now
            subscription.blacklist_reason = reason

    def admin_blacklist(self, subscription_id: str, reason: str, now: datetime) -> Subscription:
        subscription = self._admin_get(subscription_id)
        self.blacklist(subscription, reason, now)
        return subscription

    def record_result(self, subscription: Subscription, failure: str | None, now: datetime) -> bool:
        """Count a delivery result; return True when this failure blacklisted the subscription."""
        if failure is None:
            subscription.delivered += 1
            subscription.consecutive_failures = 0
            return False
        subscription.failed += 1
        subscription.consecutive_failures += 1
        limit = self.config.blacklist_after_failures
        if subscription.status == "Active" and subscription.consecutive_failures >= limit:
            self.blacklist(subscription, failure, now)
            return True
        return False

    # reminders -------------------------------------------------------------------------------

    def due_reminders(self, now: datetime) -> list[DueReminder]:
        """Reminders whose time has come; each subscription gets at most one per call, then its
        next one is scheduled `interval` after the one just due."""
        due: list[DueReminder] = []
        for subscription in self.by_id.values():
            reminder = subscription.reminder
            at = subscription.next_reminder_at
            if reminder is None or reminder.interval is None or at is None or at > now:
                continue
            if not subscription.deliverable(now):
                continue
            interval = timedelta(seconds=reminder.interval)
            while at <= now:
                at += interval
            subscription.next_reminder_at = at
            left = int((subscription.expiration_time - now).total_seconds())
            due.append(DueReminder(subscription, max(0, left)))
        return due

    def _schedule_reminder(self, subscription: Subscription, now: datetime) -> None:
        reminder = subscription.reminder
        if reminder is None or reminder.threshold is None:
            subscription.next_reminder_at = None
            return
        subscription.next_reminder_at = subscription.expiration_time - timedelta(
            seconds=reminder.threshold
        )

    def _admin_get(self, subscription_id: str) -> Subscription:
        found = self.by_id.get(subscription_id)
        if found is None:
            raise not_found("subscriptionId")
        return found


def expired_error(subscription: Subscription) -> RCError:
    return api_error(
        404,
        "SUB-507",
        f"Subscription with key [{subscription.id}] and assigned session "
        f"[{subscription.owner_extension_id}] was expired",
    )
