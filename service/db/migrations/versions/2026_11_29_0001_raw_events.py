"""Raw webhook events and quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "raw_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(128), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("subscription_id", sa.String(64)),
        sa.Column("owner_id", sa.String(32)),
        sa.Column("extension_id", sa.String(32)),
        sa.Column("event", sa.String(512), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("telephony_session_id", sa.String(128)),
        sa.Column("sequence", sa.BigInteger()),
        sa.Column("party_id", sa.String(128)),
        sa.Column("event_time", UtcDateTime()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("processed_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_raw_events"),
        sa.UniqueConstraint("uuid", name="uq_raw_events_uuid"),
    )
    op.create_index("ix_raw_events_session", "raw_events", ["telephony_session_id", "sequence"])
    op.create_index(
        "ix_raw_events_unprocessed",
        "raw_events",
        ["id"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )
    op.create_table(
        "quarantined_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("subscription_id", sa.String(64)),
        sa.Column("content_type", sa.String(255)),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantined_events"),
    )


def downgrade() -> None:
    op.drop_table("quarantined_events")
    op.drop_index("ix_raw_events_unprocessed", table_name="raw_events")
    op.drop_index("ix_raw_events_session", table_name="raw_events")
    op.drop_table("raw_events")
