"""Association pages: search by issue key or Salesforce id, link, the pair side by side, sync now.

The pair view reads both sides live (one Jira read, one Salesforce read, of the mapped fields
only) next to the per-field sync state ForceBridge stored, so an admin sees what each side holds
now and what was last synced. A vendor that cannot be read does not break the page: its column
says why. Push and pull run the sync services with the ``manual`` trigger, as the audit trail shows.
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from forcebridge.admin.ui.rendering import (
    AdminPost,
    AdminSession,
    UiRoute,
    redirect,
    render,
)
from forcebridge.api.deps import ContainerDep
from forcebridge.associations import service as associations
from forcebridge.associations.service import FlagChoice, RecordReference
from forcebridge.connections import service as connections
from forcebridge.connections.clients import clients_for
from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError, InvalidInput
from forcebridge.jira.adf import adf_to_text
from forcebridge.mappings import service as mappings
from forcebridge.models import Association
from forcebridge.sync import pull as sync_pull
from forcebridge.sync import push as sync_push
from forcebridge.sync.audit import recent_attempts
from forcebridge.sync.models import AssociationSyncState, FieldSyncState
from forcebridge.sync.results import SyncReport, preview

router = APIRouter(prefix="/admin/associations", route_class=UiRoute, include_in_schema=False)

# A Salesforce id is 15 or 18 letters and digits; a Jira key has a dash, a Jira id is digits only.
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


def readable_jira_value(value: Any) -> Any:
    """What a person sees in Jira: ADF as text, an option or user by its name, lists joined."""
    if isinstance(value, dict):
        if value.get("type") == "doc":
            return adf_to_text(value)
        for key in ("displayName", "name", "value", "key"):
            if isinstance(value.get(key), str):
                return value[key]
    if isinstance(value, list):
        return ", ".join(str(readable_jira_value(item)) for item in value)
    return value


def _connection_choices(container: Container) -> list[dict[str, str]]:
    with container.session() as db:
        return [{"id": row.id, "name": row.name} for row in connections.list_connections(db)]


def _association_row(row: Association) -> dict[str, Any]:
    return {
        "id": row.id,
        "connection_id": row.connection_id,
        "jira_issue_id": row.jira_issue_id,
        "jira_issue_key": row.jira_issue_key,
        "salesforce_object": row.salesforce_object,
        "salesforce_id": row.salesforce_id,
        "view_only": row.view_only,
        "auto_push": row.auto_push,
        "auto_pull": row.auto_pull,
        "salesforce_deleted_at": row.salesforce_deleted_at,
        "created_at": row.created_at,
    }


def _search(container: Container, connection_id: str, query: str) -> list[dict[str, Any]]:
    query = query.strip()
    if SALESFORCE_ID.match(query) and not query.isdigit():
        with container.session() as db:
            objects = sorted(mappings.mapped_objects(db, connection_id))
        found: list[Association] = []
        for salesforce_object in objects:
            found += associations.list_for_record(
                container, connection_id, salesforce_object, query
            ).items
        return [_association_row(row) for row in found]
    page = associations.list_for_issue(container, connection_id, query)
    return [_association_row(row) for row in page.items]


@router.get("")
def search_page(
    request: Request,
    session: AdminSession,
    container: ContainerDep,
    connection: str = "",
    q: str = "",
) -> Response:
    choices = _connection_choices(container)
    chosen = connection if any(c["id"] == connection for c in choices) else ""
    if not chosen and choices:
        chosen = choices[0]["id"]
    results: list[dict[str, Any]] = []
    objects: list[str] = []
    problem: dict[str, str | None] | None = None
    if chosen:
        with container.session() as db:
            objects = sorted(mappings.mapped_objects(db, chosen))
        if q.strip():
            try:
                results = _search(container, chosen, q[:255])
            except InvalidInput as error:
                # A malformed key or id is the searcher's typo: say so next to the search box.
                problem = {"message": error.message, "hint": error.hint}
    return render(
        request,
        session,
        "associations.html",
        {
            "nav": "associations",
            "connections": choices,
            "connection_id": chosen,
            "query": q[:255],
            "results": results,
            "objects": objects,
            "problem": problem,
        },
    )


@router.post("/link")
def link(
    request: Request,
    session: AdminPost,
    container: ContainerDep,
    connection_id: Annotated[str, Form()] = "",
    jira_issue: Annotated[str, Form()] = "",
    salesforce_object: Annotated[str, Form()] = "",
    salesforce_id: Annotated[str, Form()] = "",
) -> Response:
    result = associations.associate(
        container,
        connection_id,
        jira_issue.strip(),
        RecordReference(salesforce_object.strip(), salesforce_id.strip()),
    )
    row = result.association
    session.flash(
        "success", f"{row.jira_issue_key} linked to {row.salesforce_object} {row.salesforce_id}."
    )
    return redirect(request, session, f"/admin/associations/{connection_id}/{row.id}")


def _pair(container: Container, connection_id: str, association_id: str) -> dict[str, Any]:
    """The association, its per-field state, its mapped fields and both sides' current values."""
    with container.session() as db:
        row = associations.get_association(db, connection_id, association_id)
        association = _association_row(row)
        connection = connections.get_connection(db, connection_id)
        state = db.get(AssociationSyncState, association_id)
        entity = mappings.entity_mapping_for(
            db,
            connection_id,
            row.jira_project_id,
            state.jira_issue_type_id if state else None,
            row.salesforce_object,
        )
        rules = [
            (item.jira_field, item.salesforce_field, item.direction)
            for item in (entity.field_mappings if entity else [])
        ]
        stored = {
            (item.jira_field, item.salesforce_field): item
            for item in db.scalars(
                select(FieldSyncState).where(FieldSyncState.association_id == association_id)
            )
        }
        attempts = recent_attempts(db, connection_id, association_id, limit=10)
        status = {
            "last_push_at": state.last_push_at if state else None,
            "last_pull_at": state.last_pull_at if state else None,
            "last_outcome": state.last_outcome if state else None,
            "last_error_class": state.last_error_class if state else None,
            "last_error_message": state.last_error_message if state else None,
            "last_error_hint": state.last_error_hint if state else None,
        }
        history = [
            {
                "started_at": attempt.started_at,
                "direction": attempt.direction,
                "trigger": attempt.trigger,
                "outcome": attempt.outcome,
                "message": attempt.message,
                "hint": attempt.hint,
                "error_class": attempt.error_class,
            }
            for attempt in attempts
        ]
        field_rows = []
        for jira_field, salesforce_field, direction in rules:
            synced = stored.get((jira_field, salesforce_field))
            field_rows.append(
                {
                    "jira_field": jira_field,
                    "salesforce_field": salesforce_field,
                    "direction": direction,
                    "last_value": synced.last_value_preview if synced else None,
                    "last_direction": synced.last_direction if synced else None,
                    "synced_at": synced.synced_at if synced else None,
                }
            )
    jira_values: dict[str, Any] = {}
    salesforce_values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    with clients_for(container, connection) as clients:
        jira_fields = sorted({rule[0] for rule in rules})
        salesforce_fields = sorted({rule[1] for rule in rules})
        try:
            issue = clients.jira.get_issue(association["jira_issue_id"], fields=jira_fields or None)
            jira_values = issue.get("fields", {})
            association["jira_issue_key"] = issue.get("key", association["jira_issue_key"])
        except ForceBridgeError as error:
            problems["jira"] = error.message
        try:
            salesforce_values = clients.salesforce.get_record(
                association["salesforce_object"],
                association["salesforce_id"],
                salesforce_fields or None,
            )
        except ForceBridgeError as error:
            problems["salesforce"] = error.message
    for field_row in field_rows:
        jira_field, salesforce_field = (
            str(field_row["jira_field"]),
            str(field_row["salesforce_field"]),
        )
        field_row["jira_now"] = preview(
            jira_field, readable_jira_value(jira_values.get(jira_field))
        )
        field_row["salesforce_now"] = preview(
            salesforce_field, salesforce_values.get(salesforce_field)
        )
    return {
        "association": association,
        "connection": {"id": connection_id, "name": connection.name},
        "fields": field_rows,
        "status": status,
        "history": history,
        "problems": problems,
    }


