"""Abandoned-caller recovery: each outcome's outside number as a key, and for abandoned calls
the later call that reached the caller. Existing outcomes get their key here; their recoveries
are computed when `callsift reclassify` runs or as their numbers call again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from classifiers.outcome import Direction
from classifiers.recovery import caller_key
from service.db.types import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRECOVERED = "is_abandoned AND recovered_at IS NULL AND caller_key IS NOT NULL"
BACKFILL_CHUNK = 5000
DIRECTIONS = frozenset(direction.value for direction in Direction)


def upgrade() -> None:
    with op.batch_alter_table("call_outcomes") as batch:
        batch.add_column(sa.Column("caller_key", sa.String(64)))
        batch.add_column(sa.Column("recovered_at", UtcDateTime()))
        batch.add_column(sa.Column("recovered_by", sa.String(128)))
        batch.add_column(sa.Column("time_to_recovery_s", sa.Float()))
    _backfill_caller_keys()
    op.create_index("ix_call_outcomes_caller", "call_outcomes", ["caller_key", "started_at"])
    op.create_index(
        "ix_call_outcomes_unrecovered",
        "call_outcomes",
        ["started_at"],
        postgresql_where=sa.text(UNRECOVERED),
        sqlite_where=sa.text(UNRECOVERED),
    )


def _backfill_caller_keys() -> None:
    connection = op.get_bind()
    outcomes = sa.table(
        "call_outcomes",
        sa.column("telephony_session_id", sa.String()),
        sa.column("direction", sa.String()),
        sa.column("from_number", sa.String()),
        sa.column("to_number", sa.String()),
        sa.column("caller_key", sa.String()),
    )
    update = (
        sa.update(outcomes)
        .where(outcomes.c.telephony_session_id == sa.bindparam("session"))
        .values(caller_key=sa.bindparam("key"))
    )
    after = ""
    while True:
        rows = connection.execute(
            sa.select(
                outcomes.c.telephony_session_id,
                outcomes.c.direction,
                outcomes.c.from_number,
                outcomes.c.to_number,
            )
            .where(outcomes.c.telephony_session_id > after)
            .order_by(outcomes.c.telephony_session_id)
            .limit(BACKFILL_CHUNK)
        ).all()
        if not rows:
            return
        keyed = [
            {"session": session, "key": key}
            for session, direction, from_number, to_number in rows
            if direction in DIRECTIONS
            and (key := caller_key(Direction(direction), from_number, to_number)) is not None
        ]
        if keyed:
            connection.execute(update, keyed)
        after = rows[-1][0]


def downgrade() -> None:
    op.drop_index("ix_call_outcomes_unrecovered", table_name="call_outcomes")
    op.drop_index("ix_call_outcomes_caller", table_name="call_outcomes")
    with op.batch_alter_table("call_outcomes") as batch:
        batch.drop_column("time_to_recovery_s")
        batch.drop_column("recovered_by")
        batch.drop_column("recovered_at")
        batch.drop_column("caller_key")
