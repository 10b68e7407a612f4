"""The quota guard: keep background work from spending an org's last daily API calls.

Salesforce counts every API call of every integration against one daily quota per org, and an
org that runs out stops *all* its integrations (403 ``REQUEST_LIMIT_EXCEEDED``) until the rolling
24-hour window frees calls. So ForceBridge:

- records the usage each Salesforce answer reports (``Sforce-Limit-Info: api-usage=N/M``, kept by
  the client in ``api_usage``) per connection, whenever a connection's clients close;
- pauses *background* work (job kinds started by webhooks, polling and bulk jobs) once usage
  reaches ``quota_pause_share`` of the limit (default 90%): such a job is not failed but deferred,
  re-enqueued with a ``run_after`` of ``quota_recheck_seconds``, keeping its ordering key;
- never pauses people: a push asked for through the API is not a job and keeps running in the
  reserve left above the threshold;
- resumes by itself: a pause lasts only while the last observation is younger than
  ``quota_recheck_seconds``. After that the next background job runs as a probe, and its own
  calls bring a fresh figure (paused again if still above the share).

Jira's rate limits are the sibling :mod:`forcebridge.quota.jira_throttle`: a 429 holds the
endpoint, the issue or the whole site (per ``RateLimit-Reason``) for every process until it ends.
While the whole Jira site is held, background jobs are held here before they start (the runner
queues them for the end of the pause, spending no attempt), so they do not spend Salesforce reads
only to be held at their first Jira request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.jobs.handlers import Handler, HandlerRegistry, JobContext
from forcebridge.jobs.service import enqueue
from forcebridge.models import Connection
from forcebridge.quota.jira_throttle import site_pause
from forcebridge.quota.models import SalesforceApiUsage

log = structlog.get_logger("forcebridge.quota")

# Job kinds no person is waiting on: paused when the org's quota runs low.
BACKGROUND_JOB_KINDS: frozenset[str] = frozenset(
    {
        "sync.push",
        "sync.pull",
        "poll.salesforce",
        "bulk.push",
        "bulk.pull",
        "bulk.associate",
        "bulk.create_jira_issues",
    }
)


class QuotaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORCEBRIDGE_", extra="ignore")

    quota_pause_share: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of the org's daily API limit at which background work pauses.",
    )
    quota_recheck_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How long a pause lasts before a background job runs again as a probe.",
    )


@dataclass(frozen=True)
class QuotaState:
    connection_id: str
    used: int | None
    daily_limit: int | None
    observed_at: datetime | None
    pause_share: float
    paused: bool
    resumes_at: datetime | None

    @property
    def share(self) -> float | None:
        if self.used is None or not self.daily_limit:
            return None
        return self.used / self.daily_limit

    def as_dict(self) -> dict[str, Any]:
        return {
            "connectionId": self.connection_id,
            "used": self.used,
            "dailyLimit": self.daily_limit,
            "share": None if self.share is None else round(self.share, 4),
            "pauseShare": self.pause_share,
            "paused": self.paused,
            "observedAt": self.observed_at.isoformat() if self.observed_at else None,
            "resumesAt": self.resumes_at.isoformat() if self.resumes_at else None,
        }


def record_api_usage(container: Container, connection_id: str, used: int, daily_limit: int) -> None:
    """Store the usage a Salesforce answer reported (the newest observation wins)."""
    now = container.clock()
    with container.session() as session:
        row = session.get(SalesforceApiUsage, connection_id)
        if row is None:
            session.add(
                SalesforceApiUsage(
                    connection_id=connection_id,
                    used=used,
                    daily_limit=daily_limit,
                    observed_at=now,
                )
            )
        else:
            row.used, row.daily_limit, row.observed_at = used, daily_limit, now


def record_client_usage(container: Container, connection_id: str, salesforce: Any) -> None:
    """Called when a connection's clients close: keep what the Salesforce client last saw.

    Never raises: losing one observation only delays a pause, while failing here would fail
    the sync that just succeeded.
    """
    usage = getattr(salesforce, "api_usage", None)
    if usage is None:
        return
    try:
        record_api_usage(container, connection_id, int(usage[0]), int(usage[1]))
    except Exception:
        log.warning("quota.record_failed", connection_id=connection_id, exc_info=True)


def quota_state(
    session: Session,
    connection_id: str,
    *,
    now: datetime,
    settings: QuotaSettings | None = None,
) -> QuotaState:
    settings = settings or QuotaSettings()
    row = session.get(SalesforceApiUsage, connection_id)
    if row is None:
        return QuotaState(connection_id, None, None, None, settings.quota_pause_share, False, None)
    over_share = row.daily_limit > 0 and row.used >= settings.quota_pause_share * row.daily_limit
    resumes_at = row.observed_at + timedelta(seconds=settings.quota_recheck_seconds)
    paused = over_share and now < resumes_at
    return QuotaState(
        connection_id=connection_id,
        used=row.used,
        daily_limit=row.daily_limit,
        observed_at=row.observed_at,
        pause_share=settings.quota_pause_share,
        paused=paused,
        resumes_at=resumes_at if paused else None,
    )


def guarded(handler: Handler, settings: QuotaSettings | None = None) -> Handler:
    """``handler``, deferred instead of run while its connection's quota guard is paused."""

    def run_unless_paused(job: JobContext) -> None:
        if job.connection_id is not None and job.kind in BACKGROUND_JOB_KINDS:
            now = job.container.clock()
            with job.container.session() as session:
                state = quota_state(session, job.connection_id, now=now, settings=settings)
                if state.paused and state.resumes_at is not None:
                    defer(session, job, state.resumes_at)
                    log.info(
                        "quota.deferred",
                        job_id=job.job_id,
                        kind=job.kind,
                        connection_id=job.connection_id,
                        used=state.used,
                        daily_limit=state.daily_limit,
                        run_after=state.resumes_at.isoformat(),
                    )
                    return
                connection = session.get(Connection, job.connection_id)
            jira_pause = site_pause(job.container, connection) if connection else None
            if jira_pause is not None:
                # The runner queues the job again for the end of the pause, spending no attempt.
                raise jira_pause.held_error(f"the {job.kind} job", now)
        handler(job)

    run_unless_paused.__name__ = f"quota_guarded_{getattr(handler, '__name__', 'handler')}"
    return run_unless_paused


def defer(session: Session, job: JobContext, run_after: datetime) -> str:
    """Re-enqueue ``job`` for ``run_after`` under the same ordering key; this run then ends done.

    The copy is a new job so the deferral spends none of the job's retry budget. It keeps the
    coalesce key of the job row, so later events for the same association still merge into it.
    """
    from forcebridge.jobs.models import Job

    row = session.scalar(select(Job).where(Job.id == job.job_id))
    coalesce_key = row.coalesce_key if row is not None else None
    max_attempts = row.max_attempts if row is not None else 8
    enqueued = enqueue(
        session,
        job.kind,
        dict(job.payload),
        connection_id=job.connection_id,
        coalesce_key=coalesce_key,
        run_after=run_after,
        max_attempts=max_attempts,
    )
    return enqueued.id


def register_handlers(registry: HandlerRegistry) -> None:
    """Wrap the background handlers already registered (load this module last)."""
    for kind in registry.kinds():
        handler = registry.get(kind)
        if kind in BACKGROUND_JOB_KINDS and handler is not None:
            if getattr(handler, "__name__", "").startswith("quota_guarded_"):
                continue  # loaded twice: wrap once
            registry.register(kind, guarded(handler))
