"""Activity and dashboard pages: the sync audit trail, dead letters, job progress and charts.

Both pages only read: the audit trail (``sync_audit``), the job table (``jobs``) and the
connections' stored test results and call meters. A table that does not exist yet (a database
migrated by an older release) shows as an empty state instead of an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from forcebridge.admin.ui.charts import horizontal_bars, stacked_bars
from forcebridge.admin.ui.rendering import (
    AdminPost,
    AdminSession,
    UiRoute,
    redirect,
    render,
)
from forcebridge.api.deps import ContainerDep
from forcebridge.connections import service as connections
from forcebridge.container import Container
from forcebridge.jobs import service as jobs
from forcebridge.jobs.models import ACTIVE_STATES, STOPPED_STATES
from forcebridge.models import Association, Connection
from forcebridge.sync.models import SyncAudit
from forcebridge.sync.results import OUTCOMES

log = structlog.get_logger("forcebridge.admin.ui")
router = APIRouter(prefix="/admin", route_class=UiRoute, include_in_schema=False)

T = TypeVar("T")
DIRECTIONS = ("push", "pull", "sync", "create", "delete", "undelete")
PERIODS = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
PAGE_SIZE = 100
FAILED_OUTCOMES = ("failed", "partial")


def _or_empty(read: Callable[[], T], empty: T, what: str) -> tuple[T, bool]:
    """``read()``, or ``empty`` and False when its table is missing or unreadable."""
    try:
        return read(), True
    except SQLAlchemyError as error:
        log.warning("admin_ui_table_unavailable", what=what, error=type(error).__name__)
        return empty, False


def _audit_rows(
    container: Container,
    connection_id: str,
    direction: str,
    outcome: str,
    since: datetime | None,
) -> list[dict[str, Any]]:
    query = select(SyncAudit).order_by(SyncAudit.started_at.desc(), SyncAudit.id).limit(PAGE_SIZE)
    if connection_id:
        query = query.where(SyncAudit.connection_id == connection_id)
    if direction:
        query = query.where(SyncAudit.direction == direction)
    if outcome:
        query = query.where(SyncAudit.outcome == outcome)
    if since is not None:
        query = query.where(SyncAudit.started_at >= since)
    with container.session() as db:
        rows = list(db.scalars(query))
        # The trail stores the numeric issue id (keys change when issues move); show the key
        # of associations that still exist.
        association_ids = {row.association_id for row in rows if row.association_id}
        keys = {
            association_id: key
            for association_id, key in db.execute(
                select(Association.id, Association.jira_issue_key).where(
                    Association.id.in_(association_ids)
                )
            )
        }
        return [
            {
                "started_at": row.started_at,
                "jira_issue_key": keys.get(row.association_id or ""),
                "connection_id": row.connection_id,
                "association_id": row.association_id,
                "jira_issue_id": row.jira_issue_id,
                "salesforce_object": row.salesforce_object,
                "salesforce_id": row.salesforce_id,
                "trigger": row.trigger,
                "direction": row.direction,
                "outcome": row.outcome,
                "fields": row.fields or [],
                "problems": row.problems or [],
                "error_class": row.error_class,
                "message": row.message,
                "hint": row.hint,
                "duration_ms": row.duration_ms,
            }
            for row in rows
        ]


def _job_rows(container: Container, states: tuple[str, ...], limit: int) -> list[dict[str, Any]]:
    with container.session() as db:
        views = [jobs.job_view(job) for job in jobs.list_jobs(db, states=states, limit=limit)]
    for view in views:
        payload = view.get("payload") or {}
        total = payload.get("total") if isinstance(payload, dict) else None
        done = (
            (payload.get("done") or payload.get("processed")) if isinstance(payload, dict) else None
        )
        view["progress"] = (
            {"done": int(done), "total": int(total)}
            if isinstance(total, int) and total > 0 and isinstance(done, int)
            else None
        )
    return views


def _connection_names(container: Container) -> dict[str, str]:
    with container.session() as db:
        return {row.id: row.name for row in connections.list_connections(db)}


@router.get("/activity")
def activity_page(
    request: Request,
    session: AdminSession,
    container: ContainerDep,
    connection: str = "",
    direction: str = "",
    outcome: str = "",
    period: str = "",
) -> Response:
    names = _connection_names(container)
    connection = connection if connection in names else ""
    direction = direction if direction in DIRECTIONS else ""
    outcome = outcome if outcome in OUTCOMES else ""
    period = period if period in PERIODS else ""
    since = container.clock() - PERIODS[period] if period else None
    no_rows: list[dict[str, Any]] = []
    audit, audit_ok = _or_empty(
        lambda: _audit_rows(container, connection, direction, outcome, since), no_rows, "audit"
    )
    dead, jobs_ok = _or_empty(lambda: _job_rows(container, STOPPED_STATES, 50), no_rows, "jobs")
    running, _ = _or_empty(lambda: _job_rows(container, ACTIVE_STATES, 50), no_rows, "jobs")
    return render(
        request,
        session,
        "activity.html",
        {
            "nav": "activity",
            "connections": names,
            "filters": {
                "connection": connection,
                "direction": direction,
                "outcome": outcome,
                "period": period,
            },
            "directions": DIRECTIONS,
            "outcomes": OUTCOMES,
            "periods": PERIODS,
            "audit": audit,
            "audit_available": audit_ok,
            "dead_letters": dead,
            "running_jobs": running,
            "jobs_available": jobs_ok,
        },
    )


@router.post("/activity/jobs/{job_id}/replay")
def replay_job(
    request: Request,
    job_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    with container.session() as db:
        job = jobs.replay(db, job_id, now=container.clock())
        kind = job.kind
    session.flash("success", f"Job {kind} queued again; it runs once more with fresh attempts.")
    return redirect(request, session, "/admin/activity")


# -- dashboard -------------------------------------------------------------------------------------


def _hourly_outcomes(container: Container, now: datetime) -> dict[str, Any]:
    start = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    with container.session() as db:
        rows = db.execute(
            select(SyncAudit.started_at, SyncAudit.outcome).where(SyncAudit.started_at >= start)
        ).all()
    labels = [(start + timedelta(hours=index)).strftime("%H:00") for index in range(24)]
    succeeded = [0] * 24
    failed = [0] * 24
    for started_at, outcome in rows:
        index = int((started_at - start).total_seconds() // 3600)
        if 0 <= index < 24:
            if outcome in FAILED_OUTCOMES:
                failed[index] += 1
            else:
                succeeded[index] += 1
    return {
        "chart": stacked_bars(
            "Syncs in the last 24 hours",
            labels,
            {"succeeded": succeeded, "failed": failed},
            every_nth_label=4,
        ),
        "total": sum(succeeded) + sum(failed),
        "failed": sum(failed),
    }


def _api_usage(container: Container) -> list[dict[str, Any]]:
    """Per connection: Salesforce calls made by this process, and the org's quota at last test."""
    rows = []
    with container.session() as db:
        for connection in connections.list_connections(db):
            calls = int(
                container.metrics.outbound_call_count(
                    service="salesforce", connection=connection.id
                )
            )
            result = connection.last_test_result or {}
            salesforce = result.get("salesforce") if isinstance(result, dict) else None
            rows.append(
                {
                    "name": connection.name,
                    "org": connection.salesforce_organization_id or connection.salesforce_url,
                    "calls": calls,
                    "quota_note": salesforce.get("message")
                    if isinstance(salesforce, dict)
                    else None,
                }
            )
    return rows


