"""Liveness, readiness and metrics routes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.errors import error_response
from service.responses import OrjsonResponse
from service.services import services_of

router = APIRouter(tags=["health"])

READINESS_TIMEOUT_S = 2.0


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers", response_model=None)
async def readyz(request: Request) -> OrjsonResponse:
    """200 while the database answers, saying where the processor runs and whether it is alive
    (a dead processor delays outcomes but loses nothing: the webhook stays ready)."""
    services = services_of(request)
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_S):
            async with services.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # readiness reports any database failure as not ready
        return error_response(
            503, "database_unavailable", f"database unreachable: {type(exc).__name__}"
        )
    mode = "demo" if services.settings.demo_mode else "live"
    return OrjsonResponse(
        {
            "status": "ready",
            "database": services.engine.dialect.name,
            "mode": mode,
            "processor": services.processor_status(),
        }
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry = services_of(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
