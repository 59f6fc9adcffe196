"""Service settings, read from `CALLSIFT_*` environment variables and an optional `.env` file.

Nothing reads the environment at import time: `Settings()` is built by the CLI (or a test) and
handed to `create_app`.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from classifiers.outcome import Thresholds

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./callsift.db"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


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

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "info"
    log_json: bool = Field(default=False, description="JSON log lines instead of console output.")

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

    short_abandon_s: float = Field(default=5.0, ge=0)
    vm_min_message_s: float = Field(default=10.0, ge=0)
    min_talk_s: float = Field(default=0.5, ge=0)
    sla_s: float = Field(default=20.0, ge=0)
    hold_hangup_is_abandon: bool = False
    session_stale_after_s: float = Field(default=4 * 3600.0, gt=0)

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.lower()
        if level not in {"debug", "info", "warning", "error", "critical"}:
            msg = f"log_level must be debug, info, warning, error or critical, not {value!r}"
            raise ValueError(msg)
        return level

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def thresholds(self) -> Thresholds:
        return Thresholds(
            short_abandon_s=self.short_abandon_s,
            vm_min_message_s=self.vm_min_message_s,
            min_talk_s=self.min_talk_s,
            sla_s=self.sla_s,
            hold_hangup_is_abandon=self.hold_hangup_is_abandon,
            session_stale_after_s=self.session_stale_after_s,
        )
