"""The call log as a second source: records, their versions and the queue of records to process,
each credential's sync state, and on every outcome where its data came from and how the sources
agreed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATS_COLUMNS = [
    "started_at",
    "telephony_session_id",
    "final",
    "direction",
    "category",
    "wait_s",
    "time_to_abandon_s",
    "queue",
]


def upgrade() -> None:
    op.create_table(
        "call_log_records",
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("telephony_session_id", sa.String(128)),
        sa.Column("session_id", sa.String(64)),
        sa.Column("session_key", sa.String(200), nullable=False),
        sa.Column("owner_extension_id", sa.String(32)),
        sa.Column("fetched_by", sa.String(32), nullable=False),
        sa.Column("start_time", UtcDateTime()),
        sa.Column("last_modified_time", UtcDateTime()),
        sa.Column("result", sa.String(64)),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("versions", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name="pk_call_log_records"),
    )
    op.create_index("ix_call_log_records_session_key", "call_log_records", ["session_key"])
    op.create_index("ix_call_log_records_legacy", "call_log_records", ["session_id"])
    op.create_index(
        "ix_call_log_records_open",
        "call_log_records",
        ["fetched_by", "start_time"],
        postgresql_where=sa.text("NOT final"),
        sqlite_where=sa.text("NOT final"),
    )
    op.create_table(
        "call_log_pending",
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("queued_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", name="pk_call_log_pending"),
    )
    op.create_index("ix_call_log_pending_queued", "call_log_pending", ["queued_at"])
    op.create_table(
        "call_log_record_versions",
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("fetched_at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "digest", name="pk_call_log_record_versions"),
    )
    op.create_table(
        "call_log_sync",
        sa.Column("extension_id", sa.String(32), nullable=False),
        sa.Column("synced_through", UtcDateTime()),
        sa.Column("next_due_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_attempt_at", UtcDateTime()),
        sa.Column("last_synced_at", UtcDateTime()),
        sa.Column("records_stored", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("extension_id", name="pk_call_log_sync"),
    )
    op.create_index("ix_call_log_sync_due", "call_log_sync", ["next_due_at"])
    with op.batch_alter_table("call_outcomes") as batch:
        batch.add_column(
            sa.Column("sources", sa.String(32), nullable=False, server_default="webhook")
        )
        batch.add_column(
            sa.Column(
                "reconciliation", sa.String(24), nullable=False, server_default="events_only"
            )
        )
        batch.add_column(sa.Column("session_id", sa.String(64)))
    op.create_index("ix_call_outcomes_session_id", "call_outcomes", ["session_id"])
    # the statistics report per reconciliation too: keep them answerable from the index alone
    op.drop_index("ix_call_outcomes_stats", table_name="call_outcomes")
    op.create_index("ix_call_outcomes_stats", "call_outcomes", [*STATS_COLUMNS, "reconciliation"])
    op.create_index(
        "ix_call_outcomes_awaiting",
        "call_outcomes",
        ["started_at"],
        postgresql_where=sa.text("reconciliation = 'awaiting_call_log'"),
        sqlite_where=sa.text("reconciliation = 'awaiting_call_log'"),
    )


def downgrade() -> None:
    op.drop_index("ix_call_outcomes_stats", table_name="call_outcomes")
    op.create_index("ix_call_outcomes_stats", "call_outcomes", STATS_COLUMNS)
    op.drop_index("ix_call_outcomes_awaiting", table_name="call_outcomes")
    op.drop_index("ix_call_outcomes_session_id", table_name="call_outcomes")
    with op.batch_alter_table("call_outcomes") as batch:
        batch.drop_column("session_id")
        batch.drop_column("reconciliation")
        batch.drop_column("sources")
    op.drop_index("ix_call_log_sync_due", table_name="call_log_sync")
    op.drop_table("call_log_sync")
    op.drop_table("call_log_record_versions")
    op.drop_index("ix_call_log_pending_queued", table_name="call_log_pending")
    op.drop_table("call_log_pending")
    for name in ("open", "legacy", "session_key"):
        op.drop_index(f"ix_call_log_records_{name}", table_name="call_log_records")
    op.drop_table("call_log_records")
