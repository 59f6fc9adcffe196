"""Test helpers: a running emulator with an HTTP client, webhook receivers, and login shortcuts."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
from fastapi import FastAPI

from emulator.state import Emulator

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TELEPHONY_ACCOUNT = "/restapi/v1.0/account/~/telephony/sessions"
TELEPHONY_EXTENSION = "/restapi/v1.0/account/~/extension/~/telephony/sessions"
VOICEMAIL = "/restapi/v1.0/account/~/extension/~/voicemail"
ACCOUNT_CALL_LOG = "/restapi/v1.0/account/~/call-log"
ACCOUNT_CALL_LOG_SYNC = "/restapi/v1.0/account/~/call-log-sync"
USERS = ("Alice Adams", "Bob Brown", "Carol Chen", "Dan Diaz", "Erin Evans")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass(slots=True)
class Receiver:
    """A webhook target (raw ASGI app) that records requests and answers as told.

    `gate`: when set, every answer waits for the event, so a test controls "slow" precisely.
    """

    status: int = 200
    echo: bool = True
    body: bytes = b""
    gate: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    base_url: str = ""
    arrival: asyncio.Event = field(default_factory=asyncio.Event)  # set by every request

    @property
    def url(self) -> str:
        return f"{self.base_url}/hook"

    @property
    def notifications(self) -> list[Received]:
        return [r for r in self.requests if "validation-token" not in r.headers]

    @property
    def handshakes(self) -> list[Received]:
        return [r for r in self.requests if "validation-token" in r.headers]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        path: str = scope["path"]
        self.requests.append(Received(path, headers, b"".join(chunks)))
        self.arrival.set()
        if self.gate is not None:
            await self.gate.wait()
        out = [(b"content-type", b"application/json")]
        token = headers.get("validation-token")
        if token is not None and self.echo:
            out.append((b"validation-token", token.encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": out})
        await send({"type": "http.response.body", "body": self.body})


@dataclass(frozen=True, slots=True)
class Login:
    access_token: str
    refresh_token: str
    info: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


@dataclass(slots=True)
class Platform:
    """The emulator on a real socket, a client for it, and one app plus the demo account."""

    app: FastAPI
    base_url: str
    client: httpx.AsyncClient
    client_id: str = ""
    client_secret: str = ""
    account: dict[str, Any] = field(default_factory=dict)

    @property
    def emulator(self) -> Emulator:
        emulator: Emulator = self.app.state.emulator
        return emulator

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, f"/_emulator{path}", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    async def setup(self) -> None:
        app = await self.admin("POST", "/apps", {"name": "tests"})
        self.client_id, self.client_secret = app["clientId"], app["clientSecret"]
        self.account = await self.admin("POST", "/accounts", {"demo": True})

    def extension(self, name: str) -> str:
        """Extension id by name (e.g. "Alice Adams", "Sales Queue")."""
        found: str = next(e["id"] for e in self.account["extensions"] if e["name"] == name)
        return found

    @property
    def account_id(self) -> str:
        account_id: str = self.account["id"]
        return account_id

    def basic(self, client_id: str | None = None, secret: str | None = None) -> dict[str, str]:
        raw = f"{client_id or self.client_id}:{secret or self.client_secret}".encode()
        return {"Authorization": f"Basic {base64.b64encode(raw).decode()}"}

    async def jwt(self, extension_id: str, client_id: str | None = None) -> str:
        issued = await self.admin(
            "POST", "/jwt", {"extensionId": extension_id, "clientId": client_id or self.client_id}
        )
        token: str = issued["jwt"]
        return token

    async def token(
        self, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            "/restapi/oauth/token", data=form, headers=headers or self.basic()
        )

    async def login(self, extension_id: str, **extra: str) -> Login:
        assertion = await self.jwt(extension_id)
        response = await self.token({"grant_type": JWT_GRANT, "assertion": assertion, **extra})
        assert response.status_code == 200, response.text
        info = response.json()
        return Login(info["access_token"], info.get("refresh_token", ""), info)

    async def refresh(self, refresh_token: str) -> httpx.Response:
        return await self.token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def rest(self, login: Login, path: str, **params: Any) -> httpx.Response:
        """A GET on the RingCentral API as `login`."""
        return await self.client.get(path, params=params, headers=login.headers)

    async def records(self, login: Login, path: str = ACCOUNT_CALL_LOG, **params: Any) -> Any:
        """The `records` of a call-log list or sync answer (which must be 200)."""
        response = await self.rest(login, path, **params)
        assert response.status_code == 200, response.text
        return response.json()["records"]

    async def advance_to(self, moment: datetime) -> None:
        """Move the simulated clock to `moment` (if it is still ahead)."""
        await self.emulator.advance(max(0.0, (moment - self.emulator.now()).total_seconds()))

    async def subscribe(
        self,
        login: Login,
        address: str,
        filters: list[str],
        *,
        token: str | None = "verify-me",  # noqa: S107 - a test value
        **extra: Any,
    ) -> httpx.Response:
        mode: dict[str, Any] = {"transportType": "WebHook", "address": address}
        if token is not None:
            mode["verificationToken"] = token
        body = {"eventFilters": filters, "deliveryMode": mode, **extra}
        return await self.client.post(
            "/restapi/v1.0/subscription", json=body, headers=login.headers
        )


def error_code(response: httpx.Response) -> str:
    """The first `errors[].errorCode` of a RingCentral error body."""
    code: str = response.json()["errors"][0]["errorCode"]
    return code
