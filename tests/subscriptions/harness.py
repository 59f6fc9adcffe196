"""The RingCentral emulator and callsift side by side on loopback sockets, sharing one clock.

callsift runs with the emulator as its RingCentral server and the emulator's simulated clock as
its own, so tests can move a week or a month forward and watch tokens and subscriptions. A thin
ASGI wrapper in front of the emulator records the OAuth grants it receives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.app import create_emulator_app
from emulator.config import EmulatorConfig
from emulator.directory import ExtensionSpec
from emulator.state import Emulator
from service.app import create_app
from service.db.tables import event_queue
from service.ringcentral.registry import Registered, add_extension
from service.ringcentral.runtime import RingCentralRuntime
from service.services import Services
from service.serving import bind_loopback, serve
from service.settings import Settings
from subscriptions.lifecycle import Mode, SyncResult

CLIENT_ID = "callsift-test-client"
CLIENT_SECRET = "callsift-test-secret-7f3a"
# the background loops a test drives itself (run_pass, a CallLogLoop of its own): left running,
# they would race the test for the same extensions (a call-log sync finding a revoked credential
# before the lifecycle pass the test awaits)
DRIVEN_BY_THE_TEST: dict[str, Any] = {
    "subscription_loop_enabled": False,
    "calllog_sync_enabled": False,
}


class GrantRecorder:
    """ASGI middleware: remembers the grant_type of every token request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.grants: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/restapi/oauth/token":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def recording_receive() -> Message:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                form = parse_qs(b"".join(chunks).decode())
                self.grants.extend(form.get("grant_type", ["?"]))
            return message

        await self.app(scope, recording_receive, send)

    def count(self, grant_type: str) -> int:
        return sum(1 for grant in self.grants if grant == grant_type)


@dataclass
class Harness:
    emulator: Emulator
    emulator_url: str
    grants: GrantRecorder
    app: FastAPI
    service_url: str
    account_id: str
    jwts: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def runtime(self) -> RingCentralRuntime:
        assert self.services.ringcentral is not None
        return self.services.ringcentral

    def user_ids(self) -> list[str]:
        account = self.emulator.directory.account(self.account_id)
        return sorted(e.id for e in account.extensions.values() if e.kind == "User")

    async def register(self, extension_id: str, mode: Mode = Mode.EXTENSION) -> Registered:
        jwt = self.emulator.issue_jwt(extension_id, CLIENT_ID)
        self.jwts[extension_id] = jwt
        return await add_extension(self.services.engine, self.runtime, jwt=jwt, mode=mode)

    async def run_pass(self) -> list[SyncResult]:
        assert self.services.subscriptions is not None
        return await self.services.subscriptions.run_pass()

    async def advance(self, seconds: float) -> None:
        """Move the shared clock, then let the processor take in what the emulator sent because
        of it (renewal reminders), so the next pass sees a settled state."""
        await self.emulator.advance(seconds)
        await self.settle()

    async def settle(self) -> None:
        async with asyncio.timeout(30):
            while await self._unprocessed_events():
                self.services.processor.wake()
                await asyncio.sleep(0.01)

    async def _unprocessed_events(self) -> int:
        async with self.services.engine.connect() as connection:
            pending = await connection.scalar(select(func.count()).select_from(event_queue))
        return int(pending or 0)

    def live_subscriptions(self) -> dict[str, Any]:
        """extension id -> its deliverable subscription at the emulator."""
        now = self.emulator.now()
        return {
            s.owner_extension_id: s
            for s in self.emulator.list_subscriptions()
            if s.deliverable(now)
        }


@contextlib.asynccontextmanager
async def running(
    database_url: str,
    *,
    users: int = 3,
    emulator_config: EmulatorConfig | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Harness]:
    emulator_app = create_emulator_app(emulator_config or EmulatorConfig(seed=11, timer_tick_s=0))
    emulator: Emulator = emulator_app.state.emulator
    grants = GrantRecorder(emulator_app)
    service_socket = bind_loopback()
    service_url = "http://{}:{}".format(*service_socket.getsockname()[:2])
    async with contextlib.AsyncExitStack() as stack:
        emulator_server = await stack.enter_async_context(serve(grants))
        emulator.create_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
        specs = [ExtensionSpec("User", f"User {n}", str(100 + n)) for n in range(1, users + 1)]
        account = emulator.create_account(name="Test Company", extensions=specs)
        settings = Settings(
            _env_file=None,
            database_url=database_url,
            rc_server=emulator_server.base_url,
            rc_client_id=CLIENT_ID,
            rc_client_secret=SecretStr(CLIENT_SECRET),
            secret_keys=SecretStr(Fernet.generate_key().decode()),
            webhook_url=f"{service_url}/webhooks/ringcentral",
            processor_poll_interval_s=0.05,
            **{**DRIVEN_BY_THE_TEST, **settings_overrides},
        )
        app = create_app(settings, clock=emulator.now)
        await stack.enter_async_context(serve(app, sock=service_socket))
        yield Harness(
            emulator=emulator,
            emulator_url=emulator_server.base_url,
            grants=grants,
            app=app,
            service_url=service_url,
            account_id=account.id,
        )
