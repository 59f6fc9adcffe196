"""Check a notification's Verification-Token against the token set for its subscription.

RingCentral does not sign notifications: the only proof of origin is the static token we chose
when creating the subscription, which RingCentral echoes in every delivery. We keep only SHA-256
hashes of our tokens and look a presented token up by its hash; the lookup's timing can reveal
nothing useful about a token because the attacker does not control the hash. The fallback token
from the settings is compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol


def token_hash(token: str | bytes) -> bytes:
    raw = token.encode() if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """A token we gave RingCentral; `subscription_id` is None while its create call is in flight."""

    subscription_id: str | None


class TokenHashSource(Protocol):
    async def lookup(self, digest: bytes) -> TokenEntry | None: ...


@dataclass(frozen=True, slots=True)
class Verdict:
    accepted: bool
    subscription_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class KnownToken:
    """A presented token we recognise: the fallback token, or one we gave a subscription."""

    fallback: bool
    entry: TokenEntry | None

    def verdict(self, subscription_id: str | None) -> Verdict:
        """Whether the token may deliver a notification naming `subscription_id` (None when the
        body could not be read)."""
        if self.fallback:
            return Verdict(True, subscription_id, "fallback_token")
        assert self.entry is not None
        bound_to = self.entry.subscription_id
        if bound_to is None or subscription_id is None or bound_to == subscription_id:
            return Verdict(True, subscription_id or bound_to, "subscription_token")
        return Verdict(False, subscription_id, "token_of_another_subscription")


class TokenVerifier:
    """Accepts a token if it is one we set for that subscription, or the fallback token.

    In two steps, so that the webhook can refuse a token it does not know before it reads the
    body (`recognise`), and match the token to the body's subscription after (`KnownToken`)."""

    def __init__(self, source: TokenHashSource, *, fallback_token: str | None = None) -> None:
        self._source = source
        self._fallback = token_hash(fallback_token) if fallback_token else None

    async def recognise(self, token: bytes) -> KnownToken | None:
        """The token, if it is one of ours; None for any other."""
        digest = token_hash(token)
        if self._fallback is not None and hmac.compare_digest(self._fallback, digest):
            return KnownToken(fallback=True, entry=None)
        entry = await self._source.lookup(digest)
        return None if entry is None else KnownToken(fallback=False, entry=entry)

    async def verify(self, *, subscription_id: str | None, token: bytes) -> Verdict:
        """Verify a token presented with a notification naming `subscription_id` (None when the
        body could not be read)."""
        known = await self.recognise(token)
        if known is None:
            return Verdict(False, subscription_id, "unknown_token")
        return known.verdict(subscription_id)
