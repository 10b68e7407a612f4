"""what the Jira webhook was last registered with, and the last registration outcome

Columns on ``webhook_secrets`` (table of 0006): the JQL filter, intake URL and Jira site the
connection's webhook was last registered with (or last described in manual instructions), so an
automatic refresh makes no Jira call when nothing changed; and the last outcome, shown by the
admin UI. Follows 0006, which creates the table.

Revision ID: 0012_webhook_registration
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0012_webhook_registration"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_secrets", sa.Column("registered_jql", sa.Text(), nullable=True))
    op.add_column("webhook_secrets", sa.Column("registered_url", sa.Text(), nullable=True))
    op.add_column("webhook_secrets", sa.Column("registered_site_url", sa.Text(), nullable=True))
    op.add_column("webhook_secrets", sa.Column("last_outcome", sa.JSON(), nullable=True))
    op.add_column(
        "webhook_secrets",
        sa.Column("last_outcome_at", forcebridge.db.UTCDateTime(), nullable=True),
    )


def downgrade() -> None:
    # batch mode: SQLite drops a column by rebuilding the table.
    with op.batch_alter_table("webhook_secrets") as batch:
        for name in (
            "last_outcome_at",
            "last_outcome",
            "registered_site_url",
            "registered_url",
            "registered_jql",
        ):
            batch.drop_column(name)
