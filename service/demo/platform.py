"""The emulator embedded in this process on its own loopback port, set up as a small company
(five users, a call queue, an IVR menu) with an app whose credentials the demo settings use."""

from __future__ import annotations

import contextlib
import random
import socket
from dataclasses import dataclass

from pydantic import SecretStr

from emulator.app import create_emulator_app
from emulator.config import ChaosConfig, EmulatorConfig
from emulator.directory import Account
from emulator.player import Play
from emulator.scenarios import KINDS, Topology
from emulator.state import Emulator
from service.serving import bind_loopback, serve
from service.settings import Settings

DEMO_CLIENT_ID = "callsift-demo-client"
DEMO_CLIENT_SECRET = "callsift-demo-secret"  # noqa: S105 (the embedded emulator's, not a real one)
ADMIN_NAME = "Alice Adams"


@dataclass(frozen=True, slots=True)
class Credential:
    extension_id: str
    name: str
    jwt: str
    account_level: bool


def chaos_config(*, chaos: bool, lose_webhooks: float) -> ChaosConfig:
    """Duplicated and reordered deliveries (`chaos`), and `lose_webhooks` of the calls losing
    their webhooks: half all of them, half the first events of the call."""
    whole = lose_webhooks / 2
    starts = whole / (1 - whole) if whole < 1 else 0.0  # drawn among the calls not lost whole
    return ChaosConfig(
        duplicate=0.15 if chaos else 0.0,
        reorder_window=8 if chaos else 0,
        lose_calls=whole,
        lose_starts=starts,
    )


# callers who call again and are called back, so the callback list and recoveries have data
REGULAR_CALLERS = 10


class DemoPlatform:
    """The emulator, bound to a port at construction so the settings can name it at once."""

    def __init__(
        self, *, seed: int, calls_seed: int | None = None, timer_tick_s: float = 1.0
    ) -> None:
        self._socket: socket.socket = bind_loopback()
        host, port = self._socket.getsockname()[:2]
        self.base_url = f"http://{host}:{port}"
        config = EmulatorConfig(
            seed=seed,
            calls_seed=calls_seed,
            server_url=self.base_url,
            timer_tick_s=timer_tick_s,
            regular_callers=REGULAR_CALLERS,
        )
        self._app = create_emulator_app(config)
        self.emulator: Emulator = self._app.state.emulator
        self.emulator.create_app(
            name="callsift demo", client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET
        )
        self.account: Account = self.emulator.create_demo_account("Demo Company")
        self._rng = random.Random(seed)
        self._stack = contextlib.AsyncExitStack()

    def settings_for(self, settings: Settings, *, webhook_url: str) -> Settings:
        """`settings` pointed at this platform."""
        return settings.model_copy(
            update={
                "rc_server": self.base_url,
                "rc_client_id": DEMO_CLIENT_ID,
                "rc_client_secret": SecretStr(DEMO_CLIENT_SECRET),
                "webhook_url": webhook_url,
                "demo_mode": True,
            }
        )

    async def start(self) -> None:
        await self._stack.enter_async_context(serve(self._app, sock=self._socket))

    async def stop(self) -> None:
        await self._stack.aclose()

    def credentials(self, users: int) -> list[Credential]:
        """The admin's JWT (account-level view) and up to `users` other users' JWTs."""
        people = sorted(
            (e for e in self.account.extensions.values() if e.kind == "User"),
            key=lambda e: e.extension_number or "",
        )
        admin = next(e for e in people if e.name == ADMIN_NAME)
        others = [e for e in people if e is not admin][:users]
        return [
            Credential(e.id, e.name, self.emulator.issue_jwt(e.id, DEMO_CLIENT_ID), e is admin)
            for e in [admin, *others]
        ]

    @property
    def call_log_delay_s(self) -> float:
        """How long after a call ends its final call-log record appears."""
        return self.emulator.config.call_log_delay_s

    def demo_kinds(self, count: int) -> list[str]:
        """`count` scenario kinds drawn by weight, among those the demo company can play."""
        topology = Topology.of(self.account)
        playable = [kind for kind in KINDS.values() if not topology.missing(kind.needs)]
        weights = [kind.weight for kind in playable]
        return self._rng.choices([kind.name for kind in playable], weights=weights, k=count)

    async def play(
        self,
        count: int,
        *,
        seed: int,
        chaos: bool,
        realtime: bool,
        spacing_s: float = 15.0,
        lose_webhooks: float = 0.0,
    ) -> Play:
        """Play `count` calls: `realtime` paces them on the clock, otherwise they are delivered
        at once as calls that have just happened. `lose_webhooks` is the share of calls whose
        webhooks are lost: half of them all of them, half their first events."""
        return await self.emulator.play(
            self.demo_kinds(count),
            count=1,
            seed=seed,
            pacing="realtime" if realtime else "instant",
            spacing_s=spacing_s,
            chaos=chaos_config(chaos=chaos, lose_webhooks=lose_webhooks),
            wait=not realtime,
        )
