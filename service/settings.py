"""Service settings, read from `CALLSIFT_*` environment variables and an optional `.env` file.

Nothing reads the environment at import time: `Settings()` is built by the CLI (or a test) and
handed to `create_app`.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from classifiers.outcome import Thresholds
from classifiers.recovery import DEFAULT_RECOVERY_WINDOW

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./callsift.db"
DATABASE_URL_FORMS = "sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class DemoSwitch(StrEnum):
    AUTO = "auto"
    OFF = "off"


# Events per processor claim. Each claim has a fixed cost (about twenty statements, the recovery
# reads of its callers' numbers), so larger claims drain faster: 200,000 queued events drained
# at 7,800/s in claims of 500, 11,200-12,200/s in 1,000 and 13,800-14,800/s in 2,000 (bench/
# notes.md). Inline, a claim shares the webhook's event loop, and stays smaller.
PROCESS_BATCH_SIZE = 2000
INLINE_BATCH_SIZE = 500
# Claims a processor with a process of its own runs at once on PostgreSQL: one classifies while
# the other waits for the database. Inline, the processor shares the webhook's event loop, and
# SQLite has one writer: one claim at a time.
PROCESS_CLAIMS_IN_FLIGHT = 2
# Group commits on PostgreSQL start at least this far apart under load (service.webhooks.writer).
POSTGRES_COMMIT_DELAY_MS = 2.0


class ProcessorMode(StrEnum):
    """Where `callsift run` runs the processor: `auto` is `process` on PostgreSQL and `inline`
    on SQLite (one writer: a second process would only queue behind the webhook's commits)."""

    AUTO = "auto"
    PROCESS = "process"  # a child process of its own, supervised (service.processing.supervisor)
    INLINE = "inline"  # in the webhook's event loop


class Settings(BaseSettings):
    """Everything the service can be told. Each field is a `CALLSIFT_<NAME>` variable."""

    model_config = SettingsConfigDict(
        env_prefix="CALLSIFT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    env: Environment = Field(
        default=Environment.DEVELOPMENT,
        description="`production` refuses demo mode and insecure defaults.",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL: sqlite+aiosqlite:///path.db or postgresql+asyncpg://user@host/db.",
    )
    db_pool_size: int = Field(default=10, ge=1, description="PostgreSQL connections per process.")
    db_pool_timeout_s: float = Field(
        default=2.0, gt=0, description="Wait at most this long for a pooled connection, then 503."
    )
    db_connect_timeout_s: float = Field(default=5.0, gt=0)
    db_statement_timeout_s: float = Field(default=30.0, gt=0)
    db_backend_flush_after_kb: int = Field(
        default=256,
        ge=0,
        le=2048,
        description="PostgreSQL's `backend_flush_after` on callsift's own connections: the "
        "data pages they write out are handed to the disk every this many kB instead of "
        "piling up in the kernel's cache until a checkpoint's final fsync writes them all at "
        "once, holding up every commit behind it (0: PostgreSQL's default, off).",
    )
    api_statement_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Each statement of a /v1 request may run this long; then 503 query_timeout.",
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "info"
    log_json: bool = Field(default=False, description="JSON log lines instead of console output.")

    http_read_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request (headers and body) must arrive within this; else 408 and closed.",
    )
    http_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open connections (or requests in progress) beyond this are answered 503.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest webhook body accepted (413 above)."
    )
    webhook_verification_token: SecretStr | None = Field(
        default=None,
        description=(
            "Fallback Verification-Token accepted for any subscription id (for subscriptions "
            "made outside callsift). Tokens of subscriptions callsift creates are stored hashed."
        ),
    )
    ingest_max_batch: int = Field(
        default=1000, ge=1, description="Most webhook rows written by one group commit."
    )
    ingest_commit_delay_ms: float | None = Field(
        default=None,
        ge=0,
        le=50,
        description="Under load, the least time between the starts of two group commits "
        "(0: none; by default 2 on PostgreSQL, 0 on SQLite); one with 32 rows waiting starts "
        "at once.",
    )

    processor_enabled: bool = Field(
        default=True, description="Run the event processor in this process."
    )
    processor_mode: ProcessorMode = Field(
        default=ProcessorMode.AUTO,
        description="`process`: `callsift run` runs the processor in a child process of its own "
        "(supervised, restarted); `inline`: in the webhook's event loop; `auto`: process on "
        "PostgreSQL, inline on SQLite.",
    )
    processor_batch_size: int | None = Field(
        default=None,
        ge=1,
        description="Events per processor batch (one transaction). Default: "
        f"{PROCESS_BATCH_SIZE} when the processor has a process of its own, {INLINE_BATCH_SIZE} "
        "inline, where a batch shares the webhook's event loop.",
    )
    processor_stand_back: bool = Field(
        default=True,
        description="Ingest first: a processor with a process of its own holds its claims back "
        "while its work slows the webhook down (it finds out by trying, once it has fallen "
        "behind), and catches up when the load falls. Off: it always works at full speed.",
    )
    processor_poll_interval_s: float = Field(
        default=0.5, gt=0, description="How often the processor looks for events from others."
    )
    stats_rollup_interval_s: float = Field(
        default=2.0,
        gt=0,
        description="How often the processor's rollup refresher looks for quarter hours whose "
        "calls changed; it recomputes their stats rollups once a look finds no newer change, "
        "or after a minute (reports read those quarters from the calls until then).",
    )

    rc_server: str = Field(
        default="https://platform.ringcentral.com", description="RingCentral API base URL."
    )
    rc_client_id: str | None = Field(default=None, description="Your RingCentral app's client id.")
    rc_client_secret: SecretStr | None = Field(default=None, description="Its client secret.")
    webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS address of POST /webhooks/ringcentral, given to RingCentral.",
    )
    secret_keys: SecretStr | None = Field(
        default=None,
        description="Fernet keys (comma-separated, newest first) encrypting credentials at rest.",
    )
    renew_before_s: float = Field(
        default=24 * 3600.0, gt=0, description="Renew a subscription this long before it expires."
    )
    subscription_expires_in_s: int = Field(
        default=7 * 24 * 3600, ge=600, le=315_360_000, description="Lifetime asked for."
    )
    subscription_check_every_s: float = Field(
        default=3600.0,
        gt=0,
        description="Ask RingCentral for each subscription's status this often.",
    )
    subscription_loop_enabled: bool = Field(
        default=True, description="Run the subscription loop in this process."
    )
    subscription_loop_interval_s: float = Field(
        default=60.0, gt=0, description="How often the subscription loop looks for due work."
    )
    directory_refresh_s: float = Field(
        default=6 * 3600.0, gt=0, description="How often the extension directory is re-read."
    )
    calllog_sync_enabled: bool = Field(
        default=True,
        description="Run the call-log sync in this process (the call log settles outcomes the "
        "webhooks alone get wrong or never deliver).",
    )
    calllog_sync_interval_s: float = Field(
        default=300.0, ge=10, description="How often each credential's call log is read."
    )
    calllog_backfill_days: float = Field(
        default=7.0, ge=0, le=365, description="History read when a credential first connects."
    )
    calllog_overlap_s: float = Field(
        default=7200.0,
        ge=0,
        description="Each read starts this long before where the last one ended (records appear "
        "late and change: In Progress first, final after the call).",
    )
    calllog_busy_records_per_s: float = Field(
        default=100.0,
        ge=0,
        description="While webhooks arrive, the call-log sync stores at most this many records "
        "a second (a backfill gives way to live traffic); 0: no limit.",
    )

    short_abandon_s: float = Field(default=5.0, ge=0)
    vm_min_message_s: float = Field(default=10.0, ge=0)
    min_talk_s: float = Field(default=0.5, ge=0)
    sla_s: float = Field(default=20.0, ge=0)
    hold_hangup_is_abandon: bool = False
    session_stale_after_s: float = Field(default=4 * 3600.0, gt=0)

    demo: DemoSwitch = Field(
        default=DemoSwitch.AUTO,
        description=(
            "`auto`: `callsift run` starts in demo mode when no RingCentral app is configured "
            "(and no fallback webhook token is set); `off` never; production refuses it."
        ),
    )
    demo_mode: bool = Field(
        default=False,
        description="Set while demo mode runs (the API reports it; the dashboard shows a banner).",
    )
    api_key_cache_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a verified API key is trusted without asking the database again "
        "(a revoked key stops working within this time; 0 checks every request).",
    )
    abandoned_poll_max: int = Field(
        default=500,
        ge=1,
        le=10_000,
        description="Most changes one /v1/abandoned answer carries (the rest follow).",
    )
    summary_max_age_s: float = Field(
        default=60.0,
        gt=0,
        description="The poll summary's rolling windows are recomputed at most this often "
        "(and whenever an outcome changes).",
    )
    report_tz: str = Field(
        default="UTC",
        description="IANA time zone of the poll summary's `today` window and the dashboard.",
    )
    recovery_window_s: float = Field(
        default=DEFAULT_RECOVERY_WINDOW.total_seconds(),
        gt=0,
        le=31 * 86400,
        description="An abandoned call is recovered by a later call that reaches the same "
        "number within this many seconds of it (answered inbound, connected outbound).",
    )
    abandon_rate_target: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="The dashboard shows a net abandon rate above this in red (0.05 = 5 %).",
    )
    metrics_outcomes_max_age_s: float = Field(
        default=15.0,
        gt=0,
        description="The `callsift_outcomes` gauge is recounted at most this often, "
        "and only when an outcome changed.",
    )

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: str) -> str:
        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError as exc:
            msg = f"not a database URL: {value!r}; use {DATABASE_URL_FORMS}"
            raise ValueError(msg) from exc
        if backend not in ("sqlite", "postgresql"):
            msg = f"{backend} is not supported; use {DATABASE_URL_FORMS}"
            raise ValueError(msg)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            msg = f"log_level must be debug, info, warning, error or critical, not {value!r}"
            raise ValueError(msg)
        return level

    @field_validator("report_tz")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"report_tz must be an IANA time zone such as Europe/Paris, not {value!r}"
            raise ValueError(msg) from exc
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_processor_mode(self) -> ProcessorMode:
        """`processor_mode` with `auto` decided by the database."""
        if self.processor_mode is not ProcessorMode.AUTO:
            return self.processor_mode
        return ProcessorMode.INLINE if self.is_sqlite else ProcessorMode.PROCESS

    def resolved_processor_batch_size(self) -> int:
        """`processor_batch_size`, by default as large as the processor's mode allows."""
        if self.processor_batch_size is not None:
            return self.processor_batch_size
        if self.resolved_processor_mode() is ProcessorMode.PROCESS:
            return PROCESS_BATCH_SIZE
        return INLINE_BATCH_SIZE

    def processor_records_per_claim(self) -> int | None:
        """Call-log records a claim takes: as many as events in a process of its own; inline
        (None) the processor's smaller share, which keeps each pause of the webhook short."""
        if self.resolved_processor_mode() is ProcessorMode.PROCESS:
            return self.resolved_processor_batch_size()
        return None

    def resolved_ingest_commit_delay_s(self) -> float:
        """`ingest_commit_delay_ms` in seconds, by default POSTGRES_COMMIT_DELAY_MS on PostgreSQL
        and none on SQLite (one writer: the next batch already waits while one commits)."""
        if self.ingest_commit_delay_ms is not None:
            return self.ingest_commit_delay_ms / 1000
        return 0.0 if self.is_sqlite else POSTGRES_COMMIT_DELAY_MS / 1000

    def ringcentral_app_configured(self) -> bool:
        """Whether a RingCentral app is configured (its client id and secret)."""
        return bool(self.rc_client_id) and self.rc_client_secret is not None

    def processor_stands_back(self) -> bool:
        """Whether the processor gives way to the webhook (`processor_stand_back`): only with a
        process of its own on PostgreSQL; inline it shares the webhook's loop, and on SQLite
        it runs inline."""
        return (
            self.processor_stand_back
            and self.resolved_processor_mode() is ProcessorMode.PROCESS
            and not self.is_sqlite
        )

    def processor_claims_in_flight(self) -> int:
        """How many claims the processor runs at once (see PROCESS_CLAIMS_IN_FLIGHT)."""
        if self.resolved_processor_mode() is ProcessorMode.PROCESS and not self.is_sqlite:
            return PROCESS_CLAIMS_IN_FLIGHT
        return 1

    def thresholds(self) -> Thresholds:
        return Thresholds(
            short_abandon_s=self.short_abandon_s,
            vm_min_message_s=self.vm_min_message_s,
            min_talk_s=self.min_talk_s,
            sla_s=self.sla_s,
            hold_hangup_is_abandon=self.hold_hangup_is_abandon,
            session_stale_after_s=self.session_stale_after_s,
        )
