"""The sync engine's job handlers: what automation runs for ``sync.push`` and ``sync.pull``.

Webhook intake enqueues ``sync.push`` for an issue that changed; polling enqueues ``sync.pull``
for a record that changed. When the association syncs both ways automatically, either job runs
the two-way :func:`~forcebridge.sync.engine.sync_association` (both sides may have changed since
the last sync, and each field's conflict policy must decide); otherwise the one-way push or pull.
Flags and connection settings are read again when the job runs, not when it was enqueued: an
admin who switches automation off stops the work already queued. Jobs run more than once are
harmless, because a sync writes only values whose fingerprint changed.
"""

from __future__ import annotations

import structlog

from forcebridge.associations.service import get_association
from forcebridge.connections.service import get_connection
from forcebridge.errors import NotFound
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.models import Association, Connection
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.sync.engine import pull_record, push_issue, sync_association
from forcebridge.webhooks.processing import SYNC_PUSH_JOB

log = structlog.get_logger("forcebridge.sync.jobs")


def register_handlers(registry: HandlerRegistry) -> None:
    registry.register(SYNC_PUSH_JOB, run_push_job)
    registry.register(SYNC_PULL_JOB, run_pull_job)


def run_push_job(job: JobContext) -> None:
    loaded = _load(job)
    if loaded is None:
        return
    connection, association = loaded
    if not (association.auto_push and connection.allow_auto_push):
        log.info("sync.job.skipped", job_id=job.job_id, reason="automatic push is off")
        return
    if association.auto_pull and connection.allow_auto_pull:
        sync_association(job.container, connection.id, association.id, trigger="webhook")
        return
    push_issue(
        job.container,
        connection.id,
        association.jira_issue_id,
        salesforce_object=association.salesforce_object,
        salesforce_id=association.salesforce_id,
        trigger="webhook",
    )


def run_pull_job(job: JobContext) -> None:
    loaded = _load(job)
    if loaded is None:
        return
    connection, association = loaded
    if not (association.auto_pull and connection.allow_auto_pull):
        log.info("sync.job.skipped", job_id=job.job_id, reason="automatic pull is off")
        return
    if association.auto_push and connection.allow_auto_push:
        sync_association(job.container, connection.id, association.id, trigger="poll")
        return
    pull_record(
        job.container,
        connection.id,
        association.jira_issue_id,
        association.salesforce_object,
        association.salesforce_id,
        trigger="poll",
    )


def _load(job: JobContext) -> tuple[Connection, Association] | None:
    """The job's connection and association as they are now; None when either is gone,
    view-only, or modification is off (nothing to do, and retrying would not change that)."""
    association_id = str(job.payload.get("association_id", ""))
    if job.connection_id is None or not association_id:
        log.warning("sync.job.malformed", job_id=job.job_id, kind=job.kind)
        return None
    try:
        with job.container.session() as session:
            connection = get_connection(session, job.connection_id)
            association = get_association(session, job.connection_id, association_id)
    except NotFound:
        log.info("sync.job.skipped", job_id=job.job_id, reason="association or connection gone")
        return None
    if association.view_only or not connection.allow_modification:
        log.info("sync.job.skipped", job_id=job.job_id, reason="view only or read-only connection")
        return None
    return connection, association
