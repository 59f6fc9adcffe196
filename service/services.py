"""The objects one running service shares across requests and workers, and their lifecycle.

`build_services` creates everything without connecting; `start`/`stop` run the workers (the
event loop's lag probe, the group-commit writer, the processor (in this event loop, or in a
process of its own with CALLSIFT_PROCESSOR_MODE=process) and, when RingCentral is configured and
their settings allow, the subscription loop and the call-log loop).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection

from service.api import queries as api_queries
from service.api.running_service import ApiCaches
from service.calllog.loop import CallLogLoop, ExpectationCache
from service.calllog.pacing import busy_since
from service.db.engine import create_engine
from service.looplag import LoopLagProbe
from service.metrics import SERVICE_LOOP, Metrics
from service.processing.standback import LatestReceived, Received
from service.processing.supervisor import ProcessorProcess
from service.processing.worker import ProcessorWorker, processor_of, utc_now
from service.ringcentral.directory import DirectoryCache
from service.ringcentral.loop import SubscriptionLoop
from service.ringcentral.runtime import (
    RingCentralRuntime,
    build_runtime,
    policy,
)
from service.ringcentral.stores import DatabaseTokenHashes
from service.settings import ProcessorMode, Settings
from service.webhooks.verification import TokenVerifier
from service.webhooks.writer import BatchReport, GroupCommitWriter
from subscriptions.calllog import SaveCounts

log = structlog.get_logger(__name__)


class Companion(Protocol):
    """Something that runs beside the service's own workers (the live demo)."""

    async def start(self, services: Services) -> None: ...

    async def stop(self) -> None: ...


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    metrics: Metrics
    writer: GroupCommitWriter
    verifier: TokenVerifier
    processor: ProcessorWorker
    directory: DirectoryCache
    clock: Callable[[], datetime]
    api: ApiCaches
    loop_lag: LoopLagProbe
    ringcentral: RingCentralRuntime | None = None
    subscriptions: SubscriptionLoop | None = None
    call_log: CallLogLoop | None = None
    companion: Companion | None = None
    processor_process: ProcessorProcess | None = None  # CALLSIFT_PROCESSOR_MODE=process

    async def start(self) -> None:
        await self.loop_lag.start()
        await self.writer.start()
        if self.settings.processor_enabled and self.processor_process is not None:
            await self.processor_process.start()
        elif self.settings.processor_enabled:
            await self.processor.start()
        if self.subscriptions is not None and self.settings.subscription_loop_enabled:
            await self.subscriptions.start()
        call_log = self.call_log
        if (
            call_log is not None
            and self.settings.calllog_sync_enabled
            and not self.syncs_in_processor_process()
        ):
            await call_log.start()
        if self.companion is not None:
            await self.companion.start(self)

    def syncs_in_processor_process(self) -> bool:
        """Whether the call-log sync runs in the processor's own process (beside the processor
        that takes its records in, off the webhook's process), not in this one."""
        return self.settings.processor_enabled and self.processor_process is not None

    async def stop(self) -> None:
        if self.companion is not None:
            await self.companion.stop()
        if self.call_log is not None:
            await self.call_log.stop()
        if self.subscriptions is not None:
            await self.subscriptions.stop()
        await self.writer.stop()
        await self.processor.stop()
        if self.processor_process is not None:
            await self.processor_process.stop()
        if self.ringcentral is not None:
            await self.ringcentral.aclose()
        await self.engine.dispose()
        await self.loop_lag.stop()

    def processor_status(self) -> dict[str, Any]:
        """Where the processor runs and whether it is alive (for /readyz)."""
        if not self.settings.processor_enabled:
            return {"mode": "off", "alive": False}
        if self.processor_process is not None:
            return self.processor_process.status()
        return {"mode": "inline", "alive": self.processor.running}


def build_services(settings: Settings, *, clock: Callable[[], datetime] = utc_now) -> Services:
    engine = create_engine(settings)
    metrics = Metrics()
    directory = DirectoryCache(engine)
    expectation = ExpectationCache(engine, clock=clock)
    processor = processor_of(
        settings,
        engine,
        metrics,
        directory=directory.current,
        call_log=expectation.current,
        clock=clock,
    )
    # `auto` is resolved by `callsift run` (service.cli.run); an app built here without it, as
    # the tests and the finite demo build it, runs the processor inline on its own clock
    process = (
        ProcessorProcess(settings, metrics)
        if settings.processor_mode is ProcessorMode.PROCESS
        else None
    )

    stored = LatestReceived()  # when the webhook last stored notifications, and how many so far

    def wake() -> None:
        stored.note(Received(time.monotonic(), writer.received))
        if process is None:
            processor.wake()
        else:  # with what the webhook has received so far, for the processor's stand-back
            process.wake(stored())

    def after_batch(report: BatchReport) -> None:
        metrics.record_batch(report)
        if report.inserted:
            wake()

    writer = GroupCommitWriter(
        engine,
        max_batch=settings.ingest_max_batch,
        commit_delay_s=settings.resolved_ingest_commit_delay_s(),
        on_batch=after_batch,
    )
    fallback = settings.webhook_verification_token
    verifier = TokenVerifier(
        DatabaseTokenHashes(engine, clock=clock),
        fallback_token=fallback.get_secret_value() if fallback else None,
    )
    metrics.outcome_counts.watch(
        engine, api_queries.outcome_counts_if_changed, max_age_s=settings.metrics_outcomes_max_age_s
    )
    api = ApiCaches(settings)
    loop_lag = LoopLagProbe(metrics.record_loop_lag, process=SERVICE_LOOP)
    services = Services(
        settings, engine, metrics, writer, verifier, processor, directory, clock, api, loop_lag
    )
    services.processor_process = process
    if settings.ringcentral_app_configured():
        services.ringcentral = build_runtime(settings, engine, clock=clock)

        def records_saved(counts: SaveCounts) -> None:
            metrics.record_call_log_saved(counts)
            if counts.new or counts.changed:
                wake()

        def directory_synced() -> None:
            directory.invalidate()
            if process is not None:
                process.directory_synced()

        # built even when the sync is off: it then runs only when called (the finite demo)
        call_log = services.call_log = CallLogLoop.of_settings(
            settings,
            engine,
            services.ringcentral,
            clock=clock,
            on_records=records_saved,
            on_window_done=expectation.invalidate,
            on_pass=metrics.record_call_log_syncs,
            webhook_busy=busy_since(lambda: stored().at),
        )

        async def sync_at_once(extension_ids: Collection[str]) -> None:
            await call_log.request_sync(extension_ids)
            if process is not None:
                process.call_log_due()

        if settings.webhook_url:
            services.subscriptions = SubscriptionLoop(
                engine,
                services.ringcentral,
                policy=policy(settings),
                interval_s=settings.subscription_loop_interval_s,
                directory_refresh=timedelta(seconds=settings.directory_refresh_s),
                clock=clock,
                on_directory_synced=directory_synced,
                on_health=metrics.record_extension_health,
                on_recreated=sync_at_once if settings.calllog_sync_enabled else None,
            )
        else:
            log.warning("subscriptions.disabled", reason="CALLSIFT_WEBHOOK_URL is not set")
    return services


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services
