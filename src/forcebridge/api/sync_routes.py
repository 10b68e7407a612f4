"""External API routes for push, pull, create and sync status (SFJC-compatible).

``POST /external/api/push/project/{projectId}/issue/{issueId}/to/{son}/{soid}`` is SFJC's push,
called exactly as the seed script does (no body; numeric project id; issue id or key; 15- or
18-character record id). Pull, push/pull of every association of an issue, the two creates and
the sync status are ForceBridge additions in the same style.

Each route parses input, calls one function of :mod:`forcebridge.sync` and renders the envelope.
Answers say what changed: ``data.results[]`` holds, per association, ``outcome``
(success / no_change / partial / failed / skipped), ``fieldsWritten``, ``problems`` (field,
message, hint) and ``conflicts``. The caller's connection always comes from its token; another
connection's issues and records answer 404.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from sqlalchemy import select

from forcebridge.api.deps import ContainerDep, TokenDep, api_token_header
from forcebridge.api.envelope import Envelope, error_responses, success
from forcebridge.api.schemas import (
    JIRA_ISSUE_PATTERN,
    SALESFORCE_ID_PATTERN,
    SALESFORCE_OBJECT_PATTERN,
    association_to_wire,
)
from forcebridge.errors import InvalidInput
from forcebridge.models import Association
from forcebridge.sync import engine
from forcebridge.sync.audit import recent_attempts
from forcebridge.sync.context import associations_for_issue, pick_association
from forcebridge.sync.create import (
    CreateResult,
    Flags,
    create_jira_issue,
    create_salesforce_record,
)
from forcebridge.sync.models import AssociationSyncState, FieldSyncState
from forcebridge.sync.results import SyncReport

router = APIRouter(
    prefix="/external/api",
    tags=["external"],
    # Declares the security scheme on every route; the routes depend on TokenDep, which verifies.
    dependencies=[Depends(api_token_header)],
)

ProjectIdPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=50,
        description="The Jira project's numeric id (not its key), as in SFJC.",
        examples=["10000"],
    ),
]
IssuePath = Annotated[
    str,
    Path(
        pattern=JIRA_ISSUE_PATTERN,
        description="The Jira issue's numeric id or key.",
        examples=["TEST-5"],
    ),
]
ObjectPath = Annotated[
    str,
    Path(
        pattern=SALESFORCE_OBJECT_PATTERN,
        description="Salesforce object API name (SFJC's `son`).",
        examples=["Case"],
    ),
]
RecordPath = Annotated[
    str,
    Path(
        pattern=SALESFORCE_ID_PATTERN,
        description="Salesforce record id, 15 or 18 characters (SFJC's `soid`).",
        examples=["500J80000019IF9IAM"],
    ),
]


class SyncResultWire(BaseModel):
    son: str
    soid: str
    jiraIssueId: str
    jiraIssueKey: str
    outcome: str = Field(description="success, no_change, partial, failed or skipped")
    fieldsWritten: list[str]
    changes: list[dict[str, Any]]
    problems: list[dict[str, Any]]
    conflicts: list[dict[str, Any]]


class SyncReportWire(BaseModel):
    direction: str
    results: list[SyncResultWire]


SYNC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Envelope[SyncReportWire], "description": "What was written, or why nothing"},
    **error_responses(400, 401, 403, 404, 409, 422, 429, 502, 503),
}


def _numeric_project(project_id: str) -> str:
    if not project_id.isdigit():
        raise InvalidInput(
            f"projectId must be the Jira project's numeric id, not {project_id!r}.",
            hint="Find the id in Jira (Project settings → Details, or GET /rest/api/3/project/"
            "{key}); keys such as TEST are not accepted here, as in SFJC.",
        )
    return project_id


def _render(report: SyncReport) -> JSONResponse:
    # When nothing at all could be synced because of a vendor or configuration error, answer
    # with that error's status (502, 503...) rather than a 200 that hides it.
    errors = [result.error for result in report.results if result.error is not None]
    if errors and all(result.outcome == "failed" for result in report.results):
        raise errors[0]
    return success(report.to_wire(), report.message)


@router.post(
    "/push/project/{projectId}/issue/{issueId}/to/{son}/{soid}",
    summary="Push a Jira issue to one associated Salesforce record",
    description=(
        "SFJC's push. No body. Writes the issue's mapped fields (direction push or both) into the "
        "record — only those whose Jira value changed since the last sync — plus new comments "
        "and attachments. A manual push is an explicit direction: Jira's values win, Salesforce "
        "is not read. The issue must be associated with the record (404 otherwise) and in the "
        "project (numeric id; a key gives 400)."
    ),
    responses=SYNC_RESPONSES,
)
def push_to_record(
    projectId: ProjectIdPath,
    issueId: IssuePath,
    son: ObjectPath,
    soid: RecordPath,
    container: ContainerDep,
    token: TokenDep,
) -> JSONResponse:
    report = engine.push_issue(
        container,
        token.connection_id,
        issueId,
        salesforce_object=son,
        salesforce_id=soid,
        project_id=_numeric_project(projectId),
        trigger="api",
    )
    return _render(report)


@router.post(
    "/pull/project/{projectId}/issue/{issueId}/from/{son}/{soid}",
    summary="Pull one associated Salesforce record into a Jira issue",
    description=(
        "Writes the record's mapped fields (direction pull or both) whose Salesforce value "
        "changed since the last sync into the issue (one edit; status through a transition), "
        "then pushes those values on to the issue's other associated records."
    ),
    responses=SYNC_RESPONSES,
)
def pull_from_record(
    projectId: ProjectIdPath,
    issueId: IssuePath,
    son: ObjectPath,
    soid: RecordPath,
    container: ContainerDep,
    token: TokenDep,
) -> JSONResponse:
    report = engine.pull_record(
        container,
        token.connection_id,
        issueId,
        son,
        soid,
        project_id=_numeric_project(projectId),
        trigger="api",
    )
    return _render(report)


@router.post(
    "/push/issue/{issueId}",
    summary="Push a Jira issue to every associated record",
    description="As the single push, for all of the issue's associations (view-only ones are "
    "skipped). One Jira read; Salesforce writes batched per object, 200 records a call.",
    responses=SYNC_RESPONSES,
)
def push_to_all(issueId: IssuePath, container: ContainerDep, token: TokenDep) -> JSONResponse:
    return _render(engine.push_issue(container, token.connection_id, issueId, trigger="api"))


@router.post(
    "/pull/issue/{issueId}",
    summary="Pull every associated record into a Jira issue",
    description="Pulls each of the issue's associations in turn, oldest first; view-only ones "
    "are skipped.",
    responses=SYNC_RESPONSES,
)
def pull_from_all(issueId: IssuePath, container: ContainerDep, token: TokenDep) -> JSONResponse:
    return _render(engine.pull_issue(container, token.connection_id, issueId, trigger="api"))


# -- create ----------------------------------------------------------------------------------------

FlagValue = Annotated[StrictBool | None, Field(default=None)]


class CreateJiraIssue(BaseModel):
    """Body of ``POST /external/api/create/jira-issue``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "son": "Case",
                    "soid": "500J80000019IF9IAM",
                    "projectId": "10000",
                    "issueTypeId": "10001",
                }
            ]
        },
    )

    son: Annotated[StrictStr, Field(pattern=SALESFORCE_OBJECT_PATTERN)]
    soid: Annotated[StrictStr, Field(pattern=SALESFORCE_ID_PATTERN)]
    projectId: Annotated[StrictStr, Field(min_length=1, max_length=50)]
    issueTypeId: Annotated[StrictStr, Field(pattern=r"^[0-9]{1,18}$")]
    viewOnly: FlagValue = None
    autoPush: FlagValue = None
    autoPull: FlagValue = None


