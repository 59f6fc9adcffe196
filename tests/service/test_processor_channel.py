"""The processor's channel (service.processing.channel) as the call-log sync in the processor's
own process uses it: the settings reach the child with the secrets the sync needs, the sync's
figures reach the service's /metrics."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from service.metrics import Metrics, SyncFigures
from service.processing.channel import report_of, settings_line, settings_of
from service.processing.child import ChannelMetrics
from service.settings import ProcessorMode, Settings
from subscriptions.calllog import SaveCounts


def test_the_settings_reach_the_child_with_their_secrets() -> None:
    sent = Settings(
        _env_file=None,
        database_url="postgresql+asyncpg://u@localhost/db",
        rc_client_id="client",
        rc_client_secret=SecretStr("client-secret-1"),
        secret_keys=SecretStr("fernet-keys-2"),
        webhook_verification_token=None,
        processor_mode=ProcessorMode.PROCESS,
        calllog_sync_interval_s=120,
    )
    received = settings_of(settings_line(sent))
    assert received.rc_client_secret is not None
    assert received.rc_client_secret.get_secret_value() == "client-secret-1"
    assert received.secret_keys is not None
    assert received.secret_keys.get_secret_value() == "fernet-keys-2"
    assert received.webhook_verification_token is None
    assert received.calllog_sync_interval_s == 120
    assert received.processor_mode is ProcessorMode.PROCESS


async def test_the_sync_figures_of_the_child_reach_the_service_metrics() -> None:
    ours, theirs = socket.socketpair()
    reader, service_end = await asyncio.open_connection(sock=ours)
    _, writer = await asyncio.open_connection(sock=theirs)
    child = ChannelMetrics(writer)
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    child.record_call_log_saved(SaveCounts(new=3, changed=1, unchanged=2))
    child.record_call_log_syncs(
        [
            SyncFigures("101", 0, now - timedelta(seconds=120)),
            SyncFigures("102", 4, None),
        ],
        now,
    )
    await writer.drain()
    service = Metrics()
    for _ in range(2):
        service.record_processor(report_of(await reader.readline()))
    writer.close()
    service_end.close()
    value = service.registry.get_sample_value
    assert value("callsift_call_log_records_stored_total", {"change": "new"}) == 3
    assert value("callsift_call_log_records_stored_total", {"change": "changed"}) == 1
    assert value("callsift_call_log_records_stored_total", {"change": "unchanged"}) == 2
    assert value("callsift_call_log_sync_lag_seconds", {"extension_id": "101"}) == 120
    assert value("callsift_call_log_sync_failures", {"extension_id": "102"}) == 4
    assert value("callsift_call_log_sync_lag_seconds", {"extension_id": "102"}) is None
