"""The database schema (SQLAlchemy Core). Alembic migrations in `migrations/` create it.

Tables are added as the capabilities that need them land; DESIGN.md section 3 lists the plan.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from service.db.types import UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")

raw_events = Table(
    "raw_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("uuid", String(128), nullable=False, unique=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("subscription_id", String(64)),
    Column("owner_id", String(32)),
    Column("event", String(512), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("telephony_session_id", String(128)),
    Column("sequence", BigInteger()),
    Column("party_id", String(128)),
    Column("event_time", UtcDateTime()),
    Column("payload", Text(), nullable=False),
    Column("processed_at", UtcDateTime()),
    Index("ix_raw_events_session", "telephony_session_id", "sequence"),
    Index(
        "ix_raw_events_unprocessed",
        "id",
        postgresql_where=text("processed_at IS NULL"),
        sqlite_where=text("processed_at IS NULL"),
    ),
)

quarantined_events = Table(
    "quarantined_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("subscription_id", String(64)),
    Column("content_type", String(255)),
    Column("error", Text(), nullable=False),
    Column("payload", LargeBinary(), nullable=False),
)
