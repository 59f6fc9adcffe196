"""Monitored extensions, OAuth tokens, webhook subscriptions, token hashes, directory.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service.db.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "extensions",
        sa.Column("extension_id", sa.String(32), nullable=False),
        sa.Column("account_id", sa.String(32)),
        sa.Column("name", sa.String(255)),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("credential", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("status_reason", sa.Text()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("last_event_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("extension_id", name="pk_extensions"),
    )
    op.create_table(
        "oauth_tokens",
        sa.Column("extension_id", sa.String(32), nullable=False),
        sa.Column("access_token", sa.LargeBinary()),
        sa.Column("access_expires_at", UtcDateTime()),
        sa.Column("refresh_token", sa.LargeBinary()),
        sa.Column("refresh_expires_at", UtcDateTime()),
        sa.Column("refreshed_at", UtcDateTime()),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("extension_id", name="pk_oauth_tokens"),
    )
    op.create_table(
        "webhook_subscriptions",
        sa.Column("extension_id", sa.String(32), nullable=False),
        sa.Column("subscription_id", sa.String(64)),
        sa.Column("status", sa.String(24)),
        sa.Column("expires_at", UtcDateTime()),
        sa.Column("webhook_url", sa.String(1024)),
        sa.Column("event_filters", sa.Text()),
        sa.Column("last_renewed_at", UtcDateTime()),
        sa.Column("last_checked_at", UtcDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("renew_requested", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("extension_id", name="pk_webhook_subscriptions"),
    )
    op.create_index("ix_webhook_subscriptions_due", "webhook_subscriptions", ["next_due_at"])
    op.create_index(
        "ix_webhook_subscriptions_subscription_id", "webhook_subscriptions", ["subscription_id"]
    )
    op.create_table(
        "webhook_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("extension_id", sa.String(32), nullable=False),
        sa.Column("subscription_id", sa.String(64)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("retired_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("token_hash", name="pk_webhook_tokens"),
    )
    op.create_table(
        "directory_entries",
        sa.Column("extension_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(255)),
        sa.Column("extension_number", sa.String(32)),
        sa.Column("kind", sa.String(32)),
        sa.Column("synced_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("extension_id", name="pk_directory_entries"),
    )


def downgrade() -> None:
    op.drop_table("directory_entries")
    op.drop_table("webhook_tokens")
    op.drop_index("ix_webhook_subscriptions_subscription_id", table_name="webhook_subscriptions")
    op.drop_index("ix_webhook_subscriptions_due", table_name="webhook_subscriptions")
    op.drop_table("webhook_subscriptions")
    op.drop_table("oauth_tokens")
    op.drop_table("extensions")
