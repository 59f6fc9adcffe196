"""Apps (client id/secret), accounts, extensions with their kinds, per-extension JWT credentials.

This is what the Developer Console and the admin portal hold on the real platform. JWT credentials
look like RS256 JWTs (header `kid`/`typ`/`alg`, claims `aud`, `sub` = extension id, `iss`, `iat`,
`jti`); only the emulator reads them, by looking them up.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from emulator.ids import Ids

DEFAULT_SCOPE = (
    "CallControl",
    "ReadAccounts",
    "ReadCallLog",
    "ReadMessages",
    "SubscriptionWebhook",
)

EXTENSION_TYPES = frozenset(
    {
        "User", "Department", "Announcement", "Voicemail", "DigitalUser", "VirtualUser",
        "FaxUser", "PagingOnly", "SharedLinesGroup", "DelegatedLinesGroup", "GroupCallPickup",
        "IvrMenu", "ApplicationExtension", "ParkLocation", "Limited", "Bot", "Site", "Room",
        "Unknown",
    }
)  # fmt: skip


class DirectoryError(ValueError):
    """A bad admin request against the directory (bad kind, duplicate number)."""


class UnknownEntityError(DirectoryError):
    """An id that names no app, account or extension."""


@dataclass(slots=True)
class App:
    """A registered client application (Developer Console)."""

    client_id: str
    client_secret: str
    name: str
    scope: tuple[str, ...] = DEFAULT_SCOPE
    jwt_enabled: bool = True
    issue_refresh_tokens: bool = True


@dataclass(slots=True)
class Extension:
    id: str
    account_id: str
    extension_number: str
    name: str
    kind: str
    phone_number: str | None = None
    status: str = "Enabled"
    members: list[str] = field(default_factory=list)  # call-queue members (Department only)
    device_id: str = ""


@dataclass(slots=True)
class Account:
    id: str
    name: str
    main_number: str
    extensions: dict[str, Extension] = field(default_factory=dict)

    def of_kind(self, kind: str) -> list[Extension]:
        return [e for e in self.extensions.values() if e.kind == kind]


@dataclass(slots=True)
class JwtCredential:
    token: str
    jti: str
    extension_id: str
    account_id: str
    client_id: str | None
    issued_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ExtensionSpec:
    """What the admin API asks for when it creates an extension."""

    kind: str
    name: str
    extension_number: str | None = None
    phone_number: str | None = None
    members: tuple[str, ...] = ()  # extension numbers or ids of queue members


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Directory:
    """All apps, accounts, extensions and JWT credentials of one emulator."""

    def __init__(self, ids: Ids) -> None:
        self._ids = ids
        self.apps: dict[str, App] = {}
        self.accounts: dict[str, Account] = {}
        self.extensions: dict[str, Extension] = {}
        self.jwts: dict[str, JwtCredential] = {}

    def create_app(
        self,
        *,
        name: str = "callsift",
        client_id: str | None = None,
        client_secret: str | None = None,
        scope: Iterable[str] | None = None,
        jwt_enabled: bool = True,
        issue_refresh_tokens: bool = True,
    ) -> App:
        client_id = client_id or self._ids.b64(16)[:22]
        if client_id in self.apps:
            msg = f"client id {client_id!r} already exists"
            raise DirectoryError(msg)
        app = App(
            client_id=client_id,
            client_secret=client_secret or self._ids.b64(32),
            name=name,
            scope=tuple(scope) if scope is not None else DEFAULT_SCOPE,
            jwt_enabled=jwt_enabled,
            issue_refresh_tokens=issue_refresh_tokens,
        )
        self.apps[client_id] = app
        return app

    def create_account(
        self,
        *,
        name: str = "Emulated Company",
        main_number: str | None = None,
        extensions: Iterable[ExtensionSpec] = (),
    ) -> Account:
        account = Account(
            id=self._ids.account_id(), name=name,
            main_number=main_number or self._ids.phone_number("800"),
        )  # fmt: skip
        self.accounts[account.id] = account
        for spec in extensions:
            self.add_extension(account.id, spec)
        return account

    def add_extension(self, account_id: str, spec: ExtensionSpec) -> Extension:
        account = self.account(account_id)
        if spec.kind not in EXTENSION_TYPES:
            msg = f"unknown extension kind {spec.kind!r}; one of {sorted(EXTENSION_TYPES)}"
            raise DirectoryError(msg)
        number = spec.extension_number or self._next_extension_number(account)
        if any(e.extension_number == number for e in account.extensions.values()):
            msg = f"extension number {number} already exists in account {account.id}"
            raise DirectoryError(msg)
        phone = spec.phone_number
        if phone is None and spec.kind in {"User", "Department"}:
            phone = self._ids.phone_number()
        extension = Extension(
            id=self._ids.extension_id() if account.extensions else account.id,
            account_id=account.id,
            extension_number=number,
            name=spec.name,
            kind=spec.kind,
            phone_number=phone,
            device_id=self._ids.device_id(),
        )
        extension.members = [self._member_id(account, m) for m in spec.members]
        account.extensions[extension.id] = extension
        self.extensions[extension.id] = extension
        return extension

    def account(self, account_id: str) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            msg = f"unknown account {account_id!r}"
            raise UnknownEntityError(msg) from None

    def extension(self, extension_id: str) -> Extension:
        try:
            return self.extensions[extension_id]
        except KeyError:
            msg = f"unknown extension {extension_id!r}"
            raise UnknownEntityError(msg) from None

    def issue_jwt(
        self,
        extension_id: str,
        client_id: str | None,
        *,
        now: datetime,
        server_url: str,
        expires_in_s: int | None = None,
    ) -> JwtCredential:
        """A JWT credential for one extension, limited to `client_id` (None: any app)."""
        extension = self.extension(extension_id)
        if client_id is not None and client_id not in self.apps:
            msg = f"unknown client id {client_id!r}"
            raise UnknownEntityError(msg)
        jti = self._ids.uuid4()
        expires_at = now + timedelta(seconds=expires_in_s) if expires_in_s else None
        header = {"kid": self._ids.hex(16), "typ": "JWT", "alg": "RS256"}
        claims: dict[str, object] = {
            "aud": f"{server_url}/restapi/oauth/token",
            "sub": extension.id,
            "iss": server_url,
            "iat": int(now.timestamp()),
            "jti": jti,
        }
        if expires_at is not None:
            claims["exp"] = int(expires_at.timestamp())
        token = ".".join(
            [
                _b64url(json.dumps(header, separators=(",", ":")).encode()),
                _b64url(json.dumps(claims, separators=(",", ":")).encode()),
                _b64url(self._ids.rng.randbytes(256)),
            ]
        )
        credential = JwtCredential(
            token=token, jti=jti, extension_id=extension.id, account_id=extension.account_id,
            client_id=client_id, issued_at=now, expires_at=expires_at,
        )  # fmt: skip
        self.jwts[token] = credential
        return credential

    def revoke_jwt(self, token_or_jti: str, *, now: datetime) -> bool:
        for credential in self.jwts.values():
            if token_or_jti in (credential.token, credential.jti):
                credential.revoked_at = credential.revoked_at or now
                return True
        return False

    def _next_extension_number(self, account: Account) -> str:
        used = {
            int(e.extension_number)
            for e in account.extensions.values()
            if e.extension_number.isdigit()
        }
        number = 101
        while number in used:
            number += 1
        return str(number)

    def _member_id(self, account: Account, member: str) -> str:
        for extension in account.extensions.values():
            if member in (extension.id, extension.extension_number):
                if extension.kind != "User":
                    msg = f"queue member {member!r} is a {extension.kind}, not a User"
                    raise DirectoryError(msg)
                return extension.id
        msg = f"queue member {member!r} is not an extension of account {account.id}"
        raise DirectoryError(msg)


DEMO_EXTENSIONS = (
    ExtensionSpec("User", "Alice Adams", "101"),
    ExtensionSpec("User", "Bob Brown", "102"),
    ExtensionSpec("User", "Carol Chen", "103"),
    ExtensionSpec("User", "Dan Diaz", "104"),
    ExtensionSpec("User", "Erin Evans", "105"),
    ExtensionSpec("Department", "Sales Queue", "200", members=("102", "103", "104")),
    ExtensionSpec("IvrMenu", "Main Menu", "300"),
)
