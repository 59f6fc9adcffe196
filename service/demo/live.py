"""`callsift run` without a RingCentral app: the live demo.

The embedded emulator starts with the service; once the service accepts connections (the
subscription handshake needs it), the demo company is registered and calls of every kind are
played in real time, a few at a time, for as long as the service runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

import httpx
import structlog

from service.demo.company import demo_api_key, register_company
from service.demo.platform import DemoPlatform
from service.services import Services

log = structlog.get_logger(__name__)

BACKFILL_CALLS = 30
CALLS_PER_ROUND = 12
# a few calls lose their webhooks (all, or the first events), as a real outage would: the
# call-log sync gives them their outcome ("from the call log alone" on the dashboard)
LOSE_WEBHOOKS = 0.1
STARTUP_TIMEOUT_S = 60.0


class LiveDemo:
    def __init__(self, platform: DemoPlatform, *, users: int = 4, spacing_s: float = 6.0) -> None:
        self.platform = platform
        self._users = users
        self._spacing_s = spacing_s
        self._task: asyncio.Task[None] | None = None

    async def start(self, services: Services) -> None:
        await self.platform.start()
        self._task = asyncio.create_task(self._drive(services), name="callsift-demo")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.platform.stop()

    async def _drive(self, services: Services) -> None:
        base_url = f"http://{services.settings.host}:{services.settings.port}"
        try:
            await _wait_until_serving(base_url)
            results = await register_company(services, self.platform, users=self._users)
            key = await demo_api_key(services.engine, now=services.clock())
        except Exception:
            log.exception("demo.setup_failed")
            return
        log.warning(
            "demo.ready",
            banner="DEMO MODE: simulated RingCentral account, no real calls",
            dashboard=f"{base_url}/dashboard",
            subscriptions=[f"{r.extension_id}:{r.action.value}" for r in results],
        )
        sys.stdout.write(ready_banner(base_url, key))
        sys.stdout.flush()
        # calls that "just happened" fill the dashboard at once; then calls arrive live
        await self.platform.play(
            BACKFILL_CALLS, seed=0, chaos=False, realtime=False, lose_webhooks=LOSE_WEBHOOKS
        )
        round_number = 1
        while True:
            play = await self.platform.play(
                CALLS_PER_ROUND,
                seed=round_number,
                chaos=False,
                realtime=True,
                spacing_s=self._spacing_s,
                lose_webhooks=LOSE_WEBHOOKS,
            )
            await play.wait()
            round_number += 1


def ready_banner(base_url: str, key: str) -> str:
    """What a person at the terminal needs, on stdout, apart from the log (which is on stderr
    and never holds the key)."""
    lines = [
        "callsift is running in DEMO MODE: an emulated RingCentral account plays calls.",
        "",
        f"  Dashboard   {base_url}/dashboard#key={key}",
        f"  API key     {key}   (Authorization: Bearer ...)",
        f"  API docs    {base_url}/docs",
        "",
        "Ctrl-C stops it; a restart keeps the calls and the key (./.callsift-demo-key).",
        'To use your own account, see the README: "Connect your RingCentral account".',
    ]
    rule = "=" * min(max(len(line) for line in lines), 78)
    return "\n".join(["", rule, *lines, rule, ""]) + "\n"


async def _wait_until_serving(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0) as client:
        async with asyncio.timeout(STARTUP_TIMEOUT_S):
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
