"""The tables of the quota guard (each connection's last seen Salesforce daily API usage) and of
Jira's rate limits (the throttles Jira announced with a 429, per site, until they end)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime


class SalesforceApiUsage(Base):
    """``Sforce-Limit-Info: api-usage=used/max`` as last answered to this connection.

    The daily quota belongs to the org (every integration shares it), so the figure is only ever
    read from Salesforce, never counted locally.
    """

    __tablename__ = "salesforce_api_usage"

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    used: Mapped[int] = mapped_column(Integer)
    daily_limit: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JiraThrottle(Base):
    """A limit Jira announced (429, or 503 with ``Retry-After``), holding requests until ``until``.

    ``site`` is the normalised Jira base URL, so every connection to one site shares the row;
    ``scope`` says what it holds: ``site`` (every request; ``scope_key`` is empty), ``endpoint``
    (``scope_key`` = ``METHOD /path/{template}``) or ``issue`` (writes to the issue id or key in
    ``scope_key``). One row per (site, scope, key): a later 429 only ever extends it.
    """

    __tablename__ = "jira_throttles"
    __table_args__ = (
        UniqueConstraint("site", "scope", "scope_key", name="uq_jira_throttles_scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(500))
    scope: Mapped[str] = mapped_column(String(16))
    scope_key: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[int] = mapped_column(Integer)
    until: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
