"""The vendor API routes: ``/rest/api/{2,3,latest}/...``, ``/rest/webhooks/1.0/...`` and OAuth.

Handlers are thin: authenticate, parse, call ``issues.py`` / ``webhooks.py`` / ``search.py``,
render with :class:`IssueView`. REST v2 and v3 share every handler; only rich text differs.
The same routes are mounted again under ``/ex/jira/{cloudId}`` (the OAuth 2.0 base URL form).
The routers are built once per process and shared by every sandbox's app; a handler finds its
sandbox with :func:`jira_of` (``app.state.jira_sandbox``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.responses import FileResponse
from starlette.routing import Match
from starlette.types import Scope

from forcebridge.sandbox.jira import seed
from forcebridge.sandbox.jira.auth import Caller, OAuthError
from forcebridge.sandbox.jira.issues import EDITABLE_SYSTEM_FIELDS, Context, IssueView
from forcebridge.sandbox.jira.jql import JqlError
from forcebridge.sandbox.jira.search import CompiledQuery, jql_error_message
from forcebridge.sandbox.jira.wire import (
    NOT_AUTHENTICATED,
    JiraError,
    JiraJSONResponse,
    format_timestamp,
    parse_json_body,
)

if TYPE_CHECKING:
    from forcebridge.sandbox.jira.sandbox import JiraSandbox

MAX_JSON_BODY_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENT_REQUEST_BYTES = 1024 * 1024 * 1024
MAX_FILES_PER_REQUEST = 60
SEARCH_DEFAULT_MAX_RESULTS = 50
SEARCH_MAX_RESULTS_ID_ONLY = 5000
SEARCH_MAX_RESULTS_WITH_FIELDS = 100
LEGACY_SEARCH_MAX_RESULTS = 100
COMMENT_MAX_RESULTS = 5000
SERVER_VERSION = "1001.0.0-SNAPSHOT"
API_VERSIONS = ("2", "3", "latest")


def _object_body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """An ``openapi_extra`` request body, so the emulator's own OpenAPI can be fuzzed."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


