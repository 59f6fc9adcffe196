"""`next_step`: what the subscription loop does for one extension, decided from stored state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from subscriptions.lifecycle import Mode, Policy, Step, SubscriptionState, next_step

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
URL = "https://hooks.example.test/webhooks/ringcentral"
POLICY = Policy(webhook_url=URL)


def state(**changes: object) -> SubscriptionState:
    values: dict[str, object] = {
        "extension_id": "101",
        "mode": Mode.EXTENSION,
        "subscription_id": "sub-1",
        "status": "Active",
        "expires_at": NOW + timedelta(days=5),
        "webhook_url": URL,
        "last_checked_at": NOW - timedelta(minutes=5),
        "renew_requested": False,
    }
    values.update(changes)
    return SubscriptionState(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (state(subscription_id=None), Step.CREATE),
        (state(webhook_url="https://old.example.test/hook"), Step.RECREATE),
        (state(status="Blacklisted"), Step.RECREATE),
        (state(status="blacklisted"), Step.RECREATE),
        (state(expires_at=NOW - timedelta(seconds=1)), Step.RECREATE),
        (state(expires_at=NOW + timedelta(hours=23)), Step.RENEW),
        (state(renew_requested=True), Step.RENEW),
        (state(last_checked_at=NOW - timedelta(hours=2)), Step.CHECK),
        (state(last_checked_at=None), Step.CHECK),
        (state(), Step.NOTHING),
    ],
)
def test_next_step(current: SubscriptionState, expected: Step) -> None:
    assert next_step(current, now=NOW, policy=POLICY) is expected


def test_filters_per_mode_include_the_renewal_reminder() -> None:
    reminder = "/restapi/v1.0/subscription/~?threshold=86400&interval=3600"
    assert POLICY.filters(Mode.EXTENSION) == [
        "/restapi/v1.0/account/~/extension/~/telephony/sessions",
        "/restapi/v1.0/account/~/extension/~/voicemail",
        reminder,
    ]
    assert POLICY.filters(Mode.ACCOUNT) == [
        "/restapi/v1.0/account/~/telephony/sessions",
        "/restapi/v1.0/account/~/extension/~/voicemail",
        reminder,
    ]
