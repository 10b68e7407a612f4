"""copy intents: a comment or file copy recorded before it is created (crash-safe creates)

A table of its own rather than a state column on ``comment_links``/``attachment_links``: a
pending copy has no target id yet, and those tables' unique keys and every reader of them
assume a link is complete. A branch off 0001 like the other feature tables.

Revision ID: 0008_copy_intents
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0008_copy_intents"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
# The foreign key points at associations (0001) only; 0005's link tables are written in the
# same transactions but not referenced.
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "copy_intents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("source_id", sa.String(length=20), nullable=False),
        sa.Column("source_version_id", sa.String(length=18), nullable=False),
        sa.Column("target_object", sa.String(length=20), nullable=False),
        sa.Column("source_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("copy_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("association_id", "kind", "source_id"),
    )
    op.create_index(
        op.f("ix_copy_intents_association_id"), "copy_intents", ["association_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_copy_intents_association_id"), table_name="copy_intents")
    op.drop_table("copy_intents")
