"""Build the async engine for SQLite (aiosqlite) or PostgreSQL (asyncpg) from one URL.

SQLite runs in WAL mode with `synchronous=FULL`, so a commit is on disk before it returns: the
webhook answers 200 only after its row is durable, on the embedded default too.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.settings import Settings

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)


def create_engine(settings: Settings, *, application_name: str = "callsift") -> AsyncEngine:
    """Create the engine (no connection is opened until first use)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(settings)
    if url.get_backend_name() == "postgresql":
        if url.get_driver_name() != "asyncpg":
            url = url.set(drivername="postgresql+asyncpg")
        return _postgres_engine(
            settings, url.render_as_string(hide_password=False), application_name
        )
    msg = f"unsupported database URL scheme {url.drivername!r}: use sqlite+aiosqlite or postgresql"
    raise ValueError(msg)


def _sqlite_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    if url.get_driver_name() != "aiosqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_s,
        connect_args={"timeout": settings.db_connect_timeout_s},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    return engine


def _postgres_engine(settings: Settings, url: str, application_name: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=settings.db_pool_timeout_s,
        pool_recycle=1800,
        pool_pre_ping=False,
        connect_args={
            "timeout": settings.db_connect_timeout_s,
            "command_timeout": settings.db_statement_timeout_s,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(int(settings.db_statement_timeout_s * 1000)),
                "backend_flush_after": f"{settings.db_backend_flush_after_kb}kB",
            },
        },
    )
