"""admin UI sessions ended by sign-out, shared by every serve process

Revision ID: 0011_admin_ui_ended_sessions
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0011_admin_ui_ended_sessions"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_ui_ended_sessions",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_hash"),
    )
    op.create_index(
        "ix_admin_ui_ended_sessions_expires_at", "admin_ui_ended_sessions", ["expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_admin_ui_ended_sessions_expires_at", table_name="admin_ui_ended_sessions")
    op.drop_table("admin_ui_ended_sessions")
