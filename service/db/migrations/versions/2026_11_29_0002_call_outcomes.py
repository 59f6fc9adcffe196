"""Call outcomes, their legs, and the change counter the dashboard poll reads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "call_outcomes",
        sa.Column("telephony_session_id", sa.String(128), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("is_abandoned", sa.Boolean(), nullable=False),
        sa.Column("ever_abandoned", sa.Boolean(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("started_at", UtcDateTime()),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("ended_at", UtcDateTime()),
        sa.Column("ring_s", sa.Float()),
        sa.Column("wait_s", sa.Float()),
        sa.Column("talk_s", sa.Float()),
        sa.Column("hold_s", sa.Float()),
        sa.Column("voicemail_s", sa.Float()),
        sa.Column("time_to_abandon_s", sa.Float()),
        sa.Column("queue", sa.String(255)),
        sa.Column("from_number", sa.String(64)),
        sa.Column("to_number", sa.String(64)),
        sa.Column("rules_version", sa.String(16), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_event_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("telephony_session_id", name="pk_call_outcomes"),
        sa.UniqueConstraint("change_seq", name="uq_call_outcomes_change_seq"),
    )
    op.create_index("ix_call_outcomes_started_at", "call_outcomes", ["started_at"])
    op.create_index(
        "ix_call_outcomes_abandoned_updated", "call_outcomes", ["is_abandoned", "updated_at"]
    )
    op.create_index(
        "ix_call_outcomes_open",
        "call_outcomes",
        ["last_event_at"],
        postgresql_where=sa.text("NOT final"),
        sqlite_where=sa.text("NOT final"),
    )
    op.create_table(
        "call_legs",
        sa.Column("telephony_session_id", sa.String(128), nullable=False),
        sa.Column("party_id", sa.String(128), nullable=False),
        sa.Column("extension_id", sa.String(32)),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("started_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("telephony_session_id", "party_id", name="pk_call_legs"),
    )
    op.create_index(
        "ix_call_legs_extension_started", "call_legs", ["extension_id", "started_at"]
    )
    outcome_changes = op.create_table(
        "outcome_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outcome_changes"),
    )
    op.bulk_insert(outcome_changes, [{"id": 1, "last_seq": 0}])


def downgrade() -> None:
    op.drop_table("outcome_changes")
    op.drop_index("ix_call_legs_extension_started", table_name="call_legs")
    op.drop_table("call_legs")
    op.drop_index("ix_call_outcomes_open", table_name="call_outcomes")
    op.drop_index("ix_call_outcomes_abandoned_updated", table_name="call_outcomes")
    op.drop_index("ix_call_outcomes_started_at", table_name="call_outcomes")
    op.drop_table("call_outcomes")
