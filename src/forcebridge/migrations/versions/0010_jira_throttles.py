"""jira throttles: the rate limits Jira announced (429 / 503 with Retry-After), per site and scope

Shared by every worker process and the API, so one process's 429 holds the others' requests to
the same site, endpoint or issue. A branch off 0001 like the other feature tables.

Revision ID: 0010_jira_throttles
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0010_jira_throttles"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jira_throttles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=500), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("scope_key", sa.String(length=500), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("until", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("site", "scope", "scope_key", name="uq_jira_throttles_scope"),
    )
    op.create_index("ix_jira_throttles_until", "jira_throttles", ["until"])


def downgrade() -> None:
    op.drop_index("ix_jira_throttles_until", table_name="jira_throttles")
    op.drop_table("jira_throttles")
