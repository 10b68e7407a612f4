"""copy intents: the MD5 checksum of a file about to be uploaded

A column on ``copy_intents`` (table of 0008): the MD5 hex digest of the file's bytes, compared
with ``ContentVersion.Checksum`` when a killed push's upload is looked for, so two different
files with the same name and size are never mistaken for each other. Not ``source_fingerprint``:
that column is what a link records for the original, and it is not an MD5. Existing rows get
``""`` (no checksum: the lookup falls back to name and size). Follows 0008, which creates the
table.

Revision ID: 0013_copy_intent_checksum
Revises: 0008_copy_intents
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_copy_intent_checksum"
down_revision: str | None = "0008_copy_intents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "copy_intents",
        sa.Column("copy_checksum", sa.String(length=32), nullable=False, server_default=""),
    )


def downgrade() -> None:
    # batch mode: SQLite drops a column by rebuilding the table.
    with op.batch_alter_table("copy_intents") as batch:
        batch.drop_column("copy_checksum")
