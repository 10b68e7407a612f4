"""comment and attachment link tables (sync of comments and files)

Revision ID: 0005
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import forcebridge.db

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comment_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("jira_comment_id", sa.String(length=20), nullable=False),
        sa.Column("salesforce_comment_id", sa.String(length=18), nullable=False),
        sa.Column("salesforce_comment_object", sa.String(length=20), nullable=False),
        sa.Column("jira_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("salesforce_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("association_id", "jira_comment_id"),
        sa.UniqueConstraint("association_id", "salesforce_comment_id"),
    )
    op.create_index(
        op.f("ix_comment_links_association_id"), "comment_links", ["association_id"], unique=False
    )
    op.create_table(
        "attachment_links",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("association_id", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("jira_attachment_id", sa.String(length=20), nullable=False),
        sa.Column("salesforce_document_id", sa.String(length=18), nullable=False),
        sa.Column("salesforce_version_id", sa.String(length=18), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", forcebridge.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["association_id"], ["associations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "association_id", "origin", "jira_attachment_id", "salesforce_document_id"
        ),
    )
    op.create_index(
        op.f("ix_attachment_links_association_id"),
        "attachment_links",
        ["association_id"],
        unique=False,
    )
    op.create_index(
        "ix_attachment_links_association_sha256",
        "attachment_links",
        ["association_id", "sha256"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_attachment_links_association_sha256", table_name="attachment_links")
    op.drop_index(op.f("ix_attachment_links_association_id"), table_name="attachment_links")
    op.drop_table("attachment_links")
    op.drop_index(op.f("ix_comment_links_association_id"), table_name="comment_links")
    op.drop_table("comment_links")
