"""The table of bulk jobs: one row per bulk request, holding its items and its progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from forcebridge.db import Base, UTCDateTime

BULK_RUNNING = "running"
BULK_DONE = "done"


class BulkJob(Base):
    """A bulk request (e.g. push every association of a JQL's issues) and how far it got.

    ``items`` is fixed when the request is accepted; ``cursor`` is the index of the first item
    not yet processed. A worker advances the cursor one chunk at a time, in the same transaction
    as the chunk's counts, so a worker killed mid-chunk re-runs only that chunk (and the sync
    engine's fingerprints make the re-run write nothing twice).
    """

    __tablename__ = "bulk_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    connection_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("connections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    items: Mapped[list[str]] = mapped_column(JSON)
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
