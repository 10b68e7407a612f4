"""The table of outbound events: where each connection wants to hear about syncs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime


class EventSubscription(Base):
    """A user's URL called on sync success or failure, and its signing secret (encrypted)."""

    __tablename__ = "event_subscriptions"

    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(Text)
    encrypted_secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
