"""Check a notification's Verification-Token against the token set for its subscription.

RingCentral does not sign notifications: the only proof of origin is the static token we chose
when creating the subscription, which RingCentral echoes in every delivery. We keep only SHA-256
hashes of tokens and compare hashes with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


def token_hash(token: str | bytes) -> bytes:
    raw = token.encode() if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


class TokenHashSource(Protocol):
    """Where stored subscriptions' token hashes come from (the subscriptions store)."""

    async def hash_for(self, subscription_id: str) -> bytes | None: ...

    async def subscription_for_hash(self, digest: bytes) -> str | None: ...


@dataclass(slots=True)
class StaticTokenHashes:
    """An in-memory source, for a fixed set of subscriptions."""

    by_subscription: Mapping[str, bytes] = field(default_factory=dict)

    async def hash_for(self, subscription_id: str) -> bytes | None:
        return self.by_subscription.get(subscription_id)

    async def subscription_for_hash(self, digest: bytes) -> str | None:
        for subscription_id, stored in self.by_subscription.items():
            if hmac.compare_digest(stored, digest):
                return subscription_id
        return None


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    subscription_id: str | None
    reason: str


class TokenVerifier:
    """Accepts a token if it is the one stored for the subscription, or the fallback token."""

    def __init__(self, source: TokenHashSource, *, fallback_token: str | None = None) -> None:
        self._source = source
        self._fallback = token_hash(fallback_token) if fallback_token else None

    async def verify(self, *, subscription_id: str | None, token: bytes) -> Verdict:
        """Verify a token presented with a notification that names `subscription_id`."""
        digest = token_hash(token)
        if subscription_id is not None:
            stored = await self._source.hash_for(subscription_id)
            if stored is not None:
                if hmac.compare_digest(stored, digest):
                    return Verdict(True, subscription_id, "subscription_token")
                return Verdict(False, subscription_id, "wrong_token")
        if self._fallback is not None and hmac.compare_digest(self._fallback, digest):
            return Verdict(True, subscription_id, "fallback_token")
        return Verdict(False, subscription_id, "unknown_subscription")

    async def verify_without_envelope(self, *, token: bytes) -> Verdict:
        """Verify a token when the body could not be read, so no subscription id is known."""
        digest = token_hash(token)
        subscription_id = await self._source.subscription_for_hash(digest)
        if subscription_id is not None:
            return Verdict(True, subscription_id, "subscription_token")
        if self._fallback is not None and hmac.compare_digest(self._fallback, digest):
            return Verdict(True, None, "fallback_token")
        return Verdict(False, None, "unknown_token")
