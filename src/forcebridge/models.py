"""SQLAlchemy models: the store of every service.

Ids exposed outside (connections, tokens, associations) are random hex strings, so they cannot be
enumerated. Secrets live only in the ``*_credentials`` columns, as MultiFernet ciphertext of a JSON
object (see ``security/secrets.py``); nothing else in the database is secret.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from forcebridge.db import Base, UTCDateTime, utcnow


def new_id() -> str:
    return uuid.uuid4().hex


class InstallationSecret(Base):
    """Secrets of the installation itself (the API-token signing key), encrypted."""

    __tablename__ = "installation_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    encrypted_value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdminUser(Base):
    __tablename__ = "admin_users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Connection(Base):
    """One Jira Cloud site joined to one Salesforce org, with SFJC's connection settings."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)

    jira_url: Mapped[str] = mapped_column(String(500))
    jira_auth_type: Mapped[str] = mapped_column(String(20))  # basic | oauth
    jira_cloud_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    jira_credentials: Mapped[str] = mapped_column(Text)  # encrypted JSON

    salesforce_url: Mapped[str] = mapped_column(String(500))  # login or My Domain URL
    salesforce_auth_type: Mapped[str] = mapped_column(
        String(30)
    )  # jwt | refresh_token | client_credentials
    salesforce_instance_url: Mapped[str | None] = mapped_column(String(500), nullable=True)
    salesforce_organization_id: Mapped[str | None] = mapped_column(String(18), nullable=True)
    salesforce_credentials: Mapped[str] = mapped_column(Text)  # encrypted JSON

    # SFJC connection settings (sfjc-and-peers.md §0). allow_modification overrides everything.
    allow_modification: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_auto_push: Mapped[bool] = mapped_column(Boolean, default=True)
    allow_auto_pull: Mapped[bool] = mapped_column(Boolean, default=True)
    default_view_only: Mapped[bool] = mapped_column(Boolean, default=False)
    default_auto_push: Mapped[bool] = mapped_column(Boolean, default=False)
    default_auto_pull: Mapped[bool] = mapped_column(Boolean, default=False)
    after_associate: Mapped[str] = mapped_column(String(20), default="nothing")
    comment_privacy: Mapped[str] = mapped_column(
        String(10), default="all"
    )  # all | public | private
    sync_attachments: Mapped[bool] = mapped_column(Boolean, default=True)
    # What a record deleted in Salesforce does to its associations: flag | unlink (polling).
    on_salesforce_delete: Mapped[str] = mapped_column(
        String(10), default="flag", server_default="flag"
    )

    last_tested_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_test_result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    bindings: Mapped[list[ProjectBinding]] = relationship(
        back_populates="connection", cascade="all, delete-orphan", passive_deletes=True
    )


class ProjectBinding(Base):
    """A Jira project bound to a connection (SFJC's binding)."""

    __tablename__ = "project_bindings"
    __table_args__ = (UniqueConstraint("connection_id", "jira_project_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    jira_project_id: Mapped[str] = mapped_column(String(20))
    jira_project_key: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    connection: Mapped[Connection] = relationship(back_populates="bindings")
    entity_mappings: Mapped[list[EntityMapping]] = relationship(
        back_populates="binding", cascade="all, delete-orphan", passive_deletes=True
    )


class EntityMapping(Base):
    """Jira issue type ↔ Salesforce object within a binding (issue type None = every type)."""

    __tablename__ = "entity_mappings"
    __table_args__ = (UniqueConstraint("binding_id", "jira_issue_type_id", "salesforce_object"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    binding_id: Mapped[str] = mapped_column(ForeignKey("project_bindings.id", ondelete="CASCADE"))
    jira_issue_type_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    salesforce_object: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    binding: Mapped[ProjectBinding] = relationship(back_populates="entity_mappings")
    field_mappings: Mapped[list[FieldMapping]] = relationship(
        back_populates="entity_mapping",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FieldMapping.position",
    )


class FieldMapping(Base):
    """One Jira field ↔ one Salesforce field, as the sync engine applies it.

    ``direction``: push (Jira → Salesforce), pull (Salesforce → Jira) or both.
    ``value_map``: ``{"push": {jira_value: sf_value}, "pull": {sf_value: jira_value}}``.
    ``unmapped_push``/``unmapped_pull``: copy | set | empty | error (SFJC's unmapped action),
    with ``unmapped_*_value`` for ``set``. ``conflict_policy``: newest | salesforce | jira.
    """

    __tablename__ = "field_mappings"
    __table_args__ = (
        UniqueConstraint("entity_mapping_id", "jira_field", "salesforce_field", "direction"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    entity_mapping_id: Mapped[str] = mapped_column(
        ForeignKey("entity_mappings.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    jira_field: Mapped[str] = mapped_column(String(100))
    salesforce_field: Mapped[str] = mapped_column(String(100))
    direction: Mapped[str] = mapped_column(String(10), default="both")
    value_map: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    unmapped_push: Mapped[str] = mapped_column(String(10), default="copy")
    unmapped_push_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    unmapped_pull: Mapped[str] = mapped_column(String(10), default="copy")
    unmapped_pull_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    conflict_policy: Mapped[str] = mapped_column(String(12), default="newest")

    entity_mapping: Mapped[EntityMapping] = relationship(back_populates="field_mappings")


class ApiToken(Base):
    """An API access token: only its jti, SHA-256 and last four characters are kept."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    last_four: Mapped[str] = mapped_column(String(4))
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Association(Base):
    """A Jira issue linked to a Salesforce record (SFJC's association), with its three flags."""

    __tablename__ = "associations"
    __table_args__ = (
        UniqueConstraint("connection_id", "jira_issue_id", "salesforce_object", "salesforce_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    connection_id: Mapped[str] = mapped_column(
        ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    jira_issue_id: Mapped[str] = mapped_column(String(20), index=True)
    jira_issue_key: Mapped[str] = mapped_column(String(50))
    jira_project_id: Mapped[str] = mapped_column(String(20))
    salesforce_object: Mapped[str] = mapped_column(String(100))
    salesforce_id: Mapped[str] = mapped_column(String(18), index=True)
    view_only: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_push: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_pull: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the record was found deleted in Salesforce (connection setting ``flag``):
    # automatic sync skips the association until the record is restored.
    salesforce_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
