"""Tables of the sync engine: per-field sync state, the audit trail and pending creates.

- :class:`FieldSyncState`: per association and mapped field pair, the fingerprint of the value
  each side held after the last sync (echo suppression and "write only what changed").
- :class:`AssociationSyncState`: per association, what the engine learned about it (issue type,
  last push, last pull, last error), so a status query needs no vendor call.
- :class:`SyncAudit`: one row per sync attempt, with per-field before/after previews.
- :class:`PendingCreate`: a create recorded *before* its vendor call, with the marker a retry
  searches for (Jira has no idempotency key; DESIGN §5).

Created by migration ``0004``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime, utcnow
from forcebridge.models import new_id


class FieldSyncState(Base):
    """What one mapped field pair of one association held on each side after the last sync.

    ``jira_fingerprint``: fingerprint of the Jira side's value *in Salesforce form* (what a push
    would write). ``salesforce_fingerprint``: fingerprint of the Salesforce side's value *in Jira
    form* (what a pull would write). A side whose current mapped value has the stored fingerprint
    has not changed since the last sync, so nothing is written and nothing echoes back.
    """

    __tablename__ = "sync_field_states"
    __table_args__ = (UniqueConstraint("association_id", "jira_field", "salesforce_field"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    association_id: Mapped[str] = mapped_column(
        ForeignKey("associations.id", ondelete="CASCADE"), index=True
    )
    jira_field: Mapped[str] = mapped_column(String(100))
    salesforce_field: Mapped[str] = mapped_column(String(100))
    jira_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    salesforce_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_value_preview: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_direction: Mapped[str] = mapped_column(String(10))  # push | pull
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AssociationSyncState(Base):
    """Per association: last push, last pull and last error, and the issue type last seen."""

    __tablename__ = "sync_association_states"

    association_id: Mapped[str] = mapped_column(
        ForeignKey("associations.id", ondelete="CASCADE"), primary_key=True
    )
    jira_issue_type_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_pull_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_outcome: Mapped[str | None] = mapped_column(String(12), nullable=True)
    last_error_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_hint: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SyncAudit(Base):
    """One sync attempt. Kept when its association is deleted (no foreign key), for the record.

    ``fields``: ``[{"field", "before", "after"}]`` previews (never secrets; long values cut).
    ``problems`` and ``conflicts`` as the sync reported them.
    """

    __tablename__ = "sync_audit"
    __table_args__ = (
        Index("ix_sync_audit_connection_started", "connection_id", "started_at"),
        Index("ix_sync_audit_association", "association_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(String(32))
    association_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    jira_issue_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    salesforce_object: Mapped[str | None] = mapped_column(String(100), nullable=True)
    salesforce_id: Mapped[str | None] = mapped_column(String(18), nullable=True)
    trigger: Mapped[str] = mapped_column(String(12))  # manual | api | webhook | poll | bulk
    direction: Mapped[str] = mapped_column(String(12))  # push | pull | sync | create
    outcome: Mapped[str] = mapped_column(
        String(12)
    )  # success | no_change | partial | failed | skipped
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    problems: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    conflicts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    error_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    hint: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)


class PendingCreate(Base):
    """A create on one side, recorded before the vendor call so that a retry never creates twice.

    ``kind``: ``jira_issue`` (source is a Salesforce record) or ``salesforce_record`` (source is a
    Jira issue). ``source_key`` names the source (``Case:500...`` or the issue id) plus the
    target (project and type, or object). ``state``: pending → created.
    """

    __tablename__ = "sync_pending_creates"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "source_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    source_key: Mapped[str] = mapped_column(String(250))
    marker: Mapped[str] = mapped_column(String(40), unique=True)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    created_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_key: Mapped[str | None] = mapped_column(String(50), nullable=True)
    attempts: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
