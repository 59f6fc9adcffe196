"""The webhook's way around the framework: `POST /webhooks/ringcentral` straight to its endpoint.

The webhook route is already a plain ASGI endpoint, but a request still crosses FastAPI's
`__call__` (its telemetry check reads the environment), five middleware layers and the router
before it gets there: about a quarter of the CPU a notification costs (bench/results/latest.md).
`webhook_fast_path(app)` returns an ASGI callable that hands exactly that method and path to the
same endpoint object and everything else (other routes, other methods, lifespan) to the app,
unchanged. It stays in the same process and app: one endpoint, one writer, one metrics registry.

What the skipped layers would have done for this route is already the endpoint's own job: it
never raises into the server (errors are answered as JSON by the endpoint), it reads the body
itself with its own size limit, and it has no dependencies or exception handlers.

    config = uvicorn.Config(webhook_fast_path(create_app(settings)), ...)
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

WEBHOOK_PATH = "/webhooks/ringcentral"


class WebhookFastPath:
    """ASGI: `POST <path>` goes to `endpoint`, every other scope to `app`."""

    def __init__(self, app: ASGIApp, endpoint: ASGIApp, *, path: str = WEBHOOK_PATH) -> None:
        self.app = app
        self.endpoint = endpoint
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            await self.endpoint(scope, receive, send)
            return
        await self.app(scope, receive, send)


def webhook_endpoint_of(app: Starlette, *, path: str = WEBHOOK_PATH) -> ASGIApp:
    """The endpoint object of `app`'s `POST <path>` route."""
    for route in app.router.routes:
        if isinstance(route, Route) and route.path == path and route.methods == {"POST"}:
            return route.app
    msg = f"the app has no POST route at {path}"
    raise LookupError(msg)


def webhook_fast_path(app: Starlette, *, path: str = WEBHOOK_PATH) -> WebhookFastPath:
    """Wrap `app` so its webhook route's endpoint is reached without the middleware stack.

    The route stays registered in the app (405 for other methods, the same endpoint object)."""
    return WebhookFastPath(app, webhook_endpoint_of(app, path=path), path=path)
