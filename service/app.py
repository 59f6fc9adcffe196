"""The application factory: `create_app(settings)` builds the whole service, connecting nothing.

The lifespan starts the workers (the group-commit writer) and disposes the engine on shutdown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from service import health
from service.db.engine import create_engine
from service.errors import install_error_handlers
from service.metrics import Metrics
from service.settings import Settings
from service.state import Services
from service.webhooks.endpoint import WebhookEndpoint
from service.webhooks.verification import StaticTokenHashes, TokenVerifier
from service.webhooks.writer import GroupCommitWriter

WEBHOOK_PATH = "/webhooks/ringcentral"


def create_app(settings: Settings) -> FastAPI:
    engine = create_engine(settings)
    metrics = Metrics()
    writer = GroupCommitWriter(
        engine, max_batch=settings.ingest_max_batch, on_batch=metrics.record_batch
    )
    fallback = settings.webhook_verification_token
    verifier = TokenVerifier(
        StaticTokenHashes(),
        fallback_token=fallback.get_secret_value() if fallback else None,
    )
    services = Services(
        settings=settings, engine=engine, metrics=metrics, writer=writer, verifier=verifier
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await writer.start()
        try:
            yield
        finally:
            await writer.stop()
            await engine.dispose()

    app = FastAPI(
        title="callsift",
        summary="RingCentral call events in, trustworthy call outcomes out.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.router.routes.append(
        Route(
            WEBHOOK_PATH,
            WebhookEndpoint(
                writer=writer,
                verifier=verifier,
                metrics=metrics,
                max_body_bytes=settings.max_body_bytes,
            ),
            methods=["POST"],
            include_in_schema=False,
        )
    )
    app.include_router(health.router)
    return app
