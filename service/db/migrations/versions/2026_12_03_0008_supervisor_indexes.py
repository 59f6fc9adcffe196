"""Indexes for the supervisor's queries at a month of calls.

- `ix_call_outcomes_abandoned_callers` replaces `ix_call_outcomes_unrecovered`: every abandoned
  call with a number to call back, by start, carrying (on PostgreSQL) its number, category and
  recovery, so that the callback list counts and chooses its numbers, and the recovery counts
  are made, from the index alone.
- `ix_call_legs_started` also carries the leg's outcome, so that the agents' leg counts are read
  from the index alone.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ABANDONED_CALLERS = "is_abandoned AND caller_key IS NOT NULL"
UNRECOVERED = "is_abandoned AND recovered_at IS NULL AND caller_key IS NOT NULL"
CALLER_COLUMNS = ["caller_key", "category", "recovered_at", "time_to_recovery_s"]
LEG_COLUMNS = ["started_at", "telephony_session_id", "extension_id"]


def upgrade() -> None:
    op.create_index(
        "ix_call_outcomes_abandoned_callers",
        "call_outcomes",
        ["started_at"],
        postgresql_where=sa.text(ABANDONED_CALLERS),
        postgresql_include=CALLER_COLUMNS,
        sqlite_where=sa.text(ABANDONED_CALLERS),
    )
    op.drop_index("ix_call_outcomes_unrecovered", table_name="call_outcomes")
    op.drop_index("ix_call_legs_started", table_name="call_legs")
    op.create_index("ix_call_legs_started", "call_legs", [*LEG_COLUMNS, "outcome"])


def downgrade() -> None:
    op.drop_index("ix_call_legs_started", table_name="call_legs")
    op.create_index("ix_call_legs_started", "call_legs", LEG_COLUMNS)
    op.create_index(
        "ix_call_outcomes_unrecovered",
        "call_outcomes",
        ["started_at"],
        postgresql_where=sa.text(UNRECOVERED),
        sqlite_where=sa.text(UNRECOVERED),
    )
    op.drop_index("ix_call_outcomes_abandoned_callers", table_name="call_outcomes")
