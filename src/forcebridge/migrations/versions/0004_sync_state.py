"""sync engine: field sync state, association sync state, audit trail, pending creates

Revision ID: 0004
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0004"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_field_states",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=32), nullable=False),
        sa.Column("jira_field", sa.String(length=100), nullable=False),
        sa.Column("salesforce_field", sa.String(length=100), nullable=False),
        sa.Column("jira_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("salesforce_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("last_value_preview", sa.Text(), nullable=True),
        sa.Column("last_direction", sa.String(length=10), nullable=False),
        sa.Column("synced_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("association_id", "jira_field", "salesforce_field"),
    )
    op.create_index("ix_sync_field_states_association_id", "sync_field_states", ["association_id"])
    op.create_table(
        "sync_association_states",
        sa.Column("association_id", sa.String(length=32), nullable=False),
        sa.Column("jira_issue_type_id", sa.String(length=20), nullable=True),
        sa.Column("last_push_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("last_pull_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=12), nullable=True),
        sa.Column("last_error_class", sa.String(length=100), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("last_error_hint", sa.Text(), nullable=True),
        sa.Column("last_error_at", forcebridge.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("association_id"),
    )
    op.create_table(
        "sync_audit",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=32), nullable=True),
        sa.Column("jira_issue_id", sa.String(length=20), nullable=True),
        sa.Column("salesforce_object", sa.String(length=100), nullable=True),
        sa.Column("salesforce_id", sa.String(length=18), nullable=True),
        sa.Column("trigger", sa.String(length=12), nullable=False),
        sa.Column("direction", sa.String(length=12), nullable=False),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("error_class", sa.String(length=100), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("hint", sa.Text(), nullable=True),
        sa.Column("started_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_sync_audit_connection_started", "sync_audit", ["connection_id", "started_at"]
    )
    op.create_index("ix_sync_audit_association", "sync_audit", ["association_id"])
    op.create_table(
        "sync_pending_creates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("connection_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_key", sa.String(length=250), nullable=False),
        sa.Column("marker", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_id", sa.String(length=20), nullable=True),
        sa.Column("created_key", sa.String(length=50), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "kind", "source_key"),
        sa.UniqueConstraint("marker"),
    )
    op.create_index(
        "ix_sync_pending_creates_connection_id", "sync_pending_creates", ["connection_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_sync_pending_creates_connection_id", table_name="sync_pending_creates")
    op.drop_table("sync_pending_creates")
    op.drop_index("ix_sync_audit_association", table_name="sync_audit")
    op.drop_index("ix_sync_audit_connection_started", table_name="sync_audit")
    op.drop_table("sync_audit")
    op.drop_table("sync_association_states")
    op.drop_index("ix_sync_field_states_association_id", table_name="sync_field_states")
    op.drop_table("sync_field_states")
