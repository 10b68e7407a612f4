"""The table of the quota guard: each connection's last seen Salesforce daily API usage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
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