@router.get("/")
def dashboard_page(request: Request, session: AdminSession, container: ContainerDep) -> Response:
    now = container.clock()
    syncs, audit_ok = _or_empty(
        lambda: _hourly_outcomes(container, now), {"chart": None, "total": 0, "failed": 0}, "audit"
    )

    def read_queue() -> dict[str, int]:
        with container.session() as db:
            return jobs.count_by_state(db)

    no_counts: dict[str, int] = {}
    queue, jobs_ok = _or_empty(read_queue, no_counts, "jobs")
    usage = _api_usage(container)
    with container.session() as db:
        connection_count = db.scalar(select(func.count()).select_from(Connection)) or 0
    return render(
        request,
        session,
        "dashboard.html",
        {
            "nav": "dashboard",
            "connection_count": connection_count,
            "syncs": syncs,
            "audit_available": audit_ok,
            "queue": queue,
            "queue_chart": horizontal_bars(
                "Jobs by state", [(state, count, None) for state, count in queue.items()]
            )
            if queue
            else None,
            "jobs_available": jobs_ok,
            "usage": usage,
            "usage_chart": horizontal_bars(
                "Salesforce API calls by ForceBridge since start",
                [(row["name"], row["calls"], None) for row in usage],
            )
            if usage
            else None,
        },
    )
