"""Link tables of comment and attachment sync: what was copied where, so nothing is copied twice.

A row is written in the same transaction as the sync step that copied the item, and read back at the
start of every sync of the association. It is what makes comment and file sync idempotent and
echo-free: an item whose id is already linked (on either side) is never copied again, and an item
ForceBridge created is recognised by its id rather than by its text.

Fingerprints and hashes are SHA-256 hex digests; nothing secret is stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime, utcnow
from forcebridge.models import new_id

ORIGIN_JIRA = "jira"
ORIGIN_SALESFORCE = "salesforce"


class CommentLink(Base):
    """A Jira comment and the Salesforce comment (CaseComment or FeedItem) it is synced with.

    ``origin`` is the side the comment was written on; the other side holds ForceBridge's copy.
    Each fingerprint is the SHA-256 of the text and privacy of that side's comment as it was at the
    last sync, so an edit shows up as a changed fingerprint on the origin side.
    """

    __tablename__ = "comment_links"
    __table_args__ = (
        UniqueConstraint("association_id", "jira_comment_id"),
        UniqueConstraint("association_id", "salesforce_comment_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    association_id: Mapped[str] = mapped_column(
        ForeignKey("associations.id", ondelete="CASCADE"), index=True
    )
    origin: Mapped[str] = mapped_column(String(10))  # jira | salesforce
    jira_comment_id: Mapped[str] = mapped_column(String(20))
    salesforce_comment_id: Mapped[str] = mapped_column(String(18))
    salesforce_comment_object: Mapped[str] = mapped_column(String(20))  # CaseComment | FeedItem
    jira_fingerprint: Mapped[str] = mapped_column(String(64))
    salesforce_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AttachmentLink(Base):
    """A Jira attachment and the Salesforce File (ContentDocument) holding the same bytes.

    ``origin`` is the side the file was found on. Usually the other side is the copy ForceBridge
    uploaded; when the same bytes were already there (same SHA-256), the row links the existing
    file instead, so one file on one side may appear in several rows.
    """

    __tablename__ = "attachment_links"
    __table_args__ = (
        UniqueConstraint(
            "association_id", "origin", "jira_attachment_id", "salesforce_document_id"
        ),
        Index("ix_attachment_links_association_sha256", "association_id", "sha256"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    association_id: Mapped[str] = mapped_column(
        ForeignKey("associations.id", ondelete="CASCADE"), index=True
    )
    origin: Mapped[str] = mapped_column(String(10))  # jira | salesforce
    jira_attachment_id: Mapped[str] = mapped_column(String(20))
    salesforce_document_id: Mapped[str] = mapped_column(String(18))
    salesforce_version_id: Mapped[str] = mapped_column(String(18))
    filename: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