class CreateSalesforceRecord(BaseModel):
    """Body of ``POST /external/api/create/salesforce-record``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"jiraIssueId": "TEST-5", "son": "Case"}]},
    )

    jiraIssueId: Annotated[StrictStr, Field(pattern=JIRA_ISSUE_PATTERN)]
    son: Annotated[StrictStr, Field(pattern=SALESFORCE_OBJECT_PATTERN)]
    viewOnly: FlagValue = None
    autoPush: FlagValue = None
    autoPull: FlagValue = None


CREATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Already created by an earlier request with the same source"},
    **error_responses(400, 401, 403, 404, 409, 422, 429, 502, 503),
}


def _render_create(created: CreateResult) -> JSONResponse:
    data = {
        "association": association_to_wire(created.association),
        "created": created.created,
        "result": created.result.to_wire(),
    }
    if created.created:
        message = (
            f"Created and associated {created.association.jira_issue_key} with "
            f"{created.association.salesforce_object} {created.association.salesforce_id}."
        )
        return success(data, message, 201)
    return success(data, "Already created by an earlier request; nothing was created again.")


@router.post(
    "/create/jira-issue",
    summary="Create a Jira issue from a Salesforce record and associate them",
    description=(
        "Creates an issue in the project (numeric id) with the issue type, filled from the "
        "record's mapped fields (a summary is required), and associates it. Safe to retry: a "
        "repeated request never creates a second issue (the issue carries a "
        "`forcebridge-<marker>` label that a retry searches for)."
    ),
    status_code=201,
    responses=CREATE_RESPONSES,
)
def create_issue_route(
    body: CreateJiraIssue, container: ContainerDep, token: TokenDep
) -> JSONResponse:
    created = create_jira_issue(
        container,
        token.connection_id,
        salesforce_object=body.son,
        salesforce_id=body.soid,
        project_id=_numeric_project(body.projectId),
        issue_type_id=body.issueTypeId,
        flags=Flags(body.viewOnly, body.autoPush, body.autoPull),
    )
    return _render_create(created)


@router.post(
    "/create/salesforce-record",
    summary="Create a Salesforce record from a Jira issue and associate them",
    description=(
        "Creates a record of `son` filled from the issue's mapped fields and associates it. "
        "Safe to retry: a retry looks for the record an earlier attempt may have created before "
        "creating."
    ),
    status_code=201,
    responses=CREATE_RESPONSES,
)
def create_record_route(
    body: CreateSalesforceRecord, container: ContainerDep, token: TokenDep
) -> JSONResponse:
    created = create_salesforce_record(
        container,
        token.connection_id,
        jira_issue=body.jiraIssueId,
        salesforce_object=body.son,
        flags=Flags(body.viewOnly, body.autoPush, body.autoPull),
    )
    return _render_create(created)


# -- status ----------------------------------------------------------------------------------------


@router.get(
    "/sync-status",
    summary="Sync status of one association",
    description="Last push, last pull, last error, the per-field state (what was last synced, "
    "when and in which direction) and the latest attempts. Reads only ForceBridge's database.",
    responses={
        200: {"description": "The association's sync status"},
        **error_responses(401, 404, 422),
    },
)
def sync_status(
    container: ContainerDep,
    token: TokenDep,
    jiraIssueId: Annotated[str, Query(pattern=JIRA_ISSUE_PATTERN)],
    son: Annotated[str, Query(pattern=SALESFORCE_OBJECT_PATTERN)],
    soid: Annotated[str, Query(pattern=SALESFORCE_ID_PATTERN)],
) -> JSONResponse:
    with container.session() as session:
        associations = associations_for_issue(session, token.connection_id, jiraIssueId)
        association = pick_association(associations, jiraIssueId, son, soid)
        state = session.get(AssociationSyncState, association.id)
        stored = session.get(Association, association.id)
        fields = session.scalars(
            select(FieldSyncState)
            .where(FieldSyncState.association_id == association.id)
            .order_by(FieldSyncState.jira_field, FieldSyncState.salesforce_field)
        ).all()
        attempts = recent_attempts(session, token.connection_id, association.id, limit=10)
        data = {
            "associationId": association.id,
            "jiraIssueId": association.jira_issue_id,
            "jiraIssueKey": association.jira_issue_key,
            "son": association.salesforce_object,
            "soid": association.salesforce_id,
            "viewOnly": association.view_only,
            "salesforceDeletedAt": _iso(stored.salesforce_deleted_at if stored else None),
            "lastPushAt": _iso(state.last_push_at if state else None),
            "lastPullAt": _iso(state.last_pull_at if state else None),
            "lastOutcome": state.last_outcome if state else None,
            "lastError": (
                {
                    "class": state.last_error_class,
                    "message": state.last_error_message,
                    "hint": state.last_error_hint,
                    "at": _iso(state.last_error_at),
                }
                if state is not None and state.last_error_class
                else None
            ),
            "fields": [
                {
                    "jiraField": row.jira_field,
                    "salesforceField": row.salesforce_field,
                    "lastValue": row.last_value_preview,
                    "lastDirection": row.last_direction,
                    "syncedAt": _iso(row.synced_at),
                }
                for row in fields
            ],
            "recentAttempts": [
                {
                    "direction": row.direction,
                    "trigger": row.trigger,
                    "outcome": row.outcome,
                    "fields": row.fields,
                    "problems": row.problems,
                    "conflicts": row.conflicts,
                    "errorClass": row.error_class,
                    "message": row.message,
                    "hint": row.hint,
                    "startedAt": _iso(row.started_at),
                    "durationMs": row.duration_ms,
                }
                for row in attempts
            ],
        }
    return success(data, f"Sync status of {association.jira_issue_key} ↔ {son} {soid}.")


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None else None
