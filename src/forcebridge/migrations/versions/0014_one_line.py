"""join the feature branches: every revision after this one follows it in one line

Until now each feature added its tables as its own branch off 0001 and ``migrate`` upgraded every
head. This revision changes nothing in the schema; it only makes one head of the eight, so a new
migration names one parent (``down_revision = "0014"`` or its successor) like in any Alembic
project. Databases already at every head just record this revision.

Revision ID: 0014
Revises: 0004, 0005, 0007, 0009_salesforce_deletions, 0010_jira_throttles,
    0011_admin_ui_ended_sessions, 0012_webhook_registration, 0013_copy_intent_checksum
"""

from collections.abc import Sequence

revision: str = "0014"
down_revision: str | Sequence[str] | None = (
    "0004",
    "0005",
    "0007",
    "0009_salesforce_deletions",
    "0010_jira_throttles",
    "0011_admin_ui_ended_sessions",
    "0012_webhook_registration",
    "0013_copy_intent_checksum",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
