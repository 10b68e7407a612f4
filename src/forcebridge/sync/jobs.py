"""The sync engine's job handlers: what automation runs for ``sync.push`` and ``sync.pull``.

Webhook intake enqueues ``sync.push`` for an issue that changed; polling enqueues ``sync.pull``
for a record that changed. When the association syncs both ways automatically, either job runs
the two-way :func:`~forcebridge.sync.engine.sync_association` (both sides may have changed since
the last sync, and each field's conflict policy must decide); otherwise the one-way push or pull.
Flags and connection settings are read again when the job runs, not when it was enqueued: an
admin who switches automation off stops the work already queued. Jobs run more than once are
harmless, because a sync writes only values whose fingerprint changed. A write the engine
reports as failed for a passing reason (throttled, unavailable) or for an admin to fix is raised
by the job, so the runner retries or stops it: a manual push shows such a failure to the person,
a job must not end ``done`` having dropped it. A pull's fan-out write to another record of the
issue that fails that way gets a ``sync.push`` job of its own.

A record deleted in Salesforce is not an error to retry: an association flagged as deleted
(``salesforce_deleted_at``) is skipped without a call, and a job told the record is gone
(``ENTITY_IS_DELETED``, ``NOT_FOUND``, or no row for its id) confirms it with one ``queryAll``
read and hands it to :func:`~forcebridge.polling.deletions.handle_deleted_record` (flag or
unlink, with an audit row) instead of retrying or dead-lettering.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import structlog

from forcebridge.associations.service import get_association
from forcebridge.connections.clients import clients_for
from forcebridge.connections.service import get_connection
from forcebridge.errors import (
    ExternalServiceError,
    ForceBridgeError,
    NeedsAdminAction,
    NotFound,
    TransientExternalError,
)
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.service import enqueue
from forcebridge.models import Association, Connection
from forcebridge.polling.deletions import handle_deleted_record
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.engine import pull_record, push_issue, sync_association
from forcebridge.sync.results import SyncReport
from forcebridge.webhooks.processing import SYNC_PUSH_JOB, association_key

log = structlog.get_logger("forcebridge.sync.jobs")

# Payload member of a ``sync.push`` that retries a pull's fan-out to this association: it runs
# whatever the association's autoPush flag, as the fan-out it replaces did.
FAN_OUT_FROM = "fan_out_from"

Sync = Callable[[], SyncReport]


def register_handlers(registry: HandlerRegistry) -> None:
    registry.register(SYNC_PUSH_JOB, run_push_job)
    registry.register(SYNC_PULL_JOB, run_pull_job)


def run_push_job(job: JobContext) -> None:
    loaded = _load(job)
    if loaded is None:
        return
    connection, association = loaded
    fan_out = FAN_OUT_FROM in job.payload
    if not fan_out and not (association.auto_push and connection.allow_auto_push):
        log.info("sync.job.skipped", job_id=job.job_id, reason="automatic push is off")
        return
    if not fan_out and association.auto_pull and connection.allow_auto_pull:
        _run(job, connection, association, "webhook", _two_way(job, association, "webhook"))
        return
    _run(
        job,
        connection,
        association,
        "webhook",
        lambda: push_issue(
            job.container,
            connection.id,
            association.jira_issue_id,
            salesforce_object=association.salesforce_object,
            salesforce_id=association.salesforce_id,
            trigger="webhook",
        ),
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
        _run(job, connection, association, "poll", _two_way(job, association, "poll"))
        return
    report = _run(
        job,
        connection,
        association,
        "poll",
        lambda: pull_record(
            job.container,
            connection.id,
            association.jira_issue_id,
            association.salesforce_object,
            association.salesforce_id,
            trigger="poll",
        ),
    )
    if report is not None:
        _retry_fan_out(job, association, report)


def _two_way(job: JobContext, association: Association, trigger: str) -> Sync:
    return lambda: sync_association(
        job.container, association.connection_id, association.id, trigger=trigger
    )


def _run(
    job: JobContext,
    connection: Connection,
    association: Association,
    trigger: str,
    sync: Sync,
) -> SyncReport | None:
    """Run ``sync`` and settle its outcome; None when the record turned out to be deleted
    (handled: nothing more to do)."""
    try:
        report = sync()
    except ForceBridgeError as error:
        if _handled_as_deleted(job, connection, association, error, trigger=trigger):
            return None
        raise
    _settle(job, connection, association, report, trigger=trigger)
    return report


def _retry_fan_out(job: JobContext, source: Association, report: SyncReport) -> None:
    """Queue a push for each of the issue's other records whose fan-out write failed for a
    passing reason: the pull that caused it has succeeded and will not run again, and the
    next Jira change may be far off (the pull's own edit is an echo that triggers nothing)."""
    failed = [
        (result.association_id, result.error)
        for result in report.results
        if result.association_id != source.id and isinstance(result.error, TransientExternalError)
    ]
    if not failed:
        return
    now = job.container.clock()
    with job.container.session() as session:
        for association_id, error in failed:
            enqueue(
                session,
                SYNC_PUSH_JOB,
                {"association_id": association_id, FAN_OUT_FROM: source.id},
                connection_id=job.connection_id,
                coalesce_key=association_key(association_id),
                run_after=now + timedelta(seconds=error.retry_after or 0),
                now=now,
            )
    log.info("sync.job.fan_out_retried", job_id=job.job_id, associations=len(failed))


def _settle(
    job: JobContext,
    connection: Connection,
    association: Association,
    report: SyncReport,
    *,
    trigger: str,
) -> None:
    """Decide what a failed result of the job's own association means.

    The engine reports a refused write as a failed result rather than raising, so that one
    record's failure does not stop the others of a manual push. For a job that would end the
    work: a write refused for a passing reason (throttled, unavailable) or one an admin must fix
    is raised, so the runner retries it or stops it as needing an admin, and nothing is lost.
    A record that turned out to be deleted is flagged or unlinked instead.
    """
    error = _error_of(report, association)
    if error is None:
        return
    if _handled_as_deleted(job, connection, association, error, trigger=trigger):
        return
    if isinstance(error, TransientExternalError | NeedsAdminAction):
        raise error


def _load(job: JobContext) -> tuple[Connection, Association] | None:
    """The job's connection and association as they are now; None when either is gone,
    view-only, flagged as deleted in Salesforce, or modification is off (nothing to do, and
    retrying would not change that)."""
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
    if association.salesforce_deleted_at is not None:
        log.info("sync.job.skipped", job_id=job.job_id, reason="record deleted in Salesforce")
        return None
    return connection, association


# Salesforce's codes for a record that is gone: in the Recycle Bin, or deleted for good.
RECORD_GONE_CODES = frozenset({"ENTITY_IS_DELETED", "NOT_FOUND"})
_RECORD_STATE_QUERY = "SELECT Id, IsDeleted FROM {:identifier} WHERE Id = {}"


def _may_mean_record_gone(error: ForceBridgeError) -> bool:
    """Whether ``error`` can be the record's deletion (confirmed by :func:`_record_state`).

    ``NotFound`` is what the record read raises when the query returns no row; it is also what
    a missing Jira issue raises, hence the confirmation.
    """
    if isinstance(error, ExternalServiceError):
        return error.service == "salesforce" and (
            error.code in RECORD_GONE_CODES or error.status == 404
        )
    return isinstance(error, NotFound)


def _record_state(job: JobContext, connection: Connection, association: Association) -> str:
    """``live``, ``recycle_bin`` or ``gone``: one ``queryAll`` read of the record."""
    soql = format_soql(
        _RECORD_STATE_QUERY, association.salesforce_object, association.salesforce_id
    )
    with clients_for(job.container, connection) as clients:
        rows = list(clients.salesforce.query_all(soql))
    if not rows:
        return "gone"
    return "recycle_bin" if rows[0].get("IsDeleted") is True else "live"


def _handled_as_deleted(
    job: JobContext,
    connection: Connection,
    association: Association,
    error: ForceBridgeError,
    *,
    trigger: str,
) -> bool:
    """Flag or unlink the association when ``error`` came from its record being deleted."""
    if not _may_mean_record_gone(error):
        return False
    try:
        state = _record_state(job, connection, association)
    except ForceBridgeError:
        return False  # the job's own error is the one to report and retry on
    if state == "live":
        return False
    with job.container.session() as session:
        current = session.get(Connection, connection.id)
        if current is None:
            return True
        handle_deleted_record(
            session,
            current,
            association.salesforce_object,
            association.salesforce_id,
            trigger=trigger,
            now=job.container.clock(),
            in_recycle_bin=state == "recycle_bin",
        )
    log.info("sync.job.record_deleted", job_id=job.job_id, association_id=association.id)
    return True


def _error_of(report: SyncReport, association: Association) -> ForceBridgeError | None:
    errors = (r.error for r in report.results if r.association_id == association.id and r.error)
    return next(errors, None)
