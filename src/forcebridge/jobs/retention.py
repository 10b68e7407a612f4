"""Pruning history: finished jobs and processed webhook events do not pile up forever.

Done jobs and processed webhook events older than ``history_retention_days`` (default 7) are
deleted, at most once an hour per worker process. Dead letters and ``needs_admin`` jobs are kept
until replayed or handled: they are the record an admin needs. Webhook events are kept well past
the 24 h Jira may take to retry a delivery, so dedupe on its identifier keeps working. Ended Jira
throttles (``quota/jira_throttle.py``) of sites no request reads any more go in the same pass.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.jobs.handlers import HandlerRegistry
from forcebridge.jobs.models import DONE, Job, WebhookEvent
from forcebridge.jobs.settings import JobSettings
from forcebridge.quota.jira_throttle import delete_expired_throttles

PRUNE_EVERY = timedelta(hours=1)
_last_pruned: dict[int, datetime] = {}
_lock = threading.Lock()


def prune_history(session: Session, *, now: datetime, keep: timedelta) -> tuple[int, int]:
    """Delete done jobs and processed events finished before ``now - keep``; returns the counts."""
    cutoff = now - keep
    jobs = session.execute(delete(Job).where(Job.state == DONE, Job.finished_at < cutoff))
    events = session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.processed_at.is_not(None), WebhookEvent.processed_at < cutoff
        )
    )
    return int(jobs.rowcount or 0), int(events.rowcount or 0)  # type: ignore[attr-defined]


def prune_periodically(container: Container, settings: JobSettings, now: datetime) -> None:
    """Periodic hook of the worker's sweeper: prunes at most once per :data:`PRUNE_EVERY`."""
    with _lock:
        last = _last_pruned.get(id(container))
        if last is not None and now - last < PRUNE_EVERY:
            return
        _last_pruned[id(container)] = now
    with container.session() as session:
        prune_history(session, now=now, keep=timedelta(days=settings.history_retention_days))
        delete_expired_throttles(session, now=now)


def register_handlers(registry: HandlerRegistry) -> None:
    registry.register_periodic(prune_periodically)
