"""The webhook fast path sends only `POST /webhooks/ringcentral` around FastAPI's stack; every
other request and the lifespan reach the app unchanged. `with_fast_paths` is what `callsift run`
serves: the webhook check first, then the poll shortcut, then the app."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from service.api.poll_shortcut import PollShortcut
from service.app import with_fast_paths
from service.webhooks.fastpath import WebhookFastPath, webhook_endpoint_of, webhook_fast_path
from tests.conftest import LiveService


@dataclass
class RecordingApp:
    """The app behind the fast path, noting the method and path of every request it gets."""

    app: FastAPI
    seen: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((scope.get("method", ""), scope.get("path", "")))
        await self.app(scope, receive, send)


async def test_the_webhook_is_answered_without_the_app(service: LiveService) -> None:
    behind = RecordingApp(service.app)
    fast = WebhookFastPath(behind, webhook_endpoint_of(service.app))
    transport = httpx.ASGITransport(app=fast)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        handshake = await client.post("/webhooks/ringcentral", headers={"Validation-Token": "v"})
        assert handshake.status_code == 200
        assert handshake.headers["validation-token"] == "v"
        assert behind.seen == []
        # other methods of the same path, and other routes, are still the app's
        assert (await client.get("/webhooks/ringcentral")).status_code == 405
        assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert behind.seen == [("GET", "/webhooks/ringcentral"), ("GET", "/healthz")]


async def test_the_served_app_answers_through_its_fast_paths(service: LiveService) -> None:
    handshake = await service.client.post(
        "/webhooks/ringcentral", headers={"Validation-Token": "fast"}
    )
    assert handshake.status_code == 200
    assert handshake.headers["validation-token"] == "fast"
    assert (await service.client.get("/openapi.json")).status_code == 200


def test_with_fast_paths_checks_the_webhook_first(service: LiveService) -> None:
    served = with_fast_paths(service.app)
    assert isinstance(served, WebhookFastPath)
    assert served.endpoint is webhook_endpoint_of(service.app)
    assert isinstance(served.app, PollShortcut)
    assert served.app.app is service.app


def test_it_hands_the_same_endpoint_object(service: LiveService) -> None:
    wrapped = webhook_fast_path(service.app)
    route = next(r for r in service.app.router.routes if getattr(r, "path", "") == wrapped.path)
    assert wrapped.endpoint is route.app  # type: ignore[attr-defined]
    assert wrapped.app is service.app


def test_an_app_without_the_webhook_is_refused() -> None:
    with pytest.raises(LookupError):
        webhook_fast_path(FastAPI())
