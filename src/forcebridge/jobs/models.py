"""Tables of background automation: jobs (the outbox), Jira webhook events and secrets, and the
Salesforce polling watermarks.

The database is the source of truth for every unit of background work; the queue (huey) only
carries job ids, so a lost queue message or a killed worker never loses work (the sweeper finds
due jobs and expired leases again). Nothing here holds a secret in clear: webhook secrets are
MultiFernet ciphertext like every other stored secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime, utcnow
from forcebridge.models import new_id

# Job states. ``queued`` covers waiting for a retry (``run_after`` in the future).
QUEUED = "queued"
RUNNING = "running"
DONE = "done"
DEAD = "dead"
NEEDS_ADMIN = "needs_admin"
JOB_STATES = (QUEUED, RUNNING, DONE, DEAD, NEEDS_ADMIN)
ACTIVE_STATES = (QUEUED, RUNNING)
STOPPED_STATES = (DEAD, NEEDS_ADMIN)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
_SEQUENCE_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class Job(Base):
    """One unit of background work, written in the same transaction as its cause.

    ``sequence`` orders jobs (per coalesce key they run strictly in this order); ``id`` is the
    public, unguessable id. ``lease_owner``/``lease_expires_at`` say which worker runs it and
    until when; an expired lease makes the job claimable again.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_run_after", "state", "run_after"),
        Index("ix_jobs_coalesce_key_state", "coalesce_key", "state"),
    )

    sequence: Mapped[int] = mapped_column(_SEQUENCE_TYPE, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(64))
    connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), nullable=True, index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=QUEUED)
    coalesce_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    coalesced_count: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    hint: Mapped[str | None] = mapped_column(Text, nullable=True)
    replay_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookSecret(Base):
    """The HMAC secret(s) Jira signs this connection's webhook deliveries with.

    During a rotation the previous secret stays valid until ``previous_valid_until`` so deliveries
    already signed (or retried by Jira) with it are still accepted.
    """

    __tablename__ = "webhook_secrets"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    encrypted_secret: Mapped[str] = mapped_column(Text)
    encrypted_previous_secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    jira_webhook_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    jira_account_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What Jira's webhook was last registered with (or what manual instructions last asked for):
    # an automatic refresh compares the wanted filter with these and skips Jira when they match.
    registered_jql: Mapped[str | None] = mapped_column(Text, nullable=True)
    registered_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The site ``jira_webhook_id`` belongs to: ids are per site, so after a site change the old id
    # is checked before it is written to (it may be another integration's webhook there).
    registered_site_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebhookEvent(Base):
    """A verified Jira webhook delivery, unique per connection and delivery identifier."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("connection_id", "identifier"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    identifier: Mapped[str] = mapped_column(String(200))
    webhook_event: Mapped[str] = mapped_column(String(100))
    jira_issue_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    event_timestamp: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IssueEventVersion(Base):
    """The newest Jira event timestamp already applied per issue: older events are ignored."""

    __tablename__ = "issue_event_versions"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    jira_issue_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    event_timestamp: Mapped[int] = mapped_column(BigInteger)


class PollWatermark(Base):
    """How far Salesforce polling has read one object of one connection (``SystemModstamp``)."""

    __tablename__ = "poll_watermarks"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    salesforce_object: Mapped[str] = mapped_column(String(100), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(UTCDateTime)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PolledChange(Base):
    """A (record, SystemModstamp) already turned into pull jobs: the overlap window re-reads it."""

    __tablename__ = "polled_changes"

    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    salesforce_id: Mapped[str] = mapped_column(String(18), primary_key=True)
    modstamp: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    salesforce_object: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
