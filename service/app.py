"""The application factory: `create_app(settings)` builds the whole service, connecting nothing.

The lifespan starts the workers (group-commit writer, processor, subscription loop) and stops them
and disposes the engine on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp

from service import health
from service.api.poll_shortcut import PollShortcut
from service.api.routes import api_router
from service.dashboard.routes import router as dashboard_router
from service.docs_page import install_docs
from service.errors import install_error_handlers
from service.processing.worker import utc_now
from service.services import Companion, build_services
from service.settings import Settings
from service.webhooks.endpoint import WebhookEndpoint
from service.webhooks.fastpath import WEBHOOK_PATH, WebhookFastPath, webhook_endpoint_of


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    companion: Companion | None = None,
) -> FastAPI:
    services = build_services(settings, clock=clock)
    services.companion = companion

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        try:
            yield
        finally:
            await services.stop()

    app = FastAPI(
        title="callsift",
        summary="RingCentral call events in, trustworthy call outcomes out.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by service.docs_page, without a CDN
        redoc_url=None,
    )
    app.state.services = services
    install_error_handlers(app, statement_timeout_s=settings.api_statement_timeout_s)
    app.router.routes.append(
        Route(
            WEBHOOK_PATH,
            WebhookEndpoint(
                writer=services.writer,
                verifier=services.verifier,
                metrics=services.metrics,
                max_body_bytes=settings.max_body_bytes,
            ),
            methods=["POST"],
            include_in_schema=False,
        )
    )
    app.include_router(health.router)
    app.include_router(api_router)
    app.include_router(dashboard_router)
    install_docs(app)
    return app


def with_fast_paths(app: FastAPI) -> ASGIApp:
    """`app` as `callsift run` serves it: the webhook and the caught-up dashboard poll are
    answered without FastAPI's stack (`service.webhooks.fastpath`, `service.api.poll_shortcut`);
    every other request, and the lifespan, reach `app` unchanged. The webhook's check comes
    first: it is the hot path."""
    behind = PollShortcut(app, app.state.services)
    return WebhookFastPath(behind, webhook_endpoint_of(app))
