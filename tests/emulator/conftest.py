"""Fixtures: the emulator on a real loopback socket (with an app and the demo account) and
webhook receivers; factories take `EmulatorConfig` overrides."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from emulator.app import create_emulator_app
from emulator.config import EmulatorConfig
from service.serving import serve
from tests.emulator.helpers import Login, Platform, Receiver

PlatformFactory = Callable[..., Awaitable[Platform]]
ReceiverFactory = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def stack() -> AsyncIterator[contextlib.AsyncExitStack]:
    async with contextlib.AsyncExitStack() as exits:
        yield exits


@pytest.fixture
def make_platform(stack: contextlib.AsyncExitStack) -> PlatformFactory:
    async def make(**overrides: Any) -> Platform:
        config = EmulatorConfig(**{"seed": 7, "timer_tick_s": 0.0, **overrides})
        app = create_emulator_app(config)
        server = await stack.enter_async_context(serve(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=30)
        )
        platform = Platform(app, server.base_url, client)
        await platform.setup()
        return platform

    return make


@pytest.fixture
def make_receiver(stack: contextlib.AsyncExitStack) -> ReceiverFactory:
    async def make(**settings: Any) -> Receiver:
        receiver = Receiver(**settings)
        server = await stack.enter_async_context(serve(receiver, lifespan="off"))
        receiver.base_url = server.base_url
        # registered after serve(): exits run last-in first-out, so the gate opens first and
        # the server can finish any request it is still holding
        stack.callback(lambda: receiver.gate.set() if receiver.gate else None)
        return receiver

    return make


@pytest.fixture
async def platform(make_platform: PlatformFactory) -> Platform:
    return await make_platform()


@pytest.fixture
async def receiver(make_receiver: ReceiverFactory) -> Receiver:
    return await make_receiver()


@pytest.fixture
async def alice(platform: Platform) -> Login:
    """Alice Adams (ext 101, the account's main extension), logged in."""
    return await platform.login(platform.extension("Alice Adams"))
