"""Objects the API shares across requests of one process (held by `service.state.Services`)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from service.api.summary import SummaryCache
from service.apikeys.verifier import VerifiedKeys
from service.settings import Settings


class ApiState:
    def __init__(self, settings: Settings) -> None:
        self.verified_keys = VerifiedKeys(settings.api_key_cache_s)
        self.summaries = SummaryCache(
            zone=ZoneInfo(settings.report_tz),
            max_age_s=settings.summary_max_age_s,
            sla_s=settings.sla_s,
        )
