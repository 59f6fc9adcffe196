"""Deterministic identifiers in RingCentral's formats, drawn from a seeded random generator.

Formats follow the real captures: session `s-<32 hex>` or the newer `s-a0d1...z<ms hex>z...0000`,
party `p-<same stem>-N`, numeric account/extension ids ending in the brand suffix `016`, 19-digit
notification uuids, `10.x.x.x.TAM` server ids, 15-character call-log record ids.
"""

from __future__ import annotations

import base64
import random
import string
import uuid
from collections.abc import Sequence
from datetime import datetime

from emulator.config import SessionIdStyle

BRAND_SUFFIX = "016"
_RECORD_ID_ALPHABET = string.ascii_letters + string.digits + "_-"


class Ids:
    """Every id the emulator hands out comes from here, so one seed reproduces a whole run.
    With `regulars`, a share of the outside numbers is one of them: the same people calling
    again, or being called back."""

    REGULAR_SHARE = 0.5

    def __init__(self, rng: random.Random, *, regulars: Sequence[str] = ()) -> None:
        self.rng = rng
        self.regulars = tuple(regulars)

    def hex(self, length: int) -> str:
        return f"{self.rng.getrandbits(4 * length):0{length}x}"

    def digits(self, length: int) -> str:
        return str(self.rng.randint(10 ** (length - 1), 10**length - 1))

    def account_id(self) -> str:
        return self.digits(6) + BRAND_SUFFIX

    def extension_id(self) -> str:
        return self.digits(8) + BRAND_SUFFIX

    def legacy_session_id(self) -> str:
        return self.digits(9) + BRAND_SUFFIX

    def message_id(self) -> str:
        return self.digits(8) + BRAND_SUFFIX

    def device_id(self) -> str:
        return self.digits(9) + BRAND_SUFFIX

    def server_id(self) -> str:
        return f"10.13.{self.rng.randint(20, 29)}.{self.rng.randint(2, 250)}.TAM"

    def session_stem(self, style: SessionIdStyle, at: datetime) -> str:
        """The hex stem shared by a telephony session id and its party ids."""
        if style == "mixed":
            style = "new" if self.rng.random() < 0.5 else "classic"
        if style == "classic":
            return self.hex(32)
        millis = int(at.timestamp() * 1000)
        return f"a0d1{self.hex(9)}z{millis:x}z{self.hex(7)}0000"

    def notification_uuid(self) -> str:
        """Telephony notifications carry a 19-digit decimal uuid (as in every capture)."""
        return str(self.rng.randint(10**18, 2**63 - 1))

    def uuid4(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def b64(self, n_bytes: int) -> str:
        return base64.urlsafe_b64encode(self.rng.randbytes(n_bytes)).decode().rstrip("=")

    def token(self) -> str:
        """An opaque OAuth token shaped like RingCentral's (`U1BCMDFU...`-style base64)."""
        prefix = base64.b64encode(b"EMU01T04JWS01|s").decode()
        return prefix + self.b64(30)

    def endpoint_id(self) -> str:
        return self.b64(16)[:22]

    def call_log_record_id(self) -> str:
        body = "".join(self.rng.choice(_RECORD_ID_ALPHABET) for _ in range(13))
        return body + "UA"

    def phone_number(self, area: str = "650") -> str:
        return f"+1{area}555{self.digits(4)}"

    def external_number(self) -> str:
        if self.regulars and self.rng.random() < self.REGULAR_SHARE:
            return self.rng.choice(self.regulars)
        area = self.rng.choice(["212", "312", "408", "415", "503", "617", "720", "919"])
        return f"+1{area}{self.rng.randint(200, 999)}{self.digits(4)}"


def regular_numbers(count: int, seed: int) -> list[str]:
    """The outside numbers that call again and again (`EmulatorConfig.regular_callers`)."""
    ids = Ids(random.Random(f"{seed}:regulars"))
    return [ids.external_number() for _ in range(count)]
