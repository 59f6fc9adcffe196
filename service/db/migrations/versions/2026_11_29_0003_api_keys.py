"""API keys of the query API (only their SHA-256 is stored), and the statistics' indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("last_used_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index(
        "ix_call_outcomes_stats",
        "call_outcomes",
        [
            "started_at",
            "telephony_session_id",
            "final",
            "direction",
            "category",
            "wait_s",
            "time_to_abandon_s",
            "queue",
        ],
    )
    op.create_index(
        "ix_call_legs_started", "call_legs", ["started_at", "telephony_session_id", "extension_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_call_legs_started", table_name="call_legs")
    op.drop_index("ix_call_outcomes_stats", table_name="call_outcomes")
    op.drop_table("api_keys")