ISSUE_BODY = _object_body(
    {
        "fields": {"type": "object", "additionalProperties": True},
        "update": {"type": "object", "additionalProperties": True},
    }
)
BULK_ISSUE_BODY = _object_body(
    {
        "issueUpdates": {
            "type": "array",
            "items": ISSUE_BODY["requestBody"]["content"]["application/json"]["schema"],
        }
    }
)
COMMENT_BODY = _object_body(
    {"body": {}, "visibility": {"type": "object", "additionalProperties": True}}, ["body"]
)
TRANSITION_BODY = _object_body(
    {
        "transition": {"type": "object", "properties": {"id": {"type": "string"}}},
        "fields": {"type": "object"},
        "update": {"type": "object"},
    },
    ["transition"],
)
SEARCH_BODY = _object_body(
    {
        "jql": {"type": "string"},
        "nextPageToken": {"type": "string"},
        "maxResults": {"type": "integer"},
        "fields": {"type": "array", "items": {"type": "string"}},
        "expand": {"type": "string"},
    }
)
LEGACY_SEARCH_BODY = _object_body(
    {
        "jql": {"type": "string"},
        "startAt": {"type": "integer"},
        "maxResults": {"type": "integer"},
        "fields": {"type": "array", "items": {"type": "string"}},
        "expand": {"type": "array", "items": {"type": "string"}},
    }
)
COUNT_BODY = _object_body({"jql": {"type": "string"}})
DYNAMIC_WEBHOOK_BODY = _object_body(
    {
        "url": {"type": "string"},
        "webhooks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "events": {"type": "array", "items": {"type": "string"}},
                    "jqlFilter": {"type": "string"},
                    "fieldIdsFilter": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
    ["url", "webhooks"],
)
WEBHOOK_IDS_BODY = _object_body(
    {"webhookIds": {"type": "array", "items": {"type": "integer"}}}, ["webhookIds"]
)
ADMIN_WEBHOOK_BODY = _object_body(
    {
        "name": {"type": "string"},
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string"}},
        "filters": {"type": "object"},
        "excludeBody": {"type": "boolean"},
        "secret": {"type": "string"},
    },
    ["name", "url", "events"],
)
ATTACHMENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


# -- request helpers -------------------------------------------------------------------------
def base_url(request: Request) -> str:
    """Absolute URLs in responses follow the request (and keep the ``/ex/jira/{cloudId}`` form)."""
    root = str(request.base_url).rstrip("/")
    cloud_id = request.path_params.get("cloud_id")
    return f"{root}/ex/jira/{cloud_id}" if cloud_id else root


def jira_of(request: Request) -> JiraSandbox:
    """The sandbox serving this request (routers are shared by every sandbox's app)."""
    sandbox: JiraSandbox = request.app.state.jira_sandbox
    return sandbox


def authenticate(request: Request) -> Caller:
    sandbox = jira_of(request)
    cloud_id = request.path_params.get("cloud_id")
    if cloud_id is not None and cloud_id != sandbox.credentials["cloud_id"]:
        raise JiraError(404, "Site not found.")
    caller = sandbox.authenticator.authenticate(request.headers.get("authorization"))
    if caller is None:
        raise JiraError(401, NOT_AUTHENTICATED)
    # Read by the middleware that adds the X-AAccountId response header.
    request.state.account_id = caller.account_id
    return caller


def authenticated(request: Request) -> tuple[JiraSandbox, Caller]:
    """The sandbox serving this request and its authenticated caller (see :func:`authenticate`)."""
    return jira_of(request), authenticate(request)


def context(request: Request, caller: Caller) -> Context:
    return Context(account_id=caller.account_id, base_url=base_url(request))


async def read_json(request: Request) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type and not content_type.lower().startswith(("application/json", "text/json")):
        raise JiraError(415, "Unsupported Media Type: send the body as application/json.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_JSON_BODY_BYTES:
        raise JiraError(413, "The request body is too large.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_JSON_BODY_BYTES:
            raise JiraError(413, "The request body is too large.")
        chunks.append(chunk)
    return parse_json_body(b"".join(chunks))


async def read_json_object(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise JiraError(400, "The request body must be a JSON object.")
    return body


def require_project(sandbox: JiraSandbox, project_id_or_key: str) -> dict[str, Any]:
    project = sandbox.catalog.project(project_id_or_key)
    if project is None:
        raise JiraError(404, f"No project could be found with key '{project_id_or_key}'.")
    return project


def field_descriptions(
    sandbox: JiraSandbox, selected: set[str], expansions: set[str]
) -> dict[str, Any]:
    """The ``names`` and ``schema`` members a search adds when its ``expand`` asks for them."""
    described: dict[str, Any] = {}
    if "names" in expansions:
        described["names"] = {f: sandbox.catalog.fields[f].name for f in selected}
    if "schema" in expansions:
        described["schema"] = {f: sandbox.catalog.fields[f].schema for f in selected}
    return described


def parse_boolean(name: str, value: str | None, default: bool) -> bool:
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise JiraError(400, f"The value '{value}' is not valid for the parameter '{name}'.")


def split_expand(expand: str | list[str] | None) -> set[str]:
    if expand is None:
        return set()
    values = expand if isinstance(expand, list) else [expand]
    return {part.strip() for value in values for part in str(value).split(",") if part.strip()}


def no_content() -> Response:
    return Response(status_code=204)


# -- routers ---------------------------------------------------------------------------------
class VersionRouter(APIRouter):
    """An ``APIRouter`` that declines paths of other API versions before trying its routes.

    FastAPI tries every route of every included router in turn; with six copies of the REST
    routes (v2, v3, latest, each also under ``/ex/jira/{cloudId}``) that scan dominated the
    cost of a request. One substring test per router keeps lookups cheap.
    """

    def __init__(self, *, version: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.version_marker = f"/rest/api/{version}/"

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.version_marker not in scope.get("path", ""):
            return Match.NONE, {}
        return super().matches(scope)


@cache
def build_rest_router(version: str) -> APIRouter:
    """Every ``/rest/api/{version}`` route; ``latest`` behaves as v2 (as in Jira)."""
    render_version = "2" if version == "latest" else version
    router = VersionRouter(
        version=version, prefix=f"/rest/api/{version}", tags=[f"Jira REST v{version}"]
    )

    def view(request: Request) -> IssueView:
        sandbox = jira_of(request)
        return IssueView(sandbox.catalog, sandbox.store, base_url(request), render_version)

    @router.get("/serverInfo", summary="Server information (no authentication needed).")
    async def server_info(request: Request) -> JiraJSONResponse:
        sandbox = jira_of(request)
        # Anonymous on Jira Cloud; a caller's credentials are still checked when sent.
        if request.headers.get("authorization"):
            authenticate(request)
        return JiraJSONResponse(
            {
                "baseUrl": base_url(request),
                "displayUrl": base_url(request),
                "version": SERVER_VERSION,
                "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud",
                "buildNumber": 100_000,
                "buildDate": "2026-01-17T00:00:00.000+0000",
                "serverTime": format_timestamp(sandbox.issues.now_ms()),
                "scmInfo": "0000000000000000000000000000000000000000",
                "serverTitle": "ForceBridge Jira sandbox",
                "serverTimeZone": "Etc/UTC",
            }
        )

    @router.get("/myself", summary="The calling user.")
    async def myself(request: Request) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        bean = sandbox.catalog.user_bean(caller.account_id, base_url(request)) or {}
        bean.update(
            locale="en_US",
            groups={"size": 2, "items": []},
            applicationRoles={"size": 1, "items": []},
            expand="groups,applicationRoles",
        )
        return JiraJSONResponse(bean)

    @router.get("/field", summary="System and custom fields.")
    async def list_fields(request: Request) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        return JiraJSONResponse(
            [sandbox.catalog.field_bean(f) for f in sandbox.catalog.fields.values()]
        )

    @router.get("/project", summary="All projects (legacy list).")
    async def list_projects(request: Request) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        base = base_url(request)
        return JiraJSONResponse(
            [
                sandbox.catalog.project_summary_bean(p, base, render_version)
                for p in sandbox.catalog.projects
            ]
        )

    @router.get("/project/search", summary="Projects, paginated.")
    async def search_projects(
        request: Request,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(50, ge=0, le=1000),
        query: str = "",
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        base = base_url(request)
        matching = [
            p
            for p in sandbox.catalog.projects.values()
            if query.lower() in p["key"].lower() or query.lower() in p["name"].lower()
        ]
        page = matching[startAt : startAt + maxResults]
        return JiraJSONResponse(
            {
                "self": str(request.url),
                "startAt": startAt,
                "maxResults": maxResults,
                "total": len(matching),
                "isLast": startAt + len(page) >= len(matching),
                "values": [
                    sandbox.catalog.project_bean(p["id"], base, render_version) for p in page
                ],
            }
        )

    @router.get("/project/{projectIdOrKey}", summary="One project with its issue types.")
    async def get_project(
        request: Request,
        projectIdOrKey: str,
        expand: str | None = None,
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        project = sandbox.catalog.project(projectIdOrKey)
        if project is None or (not projectIdOrKey.isdigit() and project["key"] != projectIdOrKey):
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        return JiraJSONResponse(
            sandbox.catalog.project_bean(project["id"], base_url(request), render_version)
        )

    @router.get("/user", summary="One user by accountId.")
    async def get_user(request: Request, accountId: str | None = None) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        if not accountId:
            raise JiraError(400, "The accountId query parameter needs to be provided.")
        bean = (
            sandbox.catalog.user_bean(accountId, base_url(request))
            if accountId in sandbox.catalog.users
            else None
        )
        if bean is None:
            raise JiraError(404, f"The user with accountId '{accountId}' does not exist.")
        return JiraJSONResponse(bean)

    @router.get("/user/search", summary="Users whose name or e-mail contains the query.")
    async def search_users(
        request: Request,
        query: str | None = None,
        accountId: str | None = None,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(50, ge=0, le=1000),
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        if query is None and accountId is None:
            raise JiraError(400, "One of 'query' or 'accountId' query parameters must be provided.")
        needle = (query or "").lower()
        found = [
            user
            for user in sandbox.catalog.users.values()
            if (accountId is None or user["accountId"] == accountId)
            and (needle in user["displayName"].lower() or needle in user["emailAddress"].lower())
        ]
        base = base_url(request)
        page = found[startAt : startAt + maxResults]
        return JiraJSONResponse(
            [sandbox.catalog.user_bean(user["accountId"], base) for user in page]
        )

    @router.get("/priority", summary="All priorities.")
    async def list_priorities(request: Request) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        base = base_url(request)
        return JiraJSONResponse(
            [
                {
                    **sandbox.catalog.priority_bean(p, base, render_version),
                    "isDefault": p == seed.DEFAULT_PRIORITY_ID,
                }
                for p in sandbox.catalog.priorities
            ]
        )

    @router.get("/status", summary="All statuses of the workflow.")
    async def list_statuses(request: Request) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        base = base_url(request)
        return JiraJSONResponse(
            [sandbox.catalog.status_bean(s, base, render_version) for s in sandbox.catalog.statuses]
        )

    @router.get("/issuetype", summary="All issue types.")
    async def list_issue_types(request: Request) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        base = base_url(request)
        return JiraJSONResponse(
            [
                sandbox.catalog.issue_type_bean(t, base, render_version)
                for t in sandbox.catalog.issue_types
            ]
        )

    @router.get(
        "/issue/createmeta/{projectIdOrKey}/issuetypes", summary="Issue types that can be created."
    )
    async def create_meta_issue_types(
        request: Request,
        projectIdOrKey: str,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(50, ge=0, le=200),
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        require_project(sandbox, projectIdOrKey)
        base = base_url(request)
        types = [
            sandbox.catalog.issue_type_bean(t, base, render_version)
            for t in sandbox.catalog.issue_types
        ]
        page = types[startAt : startAt + maxResults]
        return JiraJSONResponse(
            {"issueTypes": page, "maxResults": maxResults, "startAt": startAt, "total": len(types)}
        )

    @router.get(
        "/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
        summary="Fields that can be set when creating an issue of this type.",
    )
    async def create_meta_fields(
        request: Request,
        projectIdOrKey: str,
        issueTypeId: str,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(50, ge=0, le=200),
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        require_project(sandbox, projectIdOrKey)
        if issueTypeId not in sandbox.catalog.issue_types:
            raise JiraError(404, f"The issue type with id '{issueTypeId}' does not exist.")
        base = base_url(request)
        settable = ["project", "issuetype", *EDITABLE_SYSTEM_FIELDS]
        settable += [f.id for f in sandbox.catalog.fields.values() if f.custom]
        fields = [
            {
                **sandbox.catalog.field_metadata(
                    sandbox.catalog.fields[field_id],
                    base,
                    render_version,
                    required=field_id in ("project", "issuetype", "summary"),
                ),
                "fieldId": field_id,
            }
            for field_id in settable
        ]
        page = fields[startAt : startAt + maxResults]
        return JiraJSONResponse(
            {
                "fields": page,
                "results": page,
                "maxResults": maxResults,
                "startAt": startAt,
                "total": len(fields),
            }
        )

    # -- issues ------------------------------------------------------------------------------
    @router.post("/issue", status_code=201, summary="Create an issue.", openapi_extra=ISSUE_BODY)
    async def create_issue(request: Request) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        body = await read_json(request)
        issue = sandbox.issues.create(context(request, caller), body, render_version)
        return JiraJSONResponse(
            {"id": issue["id"], "key": issue["key"], "self": view(request).issue_url(issue["id"])},
            status_code=201,
        )

    @router.post(
        "/issue/bulk",
        status_code=201,
        summary="Create up to 50 issues; each entry succeeds or fails on its own.",
        openapi_extra=BULK_ISSUE_BODY,
    )
    async def create_issues(request: Request) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        body = await read_json(request)
        created, errors = sandbox.issues.create_many(context(request, caller), body, render_version)
        issue_view = view(request)
        issues = [
            {"id": issue["id"], "key": issue["key"], "self": issue_view.issue_url(issue["id"])}
            for issue in created
        ]
        # 201 when at least one issue was created; 400, with the same body, when none was.
        return JiraJSONResponse(
            {"issues": issues, "errors": errors}, status_code=201 if issues else 400
        )

    @router.get("/issue/{issueIdOrKey}", summary="One issue.")
    async def get_issue(
        request: Request,
        issueIdOrKey: str,
        fields: list[str] | None = Query(None),
        expand: str | None = None,
    ) -> JiraJSONResponse:
        # fieldsByKeys, properties and updateHistory are accepted and ignored (no effect here).
        sandbox, _ = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        issue_view = view(request)
        selected = issue_view.select_fields(fields or [], "*all")
        return JiraJSONResponse(issue_view.issue(issue, selected, split_expand(expand)))

    @router.put(
        "/issue/{issueIdOrKey}", status_code=204, summary="Edit an issue.", openapi_extra=ISSUE_BODY
    )
    async def edit_issue(
        request: Request,
        issueIdOrKey: str,
        notifyUsers: str | None = None,
        returnIssue: str | None = None,
        overrideScreenSecurity: str | None = None,
        overrideEditableFlag: str | None = None,
        expand: str | None = None,
    ) -> Response:
        sandbox, caller = authenticated(request)
        # notifyUsers=false only changes whether e-mails go out; the admin may always use it.
        parse_boolean("notifyUsers", notifyUsers, True)
        return_issue = parse_boolean("returnIssue", returnIssue, False)
        issue = sandbox.issues.require(issueIdOrKey)
        body = await read_json(request)
        sandbox.issues.edit(context(request, caller), issue, body, render_version)
        if return_issue:
            issue_view = view(request)
            return JiraJSONResponse(
                issue_view.issue(issue, issue_view.select_fields([], "*all"), split_expand(expand))
            )
        return no_content()

    @router.delete("/issue/{issueIdOrKey}", status_code=204, summary="Delete an issue.")
    async def delete_issue(
        request: Request,
        issueIdOrKey: str,
        deleteSubtasks: str | None = None,
    ) -> Response:
        sandbox, caller = authenticated(request)
        parse_boolean("deleteSubtasks", deleteSubtasks, False)
        issue = sandbox.issues.require(issueIdOrKey)
        sandbox.issues.delete(context(request, caller), issue)
        return no_content()

    @router.get(
        "/issue/{issueIdOrKey}/editmeta", summary="Fields that can be edited, with choices."
    )
    async def edit_meta(request: Request, issueIdOrKey: str) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        sandbox.issues.require(issueIdOrKey)
        base = base_url(request)
        editable = [*EDITABLE_SYSTEM_FIELDS] + [
            f.id for f in sandbox.catalog.fields.values() if f.custom
        ]
        return JiraJSONResponse(
            {
                "fields": {
                    field_id: sandbox.catalog.field_metadata(
                        sandbox.catalog.fields[field_id],
                        base,
                        render_version,
                        required=field_id == "summary",
                    )
                    for field_id in editable
                }
            }
        )

    @router.get("/issue/{issueIdOrKey}/changelog", summary="The change history, paginated.")
    async def changelog(
        request: Request,
        issueIdOrKey: str,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(100, ge=0, le=1000),
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        histories = issue["histories"]
        page = histories[startAt : startAt + maxResults]
        issue_view = view(request)
        return JiraJSONResponse(
            {
                "self": str(request.url),
                "maxResults": maxResults,
                "startAt": startAt,
                "total": len(histories),
                "isLast": startAt + len(page) >= len(histories),
                "values": [issue_view.history(history) for history in page],
            }
        )

    # -- comments ----------------------------------------------------------------------------
    @router.get("/issue/{issueIdOrKey}/comment", summary="Comments of an issue, paginated.")
    async def list_comments(
        request: Request,
        issueIdOrKey: str,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(100, ge=0),
        orderBy: str | None = None,
        expand: str | None = None,
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        comments = list(issue["comments"])
        if orderBy not in (None, "created", "+created", "-created"):
            raise JiraError(400, f"The value '{orderBy}' is not valid for 'orderBy'.")
        if orderBy == "-created":
            comments.reverse()
        page = view(request).comment_page(
            issue,
            comments,
            startAt,
            min(maxResults, COMMENT_MAX_RESULTS),
            rendered_body="renderedBody" in split_expand(expand),
        )
        page.pop("self")
        return JiraJSONResponse(page)

    @router.post(
        "/issue/{issueIdOrKey}/comment",
        status_code=201,
        summary="Add a comment.",
        openapi_extra=COMMENT_BODY,
    )
    async def add_comment(
        request: Request, issueIdOrKey: str, expand: str | None = None
    ) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        body = await read_json(request)
        comment = sandbox.issues.add_comment(context(request, caller), issue, body, render_version)
        return JiraJSONResponse(view(request).comment(issue, comment), status_code=201)

    @router.get("/issue/{issueIdOrKey}/comment/{commentId}", summary="One comment.")
    async def get_comment(request: Request, issueIdOrKey: str, commentId: str) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        return JiraJSONResponse(
            view(request).comment(issue, sandbox.issues.require_comment(issue, commentId))
        )

    @router.put(
        "/issue/{issueIdOrKey}/comment/{commentId}",
        summary="Edit a comment.",
        openapi_extra=COMMENT_BODY,
    )
    async def update_comment(
        request: Request,
        issueIdOrKey: str,
        commentId: str,
        notifyUsers: str | None = None,
        expand: str | None = None,
    ) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        parse_boolean("notifyUsers", notifyUsers, True)
        issue = sandbox.issues.require(issueIdOrKey)
        sandbox.issues.require_comment(issue, commentId)
        body = await read_json(request)
        comment = sandbox.issues.update_comment(
            context(request, caller), issue, commentId, body, render_version
        )
        return JiraJSONResponse(view(request).comment(issue, comment))

    @router.delete(
        "/issue/{issueIdOrKey}/comment/{commentId}", status_code=204, summary="Delete a comment."
    )
    async def delete_comment(request: Request, issueIdOrKey: str, commentId: str) -> Response:
        sandbox, caller = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        sandbox.issues.delete_comment(context(request, caller), issue, commentId)
        return no_content()

    # -- transitions -------------------------------------------------------------------------
    @router.get("/issue/{issueIdOrKey}/transitions", summary="Transitions available now.")
    async def get_transitions(
        request: Request,
        issueIdOrKey: str,
        expand: str | None = None,
        transitionId: str | None = None,
    ) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        with_fields = "transitions.fields" in split_expand(expand)
        beans = []
        for transition in sandbox.issues.transitions_for(issue):
            if transitionId is not None and transition["id"] != transitionId:
                continue
            bean = sandbox.catalog.transition_bean(transition, base_url(request), render_version)
            if with_fields:
                bean["fields"] = {}
            beans.append(bean)
        return JiraJSONResponse({"expand": "transitions", "transitions": beans})

    @router.post(
        "/issue/{issueIdOrKey}/transitions",
        status_code=204,
        summary="Move an issue through the workflow.",
        openapi_extra=TRANSITION_BODY,
    )
    async def do_transition(request: Request, issueIdOrKey: str) -> Response:
        sandbox, caller = authenticated(request)
        issue = sandbox.issues.require(issueIdOrKey)
        body = await read_json(request)
        sandbox.issues.transition(context(request, caller), issue, body, render_version)
        return no_content()

    # -- attachments -------------------------------------------------------------------------
    @router.post(
        "/issue/{issueIdOrKey}/attachments",
        summary="Attach files (multipart, part name 'file').",
        openapi_extra=ATTACHMENT_BODY,
    )
    async def add_attachments(request: Request, issueIdOrKey: str) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        if request.headers.get("x-atlassian-token", "").lower() != "no-check":
            # Every multipart operation needs the XSRF opt-out header.
            raise JiraError(403, "XSRF check failed")
        issue = sandbox.issues.require(issueIdOrKey)
        declared = request.headers.get("content-length")
        if (
            declared is not None
            and declared.isdigit()
            and int(declared) > MAX_ATTACHMENT_REQUEST_BYTES
        ):
            raise JiraError(413, "The attachments exceed the maximum size allowed.")
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise JiraError(415, "Unsupported Media Type: send the files as multipart/form-data.")
        try:
            # Starlette spools each part to a temporary file past 1 MB, so a 50 MB upload never
            # sits in memory whole.
            form = await request.form(max_files=MAX_FILES_PER_REQUEST + 1, max_fields=100)
        except (MultiPartException, ValueError) as error:
            raise JiraError(400, f"The multipart body could not be read: {error}") from None
        except Exception as error:  # starlette raises HTTPException(400) for malformed bodies
            status = getattr(error, "status_code", None)
            if status is None:
                raise
            raise JiraError(400, f"The multipart body could not be read: {error}") from None
        try:
            uploads = [part for part in form.getlist("file") if isinstance(part, UploadFile)]
            if len(uploads) > MAX_FILES_PER_REQUEST:
                raise JiraError(413, "You can attach at most 60 files in one request.")
            if not uploads:
                raise JiraError(400, "No file was found in the 'file' part of the request.")
            call_context = context(request, caller)
            saved = []
            for upload in uploads:
                filename = upload.filename or "attachment"
                metadata = await run_in_threadpool(
                    sandbox.issues.add_attachment,
                    call_context,
                    issue,
                    filename,
                    upload.content_type,
                    upload.file,
                )
                saved.append(metadata)
        finally:
            await form.close()
        issue_view = view(request)
        return JiraJSONResponse([issue_view.attachment(metadata) for metadata in saved])

    @router.get("/attachment/{attachmentId}", summary="Attachment metadata.")
    async def get_attachment(request: Request, attachmentId: str) -> JiraJSONResponse:
        sandbox, _ = authenticated(request)
        metadata = sandbox.issues.attachment(attachmentId)
        bean = view(request).attachment(metadata, numeric_id=True)
        bean["properties"] = {}
        return JiraJSONResponse(bean)

    @router.delete("/attachment/{attachmentId}", status_code=204, summary="Delete an attachment.")
    async def delete_attachment(request: Request, attachmentId: str) -> Response:
        sandbox, caller = authenticated(request)
        sandbox.issues.delete_attachment(context(request, caller), attachmentId)
        return no_content()

    @router.get("/attachment/content/{attachmentId}", summary="Attachment bytes (streamed).")
    async def attachment_content(
        request: Request,
        attachmentId: str,
        redirect: str | None = None,
    ) -> Response:
        sandbox, _ = authenticated(request)
        metadata = sandbox.issues.attachment(attachmentId)
        path = sandbox.issues.attachment_path(metadata["id"])
        if not path.exists():
            raise JiraError(404, f"The attachment with id '{attachmentId}' has no content.")
        # Jira redirects to its media service; serving the bytes directly is what the client
        # ends up with after following the redirect.
        return FileResponse(
            path,
            media_type=metadata["mimeType"],
            filename=metadata["filename"],
            content_disposition_type="attachment",
        )

    # -- search ------------------------------------------------------------------------------
    def compile_jql(sandbox: JiraSandbox, caller: Caller, jql: str) -> CompiledQuery:
        try:
            return sandbox.compiler(caller.account_id).compile(jql)
        except JqlError as error:
            raise JiraError(400, jql_error_message(error)) from None

    def matching(
        sandbox: JiraSandbox, caller: Caller, jql: str, *, bounded: bool
    ) -> list[dict[str, Any]]:
        compiled = compile_jql(sandbox, caller, jql)
        if bounded and not compiled.bounded:
            raise JiraError(
                400,
                "Unbounded JQL queries are not allowed here. Please add a search restriction "
                "to your query.",
            )
        compiler = sandbox.compiler(caller.account_id)
        try:
            found = [issue for issue in sandbox.issues.all() if compiled.predicate(issue)]
        except TypeError as error:
            raise JiraError(400, f"Error in the JQL Query: {error}") from None
        return compiler.order(found, compiled.order_by)

    def page_token(jql: str, offset: int) -> str:
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        raw = json.dumps({"offset": offset, "query": digest}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def read_page_token(jql: str, token: str | None) -> int:
        if not token:
            return 0
        try:
            padded = token + "=" * (-len(token) % 4)
            decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
            offset = decoded["offset"]
            same_query = decoded["query"] == hashlib.sha256(jql.encode()).hexdigest()[:16]
        except (ValueError, KeyError, TypeError, binascii.Error):
            same_query, offset = False, 0
        if not same_query or not isinstance(offset, int) or offset < 0:
            raise JiraError(400, "The provided next page token is invalid or expired.")
        return offset

    def enhanced_search(
        request: Request,
        caller: Caller,
        jql: Any,
        next_page_token: Any,
        max_results: Any,
        fields: Any,
        expand: Any,
    ) -> JiraJSONResponse:
        sandbox = jira_of(request)
        if not isinstance(jql, str):
            raise JiraError(400, "The 'jql' parameter must be a string.")
        if next_page_token is not None and not isinstance(next_page_token, str):
            raise JiraError(400, "The 'nextPageToken' parameter must be a string.")
        if isinstance(max_results, bool) or not isinstance(max_results, int):
            raise JiraError(400, "The 'maxResults' parameter must be an integer.")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise JiraError(400, "The 'fields' parameter must be a list of field ids.")
        if expand is not None and not isinstance(expand, str):
            raise JiraError(400, "The 'expand' parameter must be a comma-separated string.")
        issue_view = view(request)
        selected = issue_view.select_fields(fields, "id")
        id_only = not selected
        cap = SEARCH_MAX_RESULTS_ID_ONLY if id_only else SEARCH_MAX_RESULTS_WITH_FIELDS
        page_size = max(1, min(max_results, cap))
        found = matching(sandbox, caller, jql, bounded=True)
        offset = read_page_token(jql, next_page_token)
        page = found[offset : offset + page_size]
        expansions = split_expand(expand)
        beans = []
        for issue in page:
            bean = issue_view.issue(issue, selected, expansions)
            if id_only:
                # Only ids were asked for (the default): Jira sends no field values at all.
                bean.pop("fields")
            beans.append(bean)
        result: dict[str, Any] = {"issues": beans}
        result.update(field_descriptions(sandbox, selected, expansions))
        is_last = offset + len(page) >= len(found)
        if not is_last:
            result["nextPageToken"] = page_token(jql, offset + len(page))
        result["isLast"] = is_last
        return JiraJSONResponse(result)

    @router.get("/search/jql", summary="Search issues with JQL (token pagination).")
    async def search_jql_get(
        request: Request,
        jql: str = "",
        nextPageToken: str | None = None,
        maxResults: int = SEARCH_DEFAULT_MAX_RESULTS,
        fields: list[str] | None = Query(None),
        expand: str | None = None,
    ) -> JiraJSONResponse:
        # properties, fieldsByKeys, failFast and reconcileIssues are accepted and ignored: the
        # sandbox's search is always consistent with the latest writes.
        caller = authenticate(request)
        return enhanced_search(
            request, caller, jql, nextPageToken, maxResults, fields or [], expand
        )

    @router.post(
        "/search/jql", summary="Search issues with JQL (body form).", openapi_extra=SEARCH_BODY
    )
    async def search_jql_post(request: Request) -> JiraJSONResponse:
        caller = authenticate(request)
        body = await read_json_object(request)
        return enhanced_search(
            request,
            caller,
            body.get("jql", ""),
            body.get("nextPageToken"),
            body.get("maxResults", SEARCH_DEFAULT_MAX_RESULTS),
            body.get("fields", []),
            body.get("expand"),
        )

    @router.post(
        "/search/approximate-count", summary="Count issues matching JQL.", openapi_extra=COUNT_BODY
    )
    async def approximate_count(request: Request) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        body = await read_json(request)
        jql = body.get("jql") if isinstance(body, dict) else None
        if not isinstance(jql, str):
            raise JiraError(400, "The 'jql' member must be a string.")
        return JiraJSONResponse({"count": len(matching(sandbox, caller, jql, bounded=True))})

    def legacy_search(
        request: Request,
        caller: Caller,
        jql: Any,
        start_at: Any,
        max_results: Any,
        fields: Any,
        expand: Any,
    ) -> JiraJSONResponse:
        sandbox = jira_of(request)
        if not isinstance(jql, str):
            raise JiraError(400, "The 'jql' parameter must be a string.")
        for name, number in (("startAt", start_at), ("maxResults", max_results)):
            if isinstance(number, bool) or not isinstance(number, int) or number < 0:
                raise JiraError(400, f"The '{name}' parameter must be a non-negative integer.")
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise JiraError(400, "The 'fields' parameter must be a list of field ids.")
        issue_view = view(request)
        selected = issue_view.select_fields(fields, "*navigable")
        found = matching(sandbox, caller, jql, bounded=False)
        page_size = min(max_results, LEGACY_SEARCH_MAX_RESULTS)
        page = found[start_at : start_at + page_size]
        expansions = split_expand(expand)
        result: dict[str, Any] = {
            "expand": "schema,names",
            "startAt": start_at,
            "maxResults": page_size,
            "total": len(found),
            "issues": [issue_view.issue(issue, selected, expansions) for issue in page],
        }
        result.update(field_descriptions(sandbox, selected, expansions))
        return JiraJSONResponse(result)

    @router.get("/search", summary="Legacy search (offset pagination; deprecated in v3).")
    async def legacy_search_get(
        request: Request,
        jql: str = "",
        startAt: int = 0,
        maxResults: int = SEARCH_DEFAULT_MAX_RESULTS,
        fields: list[str] | None = Query(None),
        expand: str | None = None,
        validateQuery: str | None = None,
    ) -> JiraJSONResponse:
        caller = authenticate(request)
        return legacy_search(request, caller, jql, startAt, maxResults, fields or [], expand)

    @router.post("/search", summary="Legacy search (body form).", openapi_extra=LEGACY_SEARCH_BODY)
    async def legacy_search_post(request: Request) -> JiraJSONResponse:
        caller = authenticate(request)
        body = await read_json_object(request)
        expand = body.get("expand")
        if isinstance(expand, list):
            expand = ",".join(str(e) for e in expand)
        return legacy_search(
            request,
            caller,
            body.get("jql", ""),
            body.get("startAt", 0),
            body.get("maxResults", SEARCH_DEFAULT_MAX_RESULTS),
            body.get("fields", []),
            expand,
        )

    # -- dynamic webhooks (OAuth / Connect apps only) ---------------------------------------
    def app_caller(request: Request) -> Caller:
        caller = authenticate(request)
        if caller.app_id is None:
            raise JiraError(403, "Only Connect and OAuth 2.0 apps can use this operation.")
        return caller

    @router.post(
        "/webhook", summary="Register dynamic webhooks.", openapi_extra=DYNAMIC_WEBHOOK_BODY
    )
    async def register_webhooks(request: Request) -> JiraJSONResponse:
        sandbox = jira_of(request)
        caller = app_caller(request)
        body = await read_json(request)
        results = sandbox.webhook_registry.register_dynamic(body, str(caller.app_id))
        return JiraJSONResponse({"webhookRegistrationResult": results})

    @router.get("/webhook", summary="Dynamic webhooks of the calling app.")
    async def list_webhooks(
        request: Request,
        startAt: int = Query(0, ge=0),
        maxResults: int = Query(100, ge=0, le=100),
    ) -> JiraJSONResponse:
        sandbox = jira_of(request)
        caller = app_caller(request)
        webhooks = sandbox.webhook_registry.dynamic_for_app(str(caller.app_id))
        page = webhooks[startAt : startAt + maxResults]
        return JiraJSONResponse(
            {
                "startAt": startAt,
                "maxResults": maxResults,
                "total": len(webhooks),
                "isLast": startAt + len(page) >= len(webhooks),
                "values": [sandbox.webhook_registry.dynamic_bean(w) for w in page],
            }
        )

    @router.delete(
        "/webhook",
        status_code=202,
        summary="Delete dynamic webhooks.",
        openapi_extra=WEBHOOK_IDS_BODY,
    )
    async def delete_webhooks(request: Request) -> Response:
        sandbox = jira_of(request)
        caller = app_caller(request)
        body = await read_json(request)
        sandbox.webhook_registry.delete_dynamic(body, str(caller.app_id))
        return Response(status_code=202)

    @router.put(
        "/webhook/refresh",
        summary="Extend dynamic webhooks by 30 days.",
        openapi_extra=WEBHOOK_IDS_BODY,
    )
    async def refresh_webhooks(request: Request) -> JiraJSONResponse:
        sandbox = jira_of(request)
        caller = app_caller(request)
        body = await read_json(request)
        expiration = sandbox.webhook_registry.refresh_dynamic(body, str(caller.app_id))
        return JiraJSONResponse({"expirationDate": expiration})

    return router


@cache
def build_site_router() -> APIRouter:
    """Admin webhooks (``/rest/webhooks/1.0``) and the OAuth 2.0 endpoints."""
    router = APIRouter()

    def admin_caller(request: Request) -> Caller:
        caller = authenticate(request)
        if caller.account_id != seed.ADMIN_ACCOUNT_ID:
            raise JiraError(403, "You must be a Jira administrator to manage webhooks.")
        return caller

    def admin_bean(request: Request, webhook: dict[str, Any]) -> dict[str, Any]:
        sandbox = jira_of(request)
        return sandbox.webhook_registry.admin_bean(webhook, base_url(request), sandbox.catalog)

    def webhook_id(raw: str) -> int:
        if not raw.isdigit() or len(raw) > 18:
            raise JiraError(404, f"No webhook with id {raw}.")
        return int(raw)

    @router.post(
        "/rest/webhooks/1.0/webhook",
        status_code=201,
        tags=["Jira admin webhooks"],
        summary="Register an admin webhook.",
        openapi_extra=ADMIN_WEBHOOK_BODY,
    )
    async def create_admin_webhook(request: Request) -> JiraJSONResponse:
        sandbox = jira_of(request)
        caller = admin_caller(request)
        body = await read_json(request)
        webhook = sandbox.webhook_registry.create_admin(body, caller.account_id)
        return JiraJSONResponse(
            admin_bean(request, webhook),
            status_code=201,
        )

    @router.get(
        "/rest/webhooks/1.0/webhook", tags=["Jira admin webhooks"], summary="Admin webhooks."
    )
    async def list_admin_webhooks(request: Request) -> JiraJSONResponse:
        sandbox = jira_of(request)
        admin_caller(request)
        base = base_url(request)
        return JiraJSONResponse(
            [
                sandbox.webhook_registry.admin_bean(w, base, sandbox.catalog)
                for w in sandbox.webhook_registry.all()
                if w["kind"] == "admin"
            ]
        )

    @router.get(
        "/rest/webhooks/1.0/webhook/{webhookId}",
        tags=["Jira admin webhooks"],
        summary="One admin webhook.",
    )
    async def get_admin_webhook(request: Request, webhookId: str) -> JiraJSONResponse:
        sandbox = jira_of(request)
        admin_caller(request)
        webhook = sandbox.webhook_registry.admin(webhook_id(webhookId))
        return JiraJSONResponse(admin_bean(request, webhook))

    @router.put(
        "/rest/webhooks/1.0/webhook/{webhookId}",
        tags=["Jira admin webhooks"],
        summary="Replace an admin webhook.",
        openapi_extra=ADMIN_WEBHOOK_BODY,
    )
    async def update_admin_webhook(request: Request, webhookId: str) -> JiraJSONResponse:
        sandbox = jira_of(request)
        caller = admin_caller(request)
        identifier = webhook_id(webhookId)
        sandbox.webhook_registry.admin(identifier)
        body = await read_json(request)
        webhook = sandbox.webhook_registry.update_admin(identifier, body, caller.account_id)
        return JiraJSONResponse(admin_bean(request, webhook))

    @router.delete(
        "/rest/webhooks/1.0/webhook/{webhookId}",
        status_code=204,
        tags=["Jira admin webhooks"],
        summary="Delete an admin webhook.",
    )
    async def delete_admin_webhook(request: Request, webhookId: str) -> Response:
        sandbox = jira_of(request)
        admin_caller(request)
        sandbox.webhook_registry.delete_admin(webhook_id(webhookId))
        return no_content()

    @router.post(
        "/oauth/token",
        tags=["OAuth 2.0 (3LO)"],
        summary="Exchange a refresh token (rotating) for an access token.",
        openapi_extra=_object_body(
            {
                "grant_type": {"type": "string"},
                "client_id": {"type": "string"},
                "client_secret": {"type": "string"},
                "refresh_token": {"type": "string"},
            },
            ["grant_type"],
        ),
    )
    async def oauth_token(request: Request) -> JiraJSONResponse:
        sandbox = jira_of(request)
        content_type = request.headers.get("content-type", "").lower()
        try:
            if content_type.startswith("application/x-www-form-urlencoded"):
                form = {
                    key: value
                    for key, value in (await request.form()).items()
                    if isinstance(value, str)
                }
            else:
                form = await read_json(request)
            if not isinstance(form, dict):
                raise OAuthError(400, "invalid_request", "The request body must be a JSON object.")
            tokens = sandbox.authenticator.token(form)
        except JiraError as error:
            raise OAuthError(error.status, "invalid_request", "; ".join(error.messages)) from None
        return JiraJSONResponse(tokens)

    @router.get(
        "/oauth/token/accessible-resources",
        tags=["OAuth 2.0 (3LO)"],
        summary="Sites the bearer token can reach.",
    )
    async def accessible_resources(request: Request) -> JiraJSONResponse:
        sandbox, caller = authenticated(request)
        if caller.method != "bearer":
            raise JiraError(401, NOT_AUTHENTICATED)
        root = str(request.base_url).rstrip("/")
        return JiraJSONResponse(
            [
                {
                    "id": sandbox.credentials["cloud_id"],
                    "url": root,
                    "name": seed.SITE_NAME,
                    "scopes": sandbox.authenticator_scopes(),
                    "avatarUrl": f"{root}/images/site-avatar.png",
                }
            ]
        )

    return router
