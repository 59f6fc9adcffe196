"""Encryption at rest for JWT credentials and OAuth tokens (Fernet; MultiFernet for rotation).

`CALLSIFT_SECRET_KEYS` holds one or more Fernet keys separated by commas, newest first: new data
is encrypted with the first, and any of them decrypts. `callsift secrets rotate` re-encrypts every
stored secret with the first key, after which older keys can be dropped.

Outside production, when no key is configured, a key is generated once and kept in a file beside
the working directory (mode 0600) so a development database stays readable across restarts.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

DEV_KEY_FILE = Path(".callsift-secret-key")


class SecretsUnavailable(Exception):
    """No usable key, or a stored secret that none of the keys can decrypt."""


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            msg = "CALLSIFT_SECRET_KEYS is empty: give at least one Fernet key"
            raise SecretsUnavailable(msg)
        try:
            self._fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])
        except ValueError as exc:
            msg = "CALLSIFT_SECRET_KEYS holds a value that is not a Fernet key (url-safe base64)"
            raise SecretsUnavailable(msg) from exc

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        return cls([key for key in value.split(",") if key.strip()])

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            msg = "a stored secret cannot be decrypted with any key in CALLSIFT_SECRET_KEYS"
            raise SecretsUnavailable(msg) from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        """The same secret, encrypted with the newest key."""
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken as exc:
            msg = "a stored secret cannot be decrypted with any key in CALLSIFT_SECRET_KEYS"
            raise SecretsUnavailable(msg) from exc


def development_key(path: Path = DEV_KEY_FILE) -> str:
    """The local development key, created on first use."""
    if path.exists():
        return path.read_text().strip()
    key = Fernet.generate_key().decode()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key
