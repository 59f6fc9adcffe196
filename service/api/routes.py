"""The /v1 router: every route behind the API-key check."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from service.api import abandoned, calls, directory, export, extensions, info, stats, trend
from service.api.deps import require_api_key
from service.api.params import reject_nul, reject_unknown_parameters

api_router = APIRouter(
    prefix="/v1",
    dependencies=[
        Depends(require_api_key),
        Depends(reject_nul),
        Depends(reject_unknown_parameters),
    ],
)
for module in (export, calls, abandoned, stats, trend, extensions, directory, info):
    api_router.include_router(module.router)
