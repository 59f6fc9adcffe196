"""The processor's queue of stored events becomes a table of its own, `event_queue` (ids of
raw_events not taken in yet), instead of `raw_events.processed_at`: marking an event processed
rewrote the whole wide row and its index entries (about 40 us and 1.4 kB of WAL per event on
PostgreSQL), where deleting a queue entry costs a few microseconds. Events not processed at the
upgrade are queued.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNPROCESSED = "processed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "event_queue",
        sa.Column("id", BigId, primary_key=True, autoincrement=False),
        sa.PrimaryKeyConstraint("id", name="pk_event_queue"),
    )
    op.execute(f"INSERT INTO event_queue (id) SELECT id FROM raw_events WHERE {UNPROCESSED}")
    op.drop_index("ix_raw_events_unprocessed", table_name="raw_events")
    with op.batch_alter_table("raw_events") as batch:
        batch.drop_column("processed_at")


def downgrade() -> None:
    with op.batch_alter_table("raw_events") as batch:
        batch.add_column(sa.Column("processed_at", UtcDateTime()))
    raw_events = sa.table(
        "raw_events", sa.column("id", sa.BigInteger()), sa.column("processed_at", UtcDateTime())
    )
    queued: sa.Select[int] = sa.select(sa.column("id", sa.BigInteger())).select_from(
        sa.table("event_queue")
    )
    op.execute(
        raw_events.update()
        .where(raw_events.c.id.not_in(queued))
        .values(processed_at=datetime.now(UTC))
    )
    op.create_index(
        "ix_raw_events_unprocessed",
        "raw_events",
        ["id"],
        postgresql_where=sa.text(UNPROCESSED),
        sqlite_where=sa.text(UNPROCESSED),
    )
    op.drop_table("event_queue")
