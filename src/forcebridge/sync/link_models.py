"""Link tables of comment and attachment sync: what was copied where, so nothing is copied twice.

A row is written in the same transaction as the sync step that copied the item, and read back at the
start of every sync of the association. It is what makes comment and file sync idempotent and
echo-free: an item whose id is already linked (on either side) is never copied again, and an item
ForceBridge created is recognised by its id rather than by its text.

A :class:`CopyIntent` row is written and committed *before* ForceBridge creates a copy (neither
Salesforce nor Jira takes an idempotency key for a create), and removed in the transaction that
writes the link. A worker killed between the create and that commit leaves the intent behind;
the next sync looks for the copy it names before creating anything (DESIGN.md §5).

Fingerprints and hashes are SHA-256 hex digests (a file intent's ``copy_checksum`` is MD5, to
compare with Salesforce's); nothing secret is stored here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime, utcnow
from forcebridge.models import new_id

ORIGIN_JIRA = "jira"
ORIGIN_SALESFORCE = "salesforce"

# What a CopyIntent is about to create.
INTENT_COMMENT_TO_SALESFORCE = "comment_to_salesforce"
INTENT_COMMENT_TO_JIRA = "comment_to_jira"
INTENT_FILE_TO_SALESFORCE = "file_to_salesforce"
INTENT_FILE_TO_JIRA = "file_to_jira"


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


class CopyIntent(Base):
    """A copy ForceBridge is about to create, committed before the create call.

    ``source_id`` is the original (Jira comment or attachment id, Salesforce comment or
    ContentDocument id). What identifies the copy once created: for a comment,
    ``copy_fingerprint`` (the fingerprint of the exact text and privacy written, label
    included); for a file, ``copy_checksum`` (the MD5 hex of its bytes, what Salesforce reports
    as ``ContentVersion.Checksum``) and ``size``, or ``filename`` and ``size`` where the target
    gives no checksum (Jira). ``copy_fingerprint`` is the file's SHA-256, which the link keeps.
    ``source_fingerprint`` is what the link records for the original when the copy is adopted;
    ``source_version_id`` the Salesforce ContentVersion a file was read from.
    """

    __tablename__ = "copy_intents"
    __table_args__ = (UniqueConstraint("association_id", "kind", "source_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    association_id: Mapped[str] = mapped_column(
        ForeignKey("associations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    source_id: Mapped[str] = mapped_column(String(20))
    source_version_id: Mapped[str] = mapped_column(String(18), default="")
    target_object: Mapped[str] = mapped_column(String(20))
    source_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    copy_fingerprint: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    # "" for comments, and for file intents written before the column existed (0013).
    copy_checksum: Mapped[str] = mapped_column(String(32), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
