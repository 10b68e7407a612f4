"""records deleted in Salesforce: associations.salesforce_deleted_at and the connection's
on_salesforce_delete setting (flag | unlink)

Two plain columns added to tables of 0001; a branch off 0001 like the other feature revisions.
Existing connections get ``flag`` (keep the association, mark it, stop automatic sync), the
behaviour that loses nothing.

Revision ID: 0009_salesforce_deletions
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0009_salesforce_deletions"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "associations",
        sa.Column("salesforce_deleted_at", forcebridge.db.UTCDateTime(), nullable=True),
    )
    op.add_column(
        "connections",
        sa.Column(
            "on_salesforce_delete",
            sa.String(length=10),
            nullable=False,
            server_default="flag",
        ),
    )


def downgrade() -> None:
    # batch mode: SQLite drops a column by rebuilding the table.
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("on_salesforce_delete")
    with op.batch_alter_table("associations") as batch:
        batch.drop_column("salesforce_deleted_at")
