"""Stats rollups: per-slice summaries of the outcomes for `/v1/stats/outcomes` and the trend,
and the dirty marks that tell the refresher what to recompute. Every quarter hour that holds a
stored outcome is marked here, so the service's refresher builds the rollups of existing data
(until then the reports read those quarters from the outcomes, as before).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
QUARTER_OF = {
    "postgresql": "(floor(extract(epoch FROM started_at) / 900) * 900)::bigint",
    "sqlite": "(CAST(strftime('%s', started_at) AS INTEGER) / 900) * 900",
}


def upgrade() -> None:
    op.create_table(
        "stats_rollups",
        sa.Column("slice_s", sa.Integer(), nullable=False),
        sa.Column("slice_start", sa.BigInteger(), nullable=False),
        sa.Column("dim", sa.String(16), nullable=False),
        sa.Column("key", sa.String(255)),
        sa.Column("content", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_stats_rollups_slice", "stats_rollups", ["slice_s", "slice_start", "dim"]
    )
    op.create_table(
        "stats_rollup_marks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("slice_start", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_stats_rollup_marks_slice", "stats_rollup_marks", ["slice_start"])
    quarter = QUARTER_OF[op.get_bind().dialect.name]
    op.execute(
        f"INSERT INTO stats_rollup_marks (slice_start) SELECT DISTINCT {quarter} "  # noqa: S608
        "FROM call_outcomes WHERE started_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_stats_rollup_marks_slice", table_name="stats_rollup_marks")
    op.drop_table("stats_rollup_marks")
    op.drop_index("ix_stats_rollups_slice", table_name="stats_rollups")
    op.drop_table("stats_rollups")
