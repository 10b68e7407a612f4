"""Test handlers and helpers for the job system.

The handlers are small real functions registered in a test-owned ``HandlerRegistry``: one that
records its calls, one that fails transiently (with a ``retry_after``), one that needs an admin,
one that crashes. Jobs then run through the real runner and the real database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from forcebridge.container import Container
from forcebridge.errors import NeedsAdminAction, TransientExternalError
from forcebridge.jobs import service
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.models import Job

RECORD = "test.record"
TRANSIENT = "test.transient"
NEEDS_ADMIN_KIND = "test.needs_admin"
CRASH = "test.crash"


@dataclass
class Recorder:
    """Handlers that remember every call: (kind, job id, payload)."""

    retry_after: float | None = 120.0
    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, context: JobContext) -> None:
        with self._lock:
            self.calls.append((context.kind, context.job_id, dict(context.payload)))

    def transient(self, context: JobContext) -> None:
        self.record(context)
        raise TransientExternalError(
            "Salesforce answered 503",
            service="salesforce",
            status=503,
            retry_after=self.retry_after,
        )

    def needs_admin(self, context: JobContext) -> None:
        self.record(context)
        raise NeedsAdminAction(
            "The Salesforce user cannot edit Case.Status",
            service="salesforce",
            status=403,
            hint="Give the integration user edit access to Case.Status.",
        )

    def crash(self, context: JobContext) -> None:
        self.record(context)
        raise KeyError("a bug in a handler")

    def registry(self) -> HandlerRegistry:
        registry = HandlerRegistry()
        registry.register(RECORD, self.record)
        registry.register(TRANSIENT, self.transient)
        registry.register(NEEDS_ADMIN_KIND, self.needs_admin)
        registry.register(CRASH, self.crash)
        return registry

    def calls_of(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [call for call in self.calls if call[0] == kind]


def add_job(
    container: Container,
    kind: str = RECORD,
    payload: dict[str, Any] | None = None,
    *,
    coalesce_key: str | None = None,
    max_attempts: int = 8,
    now: datetime | None = None,
) -> str:
    with container.session() as session:
        return service.enqueue(
            session,
            kind,
            payload or {},
            connection_id=None,
            coalesce_key=coalesce_key,
            max_attempts=max_attempts,
            now=now,
        ).id


def job_row(container: Container, job_id: str) -> Job:
    with container.session() as session:
        return service.get_job(session, job_id)
