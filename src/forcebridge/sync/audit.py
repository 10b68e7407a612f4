"""The audit trail: one :class:`~forcebridge.sync.models.SyncAudit` row per sync attempt.

Rows hold previews of values (see :func:`forcebridge.sync.results.preview`), never full values of
fields that look like credentials, and never any connection secret. The association's
:class:`~forcebridge.sync.models.AssociationSyncState` is updated in the same transaction, so the
status endpoint shows the last push, pull and error without reading the trail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.sync.models import SyncAudit
from forcebridge.sync.results import AssociationResult, problem_to_wire
from forcebridge.sync.state import association_state

TRIGGERS = ("manual", "api", "webhook", "poll", "bulk")


def record_attempt(
    session: Session,
    *,
    connection_id: str,
    result: AssociationResult,
    trigger: str,
    started_at: datetime,
    finished_at: datetime,
    association_exists: bool = True,
) -> SyncAudit:
    """Store the attempt and refresh the association's last push/pull/error."""
    error = result.error
    first_problem = result.problems[0] if result.problems else None
    row = SyncAudit(
        connection_id=connection_id,
        association_id=result.association_id or None,
        jira_issue_id=result.jira_issue_id or None,
        salesforce_object=result.salesforce_object or None,
        salesforce_id=result.salesforce_id or None,
        trigger=trigger,
        direction=result.direction,
        outcome=result.outcome,
        fields=[change.to_wire() for change in result.changes],
        problems=[problem_to_wire(problem) for problem in result.problems],
        conflicts=[conflict.to_wire() for conflict in result.conflicts],
        error_class=type(error).__name__ if error is not None else None,
        message=(
            error.message
            if error is not None
            else (first_problem.message if first_problem else result.note)
        ),
        hint=error.hint if error is not None else (first_problem.hint if first_problem else None),
        started_at=started_at,
        finished_at=finished_at,
        duration_ms=round((finished_at - started_at).total_seconds() * 1000, 3),
    )
    session.add(row)
    if association_exists and result.association_id and result.outcome != "skipped":
        state = association_state(session, result.association_id)
        if result.direction in ("push", "sync") and result.outcome != "failed":
            state.last_push_at = finished_at
        if result.direction in ("pull", "sync") and result.outcome != "failed":
            state.last_pull_at = finished_at
        state.last_outcome = result.outcome
        if error is not None or result.outcome in ("failed", "partial"):
            state.last_error_class = type(error).__name__ if error is not None else "FieldProblem"
            state.last_error_message = row.message
            state.last_error_hint = row.hint
            state.last_error_at = finished_at
    return row


def recent_attempts(
    session: Session, connection_id: str, association_id: str, limit: int = 20
) -> list[SyncAudit]:
    """The association's latest attempts, newest first."""
    return list(
        session.scalars(
            select(SyncAudit)
            .where(
                SyncAudit.connection_id == connection_id,
                SyncAudit.association_id == association_id,
            )
            .order_by(SyncAudit.started_at.desc(), SyncAudit.id)
            .limit(limit)
        )
    )
