"""The webhook fast path sends only `POST /webhooks/ringcentral` around FastAPI's stack; every
other request and the lifespan reach the app unchanged."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from service.webhooks.fastpath import WebhookFastPath, webhook_fast_path
from tests.conftest import LiveService


async def test_the_served_app_takes_the_fast_path(service: LiveService) -> None:
    handshake = await service.client.post(
        "/webhooks/ringcentral", headers={"Validation-Token": "fast"}
    )
    assert handshake.status_code == 200
    assert handshake.headers["validation-token"] == "fast"
    # other methods of the same path, and other routes, are still the app's
    assert (await service.client.get("/webhooks/ringcentral")).status_code == 405
    assert (await service.client.get("/healthz")).json() == {"status": "ok"}
    assert (await service.client.get("/openapi.json")).status_code == 200


def test_it_hands_the_same_endpoint_object(service: LiveService) -> None:
    wrapped = webhook_fast_path(service.app)
    route = next(r for r in service.app.router.routes if getattr(r, "path", "") == wrapped.path)
    assert isinstance(wrapped, WebhookFastPath)
    assert wrapped.endpoint is route.app  # type: ignore[attr-defined]
    assert wrapped.app is service.app


def test_an_app_without_the_webhook_is_refused() -> None:
    with pytest.raises(LookupError):
        webhook_fast_path(FastAPI())