@router.get("/{connection_id}/{association_id}")
def pair_page(
    request: Request,
    connection_id: str,
    association_id: str,
    session: AdminSession,
    container: ContainerDep,
) -> Response:
    context = _pair(container, connection_id, association_id)
    return render(request, session, "association.html", {"nav": "associations", **context})


@router.post("/{connection_id}/{association_id}/flags")
def change_flags(
    request: Request,
    connection_id: str,
    association_id: str,
    session: AdminPost,
    container: ContainerDep,
    view_only: Annotated[str, Form()] = "",
    auto_push: Annotated[str, Form()] = "",
    auto_pull: Annotated[str, Form()] = "",
) -> Response:
    flags = FlagChoice(
        view_only=view_only == "on", auto_push=auto_push == "on", auto_pull=auto_pull == "on"
    )
    associations.update_flags(container, connection_id, association_id, flags)
    session.flash("success", "Flags saved.")
    return redirect(request, session, f"/admin/associations/{connection_id}/{association_id}")


def _flash_report(session: Any, report: SyncReport) -> None:
    failed = any(
        result.error is not None or result.outcome == "failed" for result in report.results
    )
    partial = any(result.outcome == "partial" for result in report.results)
    first_hint = next(
        (
            hint
            for result in report.results
            for hint in [result.error.hint if result.error else None]
            + [problem.hint for problem in result.problems]
            if hint
        ),
        None,
    )
    kind = "error" if failed else "info" if partial else "success"
    session.flash(kind, report.message, first_hint)


def _sync_now(
    container: Container, connection_id: str, association_id: str, direction: str
) -> SyncReport:
    with container.session() as db:
        row = associations.get_association(db, connection_id, association_id)
        issue, son, soid = row.jira_issue_id, row.salesforce_object, row.salesforce_id
    if direction == "push":
        return sync_push.push_issue(
            container,
            connection_id,
            issue,
            salesforce_object=son,
            salesforce_id=soid,
            trigger="manual",
        )
    return sync_pull.pull_record(container, connection_id, issue, son, soid, trigger="manual")


@router.post("/{connection_id}/{association_id}/push")
def push_now(
    request: Request,
    connection_id: str,
    association_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    _flash_report(session, _sync_now(container, connection_id, association_id, "push"))
    return redirect(request, session, f"/admin/associations/{connection_id}/{association_id}")


@router.post("/{connection_id}/{association_id}/pull")
def pull_now(
    request: Request,
    connection_id: str,
    association_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    _flash_report(session, _sync_now(container, connection_id, association_id, "pull"))
    return redirect(request, session, f"/admin/associations/{connection_id}/{association_id}")


@router.post("/{connection_id}/{association_id}/unlink")
def unlink(
    request: Request,
    connection_id: str,
    association_id: str,
    session: AdminPost,
    container: ContainerDep,
) -> Response:
    removed = associations.delete_association(container, connection_id, association_id)
    record = f"{removed.salesforce_object} {removed.salesforce_id}"
    session.flash("success", f"{removed.jira_issue_key} unlinked from {record}.")
    query = urlencode({"connection": connection_id, "q": removed.jira_issue_key})
    return redirect(request, session, f"/admin/associations?{query}")
