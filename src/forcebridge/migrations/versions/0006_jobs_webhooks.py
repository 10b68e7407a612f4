"""jobs, webhook events and secrets, polling watermarks

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-28 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _connection_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("coalesce_key", sa.String(length=200), nullable=True),
        sa.Column("coalesced_count", sa.Integer(), nullable=False),
        sa.Column("run_after", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("dispatched_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_kind", sa.String(length=16), nullable=True),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("replay_count", sa.Integer(), nullable=False),
        sa.Column("created_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", forcebridge.db.UTCDateTime(), nullable=True),
        _connection_fk(),
        sa.PrimaryKeyConstraint("sequence"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_connection_id", ["connection_id"], unique=False)
        batch.create_index("ix_jobs_state_run_after", ["state", "run_after"], unique=False)
        batch.create_index("ix_jobs_coalesce_key_state", ["coalesce_key", "state"], unique=False)

    op.create_table(
        "webhook_secrets",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("encrypted_secret", sa.Text(), nullable=False),
        sa.Column("encrypted_previous_secret", sa.Text(), nullable=True),
        sa.Column("previous_valid_until", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("jira_webhook_id", sa.String(length=40), nullable=True),
        sa.Column("jira_account_id", sa.String(length=128), nullable=True),
        sa.Column("registered_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("rotated_at", forcebridge.db.UTCDateTime(), nullable=True),
        _connection_fk(),
        sa.PrimaryKeyConstraint("connection_id"),
    )

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("webhook_event", sa.String(length=100), nullable=False),
        sa.Column("jira_issue_id", sa.String(length=20), nullable=True),
        sa.Column("event_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.Column("received_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("processed_at", forcebridge.db.UTCDateTime(), nullable=True),
        _connection_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "identifier"),
    )
    with op.batch_alter_table("webhook_events") as batch:
        batch.create_index("ix_webhook_events_received_at", ["received_at"], unique=False)

    op.create_table(
        "issue_event_versions",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("jira_issue_id", sa.String(length=20), nullable=False),
        sa.Column("event_timestamp", sa.BigInteger(), nullable=False),
        _connection_fk(),
        sa.PrimaryKeyConstraint("connection_id", "jira_issue_id"),
    )

    op.create_table(
        "poll_watermarks",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("salesforce_object", sa.String(length=100), nullable=False),
        sa.Column("watermark", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("last_polled_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("next_poll_at", forcebridge.db.UTCDateTime(), nullable=False),
        _connection_fk(),
        sa.PrimaryKeyConstraint("connection_id", "salesforce_object"),
    )

    op.create_table(
        "polled_changes",
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("salesforce_id", sa.String(length=18), nullable=False),
        sa.Column("modstamp", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("salesforce_object", sa.String(length=100), nullable=False),
        sa.Column("seen_at", forcebridge.db.UTCDateTime(), nullable=False),
        _connection_fk(),
        sa.PrimaryKeyConstraint("connection_id", "salesforce_id", "modstamp"),
    )


def downgrade() -> None:
    op.drop_table("polled_changes")
    op.drop_table("poll_watermarks")
    op.drop_table("issue_event_versions")
    op.drop_table("webhook_events")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_coalesce_key_state")
        batch.drop_index("ix_jobs_state_run_after")
        batch.drop_index("ix_jobs_connection_id")
    op.drop_table("jobs")
    op.drop_table("webhook_secrets")
