"""Routes of bulk work and the quota guard.

- ``POST /external/api/jobs/push`` ``{"jql": "..."}`` (API token): push every association of
  the issues the JQL finds, as a job resource; 201 with the job (``bulk.service``).
- ``POST /external/api/jobs/pull`` ``{"soql": "SELECT Id FROM Case WHERE ..."}`` or
  ``{"son": "Case", "where": "Status = 'New'"}``: pull every association of the records found.
- ``POST /external/api/jobs/associate``: a JSON list of ``{jiraIssueId, son, soid, viewOnly?,
  autoPush?, autoPull?}``, or the same columns as CSV (``text/csv`` body or a multipart
  ``file``), at most 5 MiB.
- ``POST /external/api/jobs/create-jira-issues`` ``{son, soids | soql, projectId,
  issueTypeId}``: a Jira issue per record, each associated with it.
- ``GET /external/api/jobs/{id}``: counts done / failed / remaining, per-item errors and the
  quota guard's state; another connection's job is 404.
- ``PUT|GET|DELETE /api/v1/connections/{id}/events`` (admin): the URL called on sync success
  or failure (``events.service``); PUT answers the signing secret, once.
- ``GET /api/v1/connections/{id}/quota`` (admin HTTP Basic): the org's last seen Salesforce API
  usage and whether background work is paused (``quota.service``).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictStr

from forcebridge.admin.auth import require_admin
from forcebridge.api.deps import ContainerDep, TokenDep, api_token_header
from forcebridge.api.envelope import Envelope, error_responses, success
from forcebridge.api.schemas import SALESFORCE_OBJECT_PATTERN
from forcebridge.bulk.service import (
    bulk_view,
    get_bulk_job,
    start_bulk_associate,
    start_bulk_create_jira_issues,
    start_bulk_pull,
    start_bulk_push,
)
from forcebridge.connections.service import get_connection
from forcebridge.errors import InvalidInput, PayloadTooLarge
from forcebridge.events.service import event_url, remove_event_url, set_event_url
from forcebridge.quota.jira_throttle import connection_throttles
from forcebridge.quota.service import quota_state
from forcebridge.salesforce.soql import format_soql

ConnectionId = Annotated[str, Path(min_length=1, max_length=64, description="A connection id.")]


BulkJobId = Annotated[str, Path(min_length=1, max_length=64, description="A bulk job id.")]

bulk_router = APIRouter(
    prefix="/external/api", tags=["external"], dependencies=[Depends(api_token_header)]
)


class BulkPushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jql: StrictStr = Field(min_length=1, max_length=10_000, examples=["project = TEST"])


@bulk_router.post(
    "/jobs/push",
    summary="Push every association of the issues a JQL finds (a bulk job).",
    status_code=201,
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(400, 401, 403, 422, 503),
)
def bulk_push(body: BulkPushRequest, container: ContainerDep, token: TokenDep) -> JSONResponse:
    bulk = start_bulk_push(container, token.connection_id, body.jql)
    with container.session() as session:
        view = bulk_view(session, bulk, container.clock())
    return success(view, f"Bulk push of {view['total']} association(s) queued.", 201)


class BulkPullRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    soql: StrictStr | None = Field(
        default=None, max_length=10_000, examples=["SELECT Id FROM Case WHERE Status = 'New'"]
    )
    son: StrictStr | None = Field(default=None, pattern=SALESFORCE_OBJECT_PATTERN)
    where: StrictStr | None = Field(default=None, max_length=9_000)

    def query(self) -> str:
        if self.soql and not (self.son or self.where):
            return self.soql
        if self.son and not self.soql:
            # The object name is quoted as an identifier; the condition is the caller's own
            # SOQL, run with the connection user's visibility, exactly as a full query would be.
            base = format_soql("SELECT Id FROM {:identifier}", self.son)
            return f"{base} WHERE {self.where}" if self.where else base
        raise InvalidInput('Send either "soql", or "son" with an optional "where".')


@bulk_router.post(
    "/jobs/pull",
    summary="Pull every association of the records a SOQL query finds (a bulk job).",
    status_code=201,
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(400, 401, 403, 422, 503),
)
def bulk_pull(body: BulkPullRequest, container: ContainerDep, token: TokenDep) -> JSONResponse:
    bulk = start_bulk_pull(container, token.connection_id, body.query())
    with container.session() as session:
        view = bulk_view(session, bulk, container.clock())
    return success(view, f"Bulk pull of {view['total']} association(s) queued.", 201)


class BulkCreateJiraIssuesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    son: StrictStr = Field(pattern=SALESFORCE_OBJECT_PATTERN, examples=["Case"])
    soids: list[StrictStr] | None = Field(default=None, min_length=1, max_length=50_000)
    soql: StrictStr | None = Field(default=None, min_length=1, max_length=10_000)
    projectId: StrictStr = Field(min_length=1, max_length=50, examples=["10000"])
    issueTypeId: StrictStr = Field(min_length=1, max_length=50, examples=["10001"])


@bulk_router.post(
    "/jobs/create-jira-issues",
    summary="Create a Jira issue for each of many records, and associate them (a bulk job).",
    status_code=201,
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(400, 401, 403, 422, 503),
)
def bulk_create_jira_issues(
    body: BulkCreateJiraIssuesRequest, container: ContainerDep, token: TokenDep
) -> JSONResponse:
    bulk = start_bulk_create_jira_issues(
        container,
        token.connection_id,
        salesforce_object=body.son,
        project_id=body.projectId,
        issue_type_id=body.issueTypeId,
        record_ids=body.soids,
        soql=body.soql,
    )
    with container.session() as session:
        view = bulk_view(session, bulk, container.clock())
    return success(view, f"Bulk creation of {view['total']} issue(s) queued.", 201)


MAX_UPLOAD_BYTES = 5 * 1024 * 1024
_CSV_TRUE, _CSV_FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


@bulk_router.post(
    "/jobs/associate",
    summary="Associate many issues and records (JSON list or CSV upload; a bulk job).",
    status_code=201,
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(400, 401, 413, 422),
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def bulk_associate(
    request: Request, container: ContainerDep, token: TokenDep
) -> JSONResponse:
    rows = await _uploaded_rows(request)
    bulk = await run_in_threadpool(start_bulk_associate, container, token.connection_id, rows)
    with container.session() as session:
        view = bulk_view(session, bulk, container.clock())
    return success(view, f"Bulk association of {view['total']} row(s) queued.", 201)


async def _uploaded_rows(request: Request) -> list[dict[str, Any]]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge("Uploads are limited to 5 MiB; split the file.")
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput('Send the CSV as the multipart field "file".')
        return _csv_rows(await upload.read(MAX_UPLOAD_BYTES + 1))
    body = await request.body()
    if len(body) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge("Uploads are limited to 5 MiB; split the file.")
    if content_type == "text/csv":
        return _csv_rows(body)
    try:
        parsed = json.loads(body)
    except ValueError:
        raise InvalidInput("The body is not JSON (or send text/csv).") from None
    if not isinstance(parsed, list) or not all(isinstance(row, dict) for row in parsed):
        raise InvalidInput("Send a JSON list of {jiraIssueId, son, soid, ...} objects.")
    return parsed


def _csv_rows(raw: bytes) -> list[dict[str, Any]]:
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PayloadTooLarge("Uploads are limited to 5 MiB; split the file.")
    try:
        text = raw.decode("utf-8-sig")  # spreadsheets often save a byte-order mark
    except UnicodeDecodeError:
        raise InvalidInput("The CSV is not UTF-8.") from None
    rows = []
    for line, record in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row: dict[str, Any] = {}
        for name, value in record.items():
            if name is None:
                raise InvalidInput(f"CSV line {line} has more cells than the header.")
            value = (value or "").strip()
            if name in ("viewOnly", "autoPush", "autoPull"):
                if value.lower() in _CSV_TRUE:
                    row[name] = True
                elif value.lower() in _CSV_FALSE:
                    row[name] = False
                elif value:
                    raise InvalidInput(f"CSV line {line}: {name} is true or false.")
            elif value:
                row[name] = value
        rows.append(row)
    return rows


@bulk_router.get(
    "/jobs/{job_id}",
    summary="A bulk job's progress: done, failed, remaining, per-item errors.",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(401, 404),
)
def bulk_job(job_id: BulkJobId, container: ContainerDep, token: TokenDep) -> JSONResponse:
    with container.session() as session:
        view = bulk_view(
            session, get_bulk_job(session, token.connection_id, job_id), container.clock()
        )
    return success(view, f"Bulk job is {view['state']}.")


quota_admin_router = APIRouter(
    prefix="/api/v1", tags=["admin"], dependencies=[Depends(require_admin)]
)


class EventUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(min_length=1, max_length=2000, examples=["https://hooks.example.com/fb"])


@quota_admin_router.put(
    "/connections/{connection_id}/events",
    summary="Call this URL on sync success or failure (signed, Standard Webhooks).",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(400, 401, 404, 422),
)
def put_event_url(
    body: EventUrlRequest, container: ContainerDep, connection_id: ConnectionId
) -> JSONResponse:
    secret = set_event_url(container, connection_id, body.url)
    return success(
        {"url": event_url(container, connection_id), "secret": secret},
        "Events will be sent there. Keep the secret: it is not shown again.",
    )


@quota_admin_router.get(
    "/connections/{connection_id}/events",
    summary="Where this connection's sync events go.",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(401, 404),
)
def get_event_url(container: ContainerDep, connection_id: ConnectionId) -> JSONResponse:
    with container.session() as session:
        get_connection(session, connection_id)
    return success({"url": event_url(container, connection_id)}, "Event subscription.")


@quota_admin_router.delete(
    "/connections/{connection_id}/events",
    summary="Stop sending this connection's sync events.",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(401, 404),
)
def delete_event_url(container: ContainerDep, connection_id: ConnectionId) -> JSONResponse:
    with container.session() as session:
        get_connection(session, connection_id)
    removed = remove_event_url(container, connection_id)
    return success({"removed": removed}, "No events will be sent.")


@quota_admin_router.get(
    "/connections/{connection_id}/quota",
    summary="The org's Salesforce API usage and whether background work is paused, and the "
    "Jira rate limits (jiraThrottles) holding requests to the connection's Jira site.",
    response_model=Envelope[dict[str, Any]],
    responses=error_responses(401, 404),
)
def connection_quota(container: ContainerDep, connection_id: ConnectionId) -> JSONResponse:
    with container.session() as session:
        connection = get_connection(session, connection_id)  # 404 for an unknown connection
        state = quota_state(session, connection_id, now=container.clock())
        jira_throttles = connection_throttles(session, container, connection)
    message = "Background work is paused." if state.paused else "Background work runs."
    if jira_throttles:
        message += f" Jira throttles this site ({len(jira_throttles)} active limit(s))."
    return success({**state.as_dict(), "jiraThrottles": jira_throttles}, message)
