"""API key material: a recognisable prefix plus 32 random bytes, stored only as a SHA-256 digest.

A key looks like `csk_<43 urlsafe base64 characters>`. The prefix lets secret scanners and people
recognise a leaked key; the first characters after it are kept (as `prefix`) so a key can be
told apart in listings without storing anything that could authenticate.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "csk_"
RANDOM_BYTES = 32
SHOWN_CHARACTERS = 12


@dataclass(frozen=True, slots=True)
class NewKey:
    """A freshly generated key: `secret` is shown once and never stored."""

    secret: str
    prefix: str
    digest: str


def digest_of(secret: str) -> str:
    """The stored form of a key: hex SHA-256 of its text."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> NewKey:
    secret = KEY_PREFIX + secrets.token_urlsafe(RANDOM_BYTES)
    return NewKey(secret=secret, prefix=secret[:SHOWN_CHARACTERS], digest=digest_of(secret))


def bearer_secret(authorization: str) -> str | None:
    """The key in an `Authorization: Bearer <key>` header value, else None."""
    scheme, _, secret = authorization.partition(" ")
    secret = secret.strip()
    return secret if scheme.lower() == "bearer" and secret else None


def looks_like_key(secret: str) -> bool:
    """Cheap shape check, so obviously wrong tokens never reach the database."""
    return secret.startswith(KEY_PREFIX) and 20 <= len(secret) <= 128
