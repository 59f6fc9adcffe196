"""Notification envelopes and who receives them.

Envelope: `uuid`, `event`, `timestamp`, `subscriptionId`, `ownerId`, `body`. A telephony event goes
to every active subscription whose telephony filter sees the party (account-level: every party of
the account including PSTN parties; extension-level: only that extension's parties), once per
subscription; its `event` is the party's path (extension path, or account path for PSTN parties).
Voicemail messages go to subscriptions with that mailbox's voicemail filter; renewal reminders
carry the reminder filter exactly as subscribed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from emulator import telephony
from emulator.scenarios.model import PartyEvent, VoicemailDrop, with_base
from emulator.subscriptions import Subscription


def envelope(
    *, uuid: str, event: str, timestamp: datetime, subscription: Subscription, body: Any
) -> dict[str, Any]:
    return telephony.envelope(
        uuid=uuid,
        event=event,
        timestamp=timestamp,
        subscription_id=subscription.id,
        owner_id=subscription.owner_extension_id,
        body=body,
    )


def telephony_subscribers(
    subscriptions: Iterable[Subscription], event: PartyEvent, now: datetime
) -> list[Subscription]:
    return [
        s
        for s in subscriptions
        if s.deliverable(now)
        and any(f.sees(event.account_id, event.party) for f in s.telephony_filters)
    ]


def voicemail_subscribers(
    subscriptions: Iterable[Subscription], drop: VoicemailDrop, now: datetime
) -> list[Subscription]:
    return [
        s
        for s in subscriptions
        if s.deliverable(now)
        and any(
            f.account_id == drop.account_id and f.extension_id == drop.extension_id
            for f in s.voicemail_filters
        )
    ]


def voicemail_body(drop: VoicemailDrop, base: str) -> dict[str, Any]:
    body: dict[str, Any] = with_base(drop.message, base)
    return body
