"""`callsift run`: migrate, then serve with uvicorn (uvloop, httptools with a read timeout).

Without a RingCentral app configured (CALLSIFT_RC_CLIENT_ID / CALLSIFT_RC_CLIENT_SECRET) or a
fallback webhook token, the service starts in demo mode with the emulator embedded
(`CALLSIFT_DEMO=off` prevents it; `CALLSIFT_ENV=production` refuses it).
"""

from __future__ import annotations

import asyncio
import gc
import secrets
import signal
import socket
from typing import Annotated

import structlog
import typer
import uvicorn

from classifiers import RULES_VERSION
from service.app import create_app, with_fast_paths
from service.cli.common import fail, load_settings, migrate
from service.db.engine import create_engine
from service.demo.live import LiveDemo
from service.demo.platform import DemoPlatform
from service.http_protocol import protocol_with_read_timeout
from service.logging import configure_logging
from service.processing import queries
from service.services import Companion
from service.settings import DemoSwitch, Environment, Settings

log = structlog.get_logger(__name__)


def run(
    host: Annotated[
        str | None,
        typer.Option(help="Interface to listen on (default: CALLSIFT_HOST, else 127.0.0.1)."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="TCP port (default: CALLSIFT_PORT, else 8000).")
    ] = None,
) -> None:
    """Run the service: webhook ingest and its workers, on the embedded SQLite default."""
    settings = load_settings(host=host, port=port)
    configure_logging(level=settings.log_level, json=settings.log_json)
    _refuse_incomplete_production(settings)
    listening = _listen(settings.host, settings.port)
    settings, companion = _demo_if_unconfigured(settings)
    settings = settings.model_copy(update={"processor_mode": settings.resolved_processor_mode()})
    asyncio.run(migrate(settings))
    asyncio.run(_warn_of_older_rules(settings))
    config = uvicorn.Config(
        with_fast_paths(create_app(settings, companion=companion)),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=protocol_with_read_timeout(settings.http_read_timeout_s),
        limit_concurrency=settings.http_max_connections,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through our logging (configure_logging)
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    # uvicorn shuts down gracefully on SIGTERM or Ctrl-C and then re-raises the signal; after a
    # clean shutdown it finds this no-op handler, so the process exits 0 instead of 143 or 130
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda _signum, _frame: None)
    # everything built so far lives as long as the process: keep it out of the collector's full
    # passes, which otherwise pause the webhook for ~100 ms under load (bench/results/latest.md)
    gc.collect()
    gc.freeze()
    log.info(
        "service.listening",
        url=f"http://{settings.host}:{settings.port}",
        processor=settings.processor_mode.value if settings.processor_enabled else "off",
    )
    uvicorn.Server(config).run(sockets=[listening])


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a port in use is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(
            f"cannot listen on {host}:{port} ({exc.strerror}): is another callsift or another "
            "program using it? Stop it, or choose another port with --port (CALLSIFT_PORT)"
        )
    return sock


def _refuse_incomplete_production(settings: Settings) -> None:
    """Production never starts without what it needs (demo mode is refused further on)."""
    if settings.env is not Environment.PRODUCTION:
        return
    if settings.ringcentral_app_configured() and settings.secret_keys is None:
        fail(
            "CALLSIFT_SECRET_KEYS must be set in production: it encrypts the stored credentials "
            '(make one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())")'
        )
    if not settings.ringcentral_app_configured() and settings.webhook_verification_token is None:
        fail(
            "nothing to receive: set CALLSIFT_RC_CLIENT_ID and CALLSIFT_RC_CLIENT_SECRET (your "
            "RingCentral app), or CALLSIFT_WEBHOOK_VERIFICATION_TOKEN for ingest only"
        )


async def _warn_of_older_rules(settings: Settings) -> None:
    """After an upgrade that changed the rules, stored outcomes keep their old verdicts (and
    documents) until `callsift reclassify` runs: say so once at start."""
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            older = await queries.has_outcomes_of_other_rules(connection, RULES_VERSION)
    finally:
        await engine.dispose()
    if older:
        log.warning(
            "outcomes.older_rules",
            rules_version=RULES_VERSION,
            hint="some outcomes were classified with older rules: run `callsift reclassify`",
        )


# the live demo loses some calls' webhooks; its call log is read often, so they show up soon
LIVE_DEMO_CALL_LOG_INTERVAL_S = 60.0


def _demo_if_unconfigured(settings: Settings) -> tuple[Settings, Companion | None]:
    configured = settings.ringcentral_app_configured()
    ingest_only = settings.webhook_verification_token is not None
    if configured or ingest_only or settings.demo is DemoSwitch.OFF:
        return settings, None
    if settings.env is Environment.PRODUCTION:
        fail(
            "no RingCentral app configured (CALLSIFT_RC_CLIENT_ID, CALLSIFT_RC_CLIENT_SECRET) "
            "and CALLSIFT_ENV=production refuses demo mode"
        )
    # The same company on every start, so a restarted demo keeps its extensions; new calls, so
    # it never replays the session ids and notification uuids its database already holds.
    platform = DemoPlatform(seed=1, calls_seed=secrets.randbits(63))
    webhook_url = f"http://{settings.host}:{settings.port}/webhooks/ringcentral"
    log.warning(
        "demo.starting",
        banner="DEMO MODE: no RingCentral app configured; an emulated account plays calls",
        emulator=platform.base_url,
        to_connect_ringcentral="see README: Connect your RingCentral account",
    )
    demo_settings = platform.settings_for(settings, webhook_url=webhook_url).model_copy(
        update={"calllog_sync_interval_s": LIVE_DEMO_CALL_LOG_INTERVAL_S}
    )
    return demo_settings, LiveDemo(platform)
