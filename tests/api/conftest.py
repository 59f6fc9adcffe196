"""The API under test: the service on a real socket (processor off: tests drain it themselves),
an API key made with the CLI's own function, and a client that sends it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from service.app import create_app, with_fast_paths
from service.cli.apikeys import create_key
from service.db.engine import create_engine
from service.serving import serve
from service.settings import Settings
from tests.api.day import PROCESSED_AT, day_notifications
from tests.api.support import Notification, drain, post


async def new_key(settings: Settings, name: str = "tests") -> str:
    engine = create_engine(settings)
    try:
        _, key = await create_key(engine, name)
    finally:
        await engine.dispose()
    return key.secret


class FixedClock:
    """The service's clock in tests: it stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# Half a minute after the fixture day's processing: the poll summary's windows end at 13:00.
API_NOW = datetime(2026, 3, 10, 13, 0, 30, tzinfo=UTC)


@dataclass
class Api:
    app: FastAPI
    base_url: str
    client: httpx.AsyncClient
    settings: Settings
    key: str
    clock: FixedClock

    async def json(self, path: str, **params: Any) -> dict[str, Any]:
        """The JSON body of a GET that must succeed (200)."""
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def load(self, notifications: Sequence[Notification], *, now: datetime) -> None:
        """Post through the webhook, then run the processor over everything stored."""
        await post(self.base_url, notifications)
        await drain(self.settings, now=now)


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"processor_enabled": False})


@pytest.fixture
async def api(api_settings: Settings) -> AsyncIterator[Api]:
    key = await new_key(api_settings)
    clock = FixedClock(API_NOW)
    app = create_app(api_settings, clock=clock)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        serve(with_fast_paths(app)) as server,
        httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as client,
    ):
        yield Api(app, server.base_url, client, api_settings, key, clock)


@pytest.fixture
async def day_api(api: Api) -> Api:
    """The API with the fixture day of `tests/api/day.py` stored and processed."""
    await api.load(day_notifications(), now=PROCESSED_AT)
    return api
