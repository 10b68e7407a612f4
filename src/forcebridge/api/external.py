"""SFJC-compatible external API (``/external/api``): associations between Jira issues and records.

Paths, field names (``jiraIssueId``, ``son``, ``soid``, ``viewOnly``, ``autoPush``, ``autoPull``),
query flags (``allowUpsert``, ``replace``), success codes and the ``{"data","message","success"}``
envelope follow SFJC (sfjc-and-peers.md §b), so a script written for SFJC works after changing its
base URL, token and project id. Beyond SFJC: listing by record, paging, unlinking and re-flagging.

Each route parses input, calls one function of :mod:`forcebridge.associations.service` and renders
the envelope; the caller's connection always comes from its token, never from the request.
The push route of SFJC belongs to the sync engine and is not served here.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from forcebridge.api.deps import (
    ContainerDep,
    TokenDep,
    api_token_header,
    reject_unknown_query_parameters,
)
from forcebridge.api.envelope import error_responses, success
from forcebridge.api.schemas import (
    JIRA_ISSUE_PATTERN,
    SALESFORCE_ID_PATTERN,
    SALESFORCE_OBJECT_PATTERN,
    AssociationCreate,
    AssociationEnvelope,
    AssociationFlagsUpdate,
    AssociationListEnvelope,
    BulkAssociationCreate,
    BulkEnvelope,
    association_to_wire,
)
from forcebridge.associations import service
from forcebridge.associations.service import (
    DEFAULT_PAGE_SIZE,
    MAX_ASSOCIATIONS_PER_ISSUE,
    MAX_PAGE_SIZE,
    AssociationPage,
    FlagChoice,
    RecordReference,
)
from forcebridge.errors import ValidationFailed

router = APIRouter(
    prefix="/external/api",
    tags=["external"],
    # Declares the security scheme on every route (OpenAPI + the "Authorize" button of /docs);
    # the routes themselves depend on TokenDep, which verifies the token. Unknown query
    # parameters (a misspelt allowUpsert...) are refused rather than silently ignored.
    dependencies=[Depends(api_token_header), Depends(reject_unknown_query_parameters)],
)

JiraIssueQuery = Annotated[
    str,
    Query(
        pattern=JIRA_ISSUE_PATTERN,
        description="The Jira issue's numeric id or key.",
        examples=["TEST-5"],
    ),
]
AssociationId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="ForceBridge's id of the association (the `id` field of responses).",
        examples=["3f0c1d2e4b5a69788796a5b4c3d2e1f0"],
    ),
]
Limit = Annotated[
    int,
    Query(
        ge=1,
        le=1_000_000,
        description=f"Page size (default {DEFAULT_PAGE_SIZE}); values above {MAX_PAGE_SIZE} "
        f"are reduced to {MAX_PAGE_SIZE}.",
    ),
]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]


def _flags(viewOnly: bool | None, autoPush: bool | None, autoPull: bool | None) -> FlagChoice:
    return FlagChoice(view_only=viewOnly, auto_push=autoPush, auto_pull=autoPull)


@router.post(
    "/association",
    summary="Associate a Jira issue with a Salesforce record",
    description=(
        "SFJC's associate call. `jiraIssueId` is the issue's numeric id or its key; it is stored "
        "as the numeric id and shown with its current key. The issue's project must be bound to "
        "the token's connection and `son` mapped for it; `soid` (15 or 18 characters) must be a "
        "record of that object. Absent flags take the connection's defaults. An existing "
        "association answers 409, unless `allowUpsert=true`: then its flags are updated (200). "
        "Post-association actions (push/pull) are not run by this call."
    ),
    status_code=201,
    response_model=AssociationEnvelope,
    responses={
        200: {
            "model": AssociationEnvelope,
            "description": "Already associated; flags updated (allowUpsert=true)",
        },
        **error_responses(400, 401, 404, 409, 422, 502, 503),
    },
)
def create_association(
    body: AssociationCreate,
    container: ContainerDep,
    token: TokenDep,
    allowUpsert: Annotated[
        bool, Query(description="Update the flags of an existing association instead of 409.")
    ] = False,
) -> JSONResponse:
    result = service.associate(
        container,
        token.connection_id,
        str(body.jiraIssueId),
        RecordReference(body.son, body.soid, _flags(body.viewOnly, body.autoPush, body.autoPull)),
        allow_upsert=allowUpsert,
    )
    if result.created:
        return success(
            association_to_wire(result.association), "Association created successfully", 201
        )
    return success(association_to_wire(result.association), "Association updated successfully")


@router.post(
    "/associations",
    summary="Associate a Jira issue with many Salesforce records",
    description=(
        "SFJC's bulk associate call, in one transaction. At most "
        f"{MAX_ASSOCIATIONS_PER_ISSUE} records per request and per issue (more in the body: "
        "413; more in total: 422); the same record twice in the body: 422. `replace=true` "
        "removes the issue's earlier associations first; `replace=false` keeps them and skips "
        "records already associated. Records are checked in Salesforce with one query per "
        "object and 125 ids (a URL-length bound). `totalAssociations` is the number the issue "
        "holds afterwards."
    ),
    status_code=201,
    response_model=BulkEnvelope,
    responses={
        200: {"model": BulkEnvelope, "description": "Nothing new to associate"},
        **error_responses(400, 401, 404, 409, 413, 422, 502, 503),
    },
)
def create_associations(
    body: BulkAssociationCreate,
    jiraIssueId: JiraIssueQuery,
    container: ContainerDep,
    token: TokenDep,
    replace: Annotated[
        bool, Query(description="Remove the issue's earlier associations first.")
    ] = False,
) -> JSONResponse:
    records = [
        RecordReference(item.son, item.soid, _flags(item.viewOnly, item.autoPush, item.autoPull))
        for item in body.associations
    ]
    result = service.associate_many(
        container, token.connection_id, jiraIssueId, records, replace=replace
    )
    data = {
        "totalAssociations": result.total,
        "created": result.created,
        "removed": result.removed,
        "jiraIssueId": result.jira_issue_id,
        "jiraIssueKey": result.jira_issue_key,
    }
    changed = result.created > 0 or result.removed > 0
    return success(data, "Associations created successfully", 201 if changed else 200)


@router.get(
    "/associations",
    summary="List associations of a Jira issue or of a Salesforce record",
    description=(
        "With `jiraIssueId`: the issue's associations (SFJC's call). With `son` and `soid`: the "
        "issues associated with that record. `data` is the list, as in SFJC; paging is in the "
        "extra top-level `paging` object and the `X-Total-Count` header. `jiraIssueKey` is the "
        "key when the issue was last seen by ForceBridge."
    ),
    response_model=AssociationListEnvelope,
    responses=error_responses(400, 401, 422, 502, 503),
)
def list_associations(
    container: ContainerDep,
    token: TokenDep,
    jiraIssueId: Annotated[
        str | None,
        Query(pattern=JIRA_ISSUE_PATTERN, description="Numeric id or key of the Jira issue."),
    ] = None,
    son: Annotated[
        str | None,
        Query(pattern=SALESFORCE_OBJECT_PATTERN, description="Salesforce object name."),
    ] = None,
    soid: Annotated[
        str | None,
        Query(pattern=SALESFORCE_ID_PATTERN, description="Salesforce record id (15 or 18)."),
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    offset: Offset = 0,
) -> JSONResponse:
    if jiraIssueId is not None and son is None and soid is None:
        page = service.list_for_issue(
            container, token.connection_id, jiraIssueId, limit=limit, offset=offset
        )
    elif jiraIssueId is None and son is not None and soid is not None:
        page = service.list_for_record(
            container, token.connection_id, son, soid, limit=limit, offset=offset
        )
    else:
        raise ValidationFailed(
            "Give either jiraIssueId, or both son and soid.",
            details=[{"field": "jiraIssueId", "message": "jiraIssueId, or son and soid"}],
        )
    return _page_response(page)


@router.get(
    "/associations/{association_id}",
    summary="Get one association",
    response_model=AssociationEnvelope,
    responses=error_responses(400, 401, 404, 422),
)
def get_association(
    association_id: AssociationId, container: ContainerDep, token: TokenDep
) -> JSONResponse:
    with container.session() as session:
        association = service.get_association(session, token.connection_id, association_id)
    return success(association_to_wire(association), "Association fetched successfully")


@router.patch(
    "/associations/{association_id}",
    summary="Change an association's flags",
    description="Only the flags given change. Beyond SFJC.",
    response_model=AssociationEnvelope,
    responses=error_responses(400, 401, 404, 422),
)
def update_association(
    association_id: AssociationId,
    body: AssociationFlagsUpdate,
    container: ContainerDep,
    token: TokenDep,
) -> JSONResponse:
    association = service.update_flags(
        container,
        token.connection_id,
        association_id,
        _flags(body.viewOnly, body.autoPush, body.autoPull),
    )
    return success(association_to_wire(association), "Association updated successfully")


@router.delete(
    "/associations/{association_id}",
    summary="Remove an association by id",
    description="Unlinks the issue and the record; neither is changed. Beyond SFJC.",
    response_model=AssociationEnvelope,
    responses=error_responses(400, 401, 404, 422),
)
def delete_association(
    association_id: AssociationId, container: ContainerDep, token: TokenDep
) -> JSONResponse:
    association = service.delete_association(container, token.connection_id, association_id)
    return success(association_to_wire(association), "Association deleted successfully")


@router.delete(
    "/association",
    summary="Unlink a Jira issue from a Salesforce record",
    description="Unlinks the issue and the record; neither is changed. Beyond SFJC.",
    response_model=AssociationEnvelope,
    responses=error_responses(400, 401, 404, 422, 502, 503),
)
def unlink_association(
    jiraIssueId: JiraIssueQuery,
    son: Annotated[str, Query(pattern=SALESFORCE_OBJECT_PATTERN, examples=["Case"])],
    soid: Annotated[str, Query(pattern=SALESFORCE_ID_PATTERN, examples=["500J80000019IF9IAM"])],
    container: ContainerDep,
    token: TokenDep,
) -> JSONResponse:
    association = service.unlink(container, token.connection_id, jiraIssueId, son, soid)
    return success(association_to_wire(association), "Association deleted successfully")


def _page_response(page: AssociationPage) -> JSONResponse:
    body: dict[str, Any] = {
        "data": [association_to_wire(association) for association in page.items],
        "message": "Associations fetched successfully",
        "success": True,
        "paging": {
            "limit": page.limit,
            "offset": page.offset,
            "total": page.total,
            "nextOffset": page.next_offset,
        },
    }
    return JSONResponse(body, headers={"X-Total-Count": str(page.total)})
