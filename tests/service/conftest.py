"""Fixtures of the service tests: the service without its background processor."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from service.app import create_app
from service.serving import serve
from service.settings import Settings


@pytest.fixture
def manual_settings(settings: Settings) -> Settings:
    """The service without its background processor: tests drive the processor themselves."""
    return settings.model_copy(update={"processor_enabled": False})


@pytest.fixture
async def ingest_only(manual_settings: Settings) -> AsyncIterator[str]:
    async with serve(create_app(manual_settings)) as server:
        yield server.base_url
