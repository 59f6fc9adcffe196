"""The objects one running service shares across requests and workers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from service.metrics import Metrics
from service.settings import Settings
from service.webhooks.verification import TokenVerifier
from service.webhooks.writer import GroupCommitWriter


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    metrics: Metrics
    writer: GroupCommitWriter
    verifier: TokenVerifier


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services
