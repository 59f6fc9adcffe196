"""What the API reads of the running service (`ApiServices`, found on the app by `services_of`:
`service.services.Services` provides it; the API does not import it), and the caches the API
keeps across the requests of one process (`ApiCaches`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from service.api.summary import SummaryCache
from service.apikeys.verifier import VerifiedKeys
from service.metrics import Metrics
from service.settings import Settings


class ApiCaches:
    """The verified API keys and the dashboard summaries, shared by the requests of a process."""

    def __init__(self, settings: Settings) -> None:
        self.verified_keys = VerifiedKeys(settings.api_key_cache_s)
        self.summaries = SummaryCache(
            zone=ZoneInfo(settings.report_tz),
            max_age_s=settings.summary_max_age_s,
            sla_s=settings.sla_s,
        )


class ApiServices(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def engine(self) -> AsyncEngine: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...
    @property
    def api(self) -> ApiCaches: ...


def services_of(connection: HTTPConnection) -> ApiServices:
    services: ApiServices = connection.app.state.services
    return services
