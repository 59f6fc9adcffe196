"""`GET /v1/info`: what a client (the dashboard) needs to know about this service."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.api.deps import ERROR_RESPONSES
from service.api.running_service import services_of
from service.api.schemas import Info

router = APIRouter(tags=["info"])


@router.get("/info", response_model=Info, responses=ERROR_RESPONSES, summary="Service facts")
async def info(request: Request) -> Info:
    """Version, demo mode, database kind and the default thresholds the metrics use."""
    services = services_of(request)
    settings = services.settings
    return Info(
        version=request.app.version,
        demo=settings.demo_mode,
        database=services.engine.dialect.name,
        sla_s=settings.sla_s,
        short_abandon_s=settings.short_abandon_s,
        report_tz=settings.report_tz,
    )
