"""`callsift demo`: a finite end-to-end run, measured against the emulator's ground truth.

The emulator and the service run on loopback ports in this process; the demo company registers
through the real JWT and subscription flow; N calls are played (with duplicated and reordered
deliveries under `--chaos`, and a share of the calls losing all their webhooks or their first
ones under `--lose-webhooks`); once the processor has taken in what was delivered, the call log
records become final and one call-log sync reads them; the run waits until every call has an
outcome, then compares each session's stored outcome with what the emulator says happened.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from classifiers import Outcome
from classifiers.outcome import Reconciliation
from emulator.scenarios.model import SessionTruth
from service.app import create_app
from service.db.migrate import upgrade_database
from service.db.tables import (
    call_log_pending,
    call_log_records,
    call_outcomes,
    event_queue,
    raw_events,
)
from service.demo.company import register_company
from service.demo.platform import DemoPlatform
from service.services import Services
from service.serving import bind_loopback, serve
from service.settings import Settings

POLL_INTERVAL_S = 0.1

# (phase, calls with a final outcome, calls wanted or None while that is not known yet)
Progress = Callable[[str, int, int | None], None]


@dataclass(slots=True)
class DemoReport:
    database: str
    sessions: int = 0
    calls: int = 0
    classified: int = 0
    correct: int = 0
    events: int = 0
    elapsed_s: float = 0.0
    expected: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)
    offered: int = 0
    abandoned: int = 0
    webhooks_lost: int = 0  # calls whose every notification was lost
    starts_lost: int = 0  # calls whose first events were lost
    call_log_records: int = 0
    reconciliation: Counter[str] = field(default_factory=Counter)

    @property
    def from_call_log_alone(self) -> int:
        return self.reconciliation[Reconciliation.CALL_LOG_ONLY.value]

    @property
    def corrected(self) -> int:
        return self.reconciliation[Reconciliation.CALL_LOG_CORRECTED.value]

    @property
    def accuracy(self) -> float:
        return self.correct / self.sessions if self.sessions else 0.0

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.offered if self.offered else None

    @property
    def events_per_s(self) -> float:
        return self.events / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def ok(self) -> bool:
        return self.sessions > 0 and self.classified == self.sessions == self.correct


async def run_demo(
    settings: Settings,
    *,
    calls: int,
    extensions: int,
    seed: int,
    chaos: bool,
    database_label: str,
    lose_webhooks: float = 0.0,
    progress: Progress = lambda phase, done, total: None,
    timeout_s: float = 600.0,
) -> DemoReport:
    platform = DemoPlatform(seed=seed, timer_tick_s=0.0)
    service_socket = bind_loopback()
    host, port = service_socket.getsockname()[:2]
    # the run drives the subscription pass and the call-log sync itself, at the right moments
    settings = platform.settings_for(
        settings.model_copy(
            update={
                "host": host,
                "port": port,
                "subscription_loop_enabled": False,
                "calllog_sync_enabled": False,
            }
        ),
        webhook_url=f"http://{host}:{port}/webhooks/ringcentral",
    )
    await upgrade_database(settings)
    app = create_app(settings)
    services: Services = app.state.services
    report = DemoReport(database=database_label)
    async with serve(app, sock=service_socket):
        await platform.start()
        try:
            progress("registering the demo company", 0, None)
            await register_company(services, platform, users=extensions)
            started = time.monotonic()
            waiting = _Waiting()
            try:
                async with asyncio.timeout(timeout_s):
                    counting = asyncio.create_task(_count_stored_events(services.engine, progress))
                    try:
                        play = await platform.play(
                            calls,
                            seed=seed,
                            chaos=chaos,
                            realtime=False,
                            lose_webhooks=lose_webhooks,
                        )
                    finally:
                        counting.cancel()
                    truths = [truth for call in play.calls for truth in call.truths]
                    delivered = [
                        truth
                        for call in play.calls
                        if call.webhooks != "lost"
                        for truth in call.truths
                    ]
                    report.calls = len(play.calls)
                    report.webhooks_lost = sum(call.webhooks == "lost" for call in play.calls)
                    report.starts_lost = sum(call.webhooks == "lost_start" for call in play.calls)
                    report.sessions = waiting.wanted = len(truths)
                    waiting.phase = "waiting for the outcomes of the delivered webhooks"
                    await _wait_for_outcomes(services.engine, delivered, progress, waiting)
                    waiting.phase = "reading the call log"
                    progress(waiting.phase, 0, None)
                    await platform.emulator.advance(platform.call_log_delay_s + 1.0)
                    await _sync_call_log(services)
                    waiting.phase = "waiting for the outcomes after the call-log sync"
                    await _wait_for_outcomes(services.engine, truths, progress, waiting)
            except TimeoutError:
                raise TimeoutError(waiting.describe(timeout_s, platform)) from None
            report.elapsed_s = time.monotonic() - started
            await _score(services.engine, truths, report)
        finally:
            await platform.stop()
    return report


async def _count_stored_events(engine: AsyncEngine, progress: Progress) -> None:
    """While the emulator plays and delivers the calls: how many events have arrived so far."""
    while True:
        async with engine.connect() as connection:
            stored = await _count(connection, select(func.count()).select_from(raw_events))
        progress("delivering the calls: events stored", stored, None)
        await asyncio.sleep(POLL_INTERVAL_S * 5)


async def _sync_call_log(services: Services) -> None:
    """One pass of the service's call-log loop (not running by itself here) over every
    credential."""
    assert services.call_log is not None
    for report in await services.call_log.run_pass():
        if report.error is not None:
            msg = f"the call-log sync of {report.extension_id} failed: {report.error}"
            raise RuntimeError(msg)


@dataclass
class _Waiting:
    """How far a run got, for the message when it times out."""

    phase: str = "the emulator was delivering the calls"
    wanted: int = 0
    done: int = 0
    stored: int = 0
    pending: int = 0

    def describe(self, timeout_s: float, platform: DemoPlatform) -> str:
        deliveries = Counter(
            record.outcome
            for record in platform.emulator.deliveries()
            if record.kind == "notification"
        )
        return (
            f"no result after {timeout_s:.0f} s, {self.phase}: {self.done} of {self.wanted} "
            f"calls have a final outcome; {self.stored} events stored, {self.pending} of them "
            f"not yet processed; the emulator's notification deliveries: {dict(deliveries)}"
        )


async def _wait_for_outcomes(
    engine: AsyncEngine,
    truths: list[SessionTruth],
    progress: Progress,
    waiting: _Waiting,
) -> None:
    """Until every session has a final outcome and no stored event or record awaits
    processing."""
    wanted = [truth.telephony_session_id for truth in truths]
    while True:
        async with engine.connect() as connection:
            waiting.done = await _count(
                connection,
                select(func.count())
                .select_from(call_outcomes)
                .where(call_outcomes.c.telephony_session_id.in_(wanted), call_outcomes.c.final),
            )
            waiting.pending = await _count(
                connection,
                select(func.count()).select_from(event_queue),
            ) + await _count(
                connection,
                select(func.count()).select_from(call_log_pending),
            )
            waiting.stored = await _count(connection, select(func.count()).select_from(raw_events))
        progress(waiting.phase, waiting.done, len(wanted))
        if waiting.done == len(wanted) and not waiting.pending:
            return
        await asyncio.sleep(POLL_INTERVAL_S)


async def _count(connection: AsyncConnection, statement: Select[int]) -> int:
    return int(await connection.scalar(statement) or 0)


async def _score(engine: AsyncEngine, truths: list[SessionTruth], report: DemoReport) -> None:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                call_outcomes.c.telephony_session_id,
                call_outcomes.c.document,
                call_outcomes.c.revision,
                call_outcomes.c.updated_at,
            ).where(
                call_outcomes.c.telephony_session_id.in_([t.telephony_session_id for t in truths])
            )
        )
        outcomes = {
            row.telephony_session_id: Outcome.model_validate(
                {
                    **orjson.loads(row.document),
                    "revision": row.revision,
                    "updated_at": row.updated_at,
                }
            )
            for row in rows
        }
        report.events = int(
            await connection.scalar(select(func.count()).select_from(raw_events)) or 0
        )
        report.call_log_records = int(
            await connection.scalar(select(func.count()).select_from(call_log_records)) or 0
        )
    for truth in truths:
        report.expected[truth.category.value] += 1
        outcome = outcomes.get(truth.telephony_session_id)
        if outcome is None or not outcome.final:
            report.mismatches.append(f"{truth.telephony_session_id}: not classified")
            continue
        report.classified += 1
        report.found[outcome.category.value] += 1
        report.reconciliation[outcome.reconciliation.value] += 1
        if outcome.direction.value != "outbound":
            report.offered += 1
            report.abandoned += outcome.is_abandoned
        problems = truth.mismatches(outcome)
        if problems:
            report.mismatches.append(f"{truth.telephony_session_id}: {'; '.join(problems)}")
        else:
            report.correct += 1
