"""The table of the admin UI's ended sessions (signed out, or of an admin since deleted)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime


class EndedUiSession(Base):
    """A session id that no cookie may use again, kept until every cookie carrying it expired.

    The id is stored as a SHA-256: the table says which sessions ended, never what would let
    someone forge a cookie (the cookie is signed anyway). Shared by every ``serve`` process, so a
    sign-out on one ends the session on all of them.
    """

    __tablename__ = "admin_ui_ended_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
