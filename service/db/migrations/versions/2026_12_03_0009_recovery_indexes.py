"""Indexes that keep recoveries current without reading a number's whole day: the calls that
reached their caller, the abandoned calls of a number not yet recovered and recovered (by when),
and who recovered what. They replace the index of every call by number and start.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRECOVERED = "is_abandoned AND recovered_at IS NULL AND caller_key IS NOT NULL"
RECOVERED = "is_abandoned AND recovered_at IS NOT NULL AND caller_key IS NOT NULL"
REACHING = (
    "caller_key IS NOT NULL AND NOT is_abandoned AND (category IN ('answered', "
    "'outbound_connected') OR (category = 'in_progress' AND answered_at IS NOT NULL))"
)
RECOVERING = "recovered_by IS NOT NULL"
PARTIAL_INDEXES = (
    ("ix_call_outcomes_reaching", ["caller_key", "started_at"], REACHING),
    ("ix_call_outcomes_caller_unrecovered", ["caller_key", "started_at"], UNRECOVERED),
    ("ix_call_outcomes_caller_recovered", ["caller_key", "recovered_at"], RECOVERED),
    ("ix_call_outcomes_recovered_by", ["recovered_by"], RECOVERING),
)


def upgrade() -> None:
    for name, columns, where in PARTIAL_INDEXES:
        op.create_index(
            name,
            "call_outcomes",
            columns,
            postgresql_where=sa.text(where),
            sqlite_where=sa.text(where),
        )
    op.drop_index("ix_call_outcomes_caller", table_name="call_outcomes")


def downgrade() -> None:
    op.create_index("ix_call_outcomes_caller", "call_outcomes", ["caller_key", "started_at"])
    for name, _, _ in reversed(PARTIAL_INDEXES):
        op.drop_index(name, table_name="call_outcomes")
