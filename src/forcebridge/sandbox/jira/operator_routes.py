"""Jira-specific operator routes under ``/__sandbox/jira/`` (not part of Jira's API).

They let tests act as a person in Jira (edit, transition, comment, attach, move, delete: each
fires the webhooks a real change would), inspect webhook deliveries, switch delivery modes,
wait for deliveries to drain, change the workflow and expire OAuth access tokens.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from forcebridge.sandbox.jira import seed
from forcebridge.sandbox.jira.api import base_url
from forcebridge.sandbox.jira.issues import Context, IssueView
from forcebridge.sandbox.jira.wire import JiraError, JiraJSONResponse

if TYPE_CHECKING:
    from forcebridge.sandbox.jira.sandbox import JiraSandbox

OPERATOR_JIRA_PREFIX = "/__sandbox/jira"


class AttachmentUpload(BaseModel):
    filename: str = Field(min_length=1, max_length=255)
    text: str | None = Field(default=None, description="Content as UTF-8 text.")
    content_base64: str | None = Field(default=None, description="Content as base64.")
    mime_type: str | None = None


class UserChange(BaseModel):
    """One change made "as a user" in Jira's UI (anything left out is not touched)."""

    as_account_id: str = Field(default=seed.ALICE_ACCOUNT_ID, description="Who makes the change.")
    api_version: str = Field(default="2", pattern="^[23]$", description="Rich text as v2 or v3.")
    fields: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    transition: str | None = Field(
        default=None, description="Transition id or name, or target status name."
    )
    comment: Any = Field(default=None, description="A comment body (string in v2, ADF in v3).")
    attachment: AttachmentUpload | None = None
    move_to_project: str | None = Field(default=None, description="Project key or id.")


class IssueCreation(BaseModel):
    as_account_id: str = seed.ALICE_ACCOUNT_ID
    api_version: str = Field(default="2", pattern="^[23]$")
    fields: dict[str, Any]
    update: dict[str, Any] | None = None


class WebhookMode(BaseModel):
    duplicate: bool | None = Field(default=None, description="Send every delivery twice.")
    reorder: bool | None = Field(
        default=None,
        description="Hold deliveries; release them newest first on /webhooks/release or when off.",
    )


class Workflow(BaseModel):
    statuses: list[dict[str, Any]] = Field(
        description='[{"id", "name", "category": "new"|"indeterminate"|"done", "description"?}]'
    )
    transitions: list[dict[str, Any]] = Field(
        description='[{"id", "name", "from": [status ids] (empty = from any), "to": status id}]'
    )
    initial_status_id: str


def build_operator_router(sandbox: JiraSandbox) -> APIRouter:
    router = APIRouter(prefix=OPERATOR_JIRA_PREFIX, tags=["sandbox operator (Jira)"])
    issues = sandbox.issues

    def acting(request: Request, account_id: str) -> Context:
        if account_id not in sandbox.catalog.users:
            raise JiraError(400, f"Unknown user '{account_id}'.")
        return Context(account_id=account_id, base_url=base_url(request))

    @router.get("/credentials", summary="The site's credentials (API token, OAuth app, cloud id).")
    def credentials() -> dict[str, Any]:
        return {**sandbox.credentials, "users": list(sandbox.catalog.users.values())}

    @router.post("/issues", status_code=201, summary="Create an issue as a user.")
    def create_as_user(request: Request, creation: IssueCreation) -> JiraJSONResponse:
        context = acting(request, creation.as_account_id)
        body = {"fields": creation.fields, "update": creation.update}
        issue = issues.create(context, body, creation.api_version)
        return JiraJSONResponse({"id": issue["id"], "key": issue["key"]}, status_code=201)

    @router.post(
        "/issues/{issueIdOrKey}/edit", summary="Change an issue as a user (fires webhooks)."
    )
    def edit_as_user(request: Request, issueIdOrKey: str, change: UserChange) -> JiraJSONResponse:
        context = acting(request, change.as_account_id)
        issue = issues.require(issueIdOrKey)
        version = change.api_version
        if change.fields or change.update:
            issues.edit(context, issue, {"fields": change.fields, "update": change.update}, version)
        if change.transition is not None:
            wanted = change.transition.lower()
            transition = next(
                (
                    t
                    for t in issues.transitions_for(issue)
                    if wanted
                    in (
                        t["id"],
                        t["name"].lower(),
                        sandbox.catalog.statuses[t["to"]]["name"].lower(),
                    )
                ),
                None,
            )
            if transition is None:
                raise JiraError(
                    400, f"Transition '{change.transition}' is not valid for this issue."
                )
            issues.transition(context, issue, {"transition": {"id": transition["id"]}}, version)
        if change.comment is not None:
            issues.add_comment(context, issue, {"body": change.comment}, version)
        if change.attachment is not None:
            upload = change.attachment
            if upload.content_base64 is not None:
                try:
                    content = base64.b64decode(upload.content_base64, validate=True)
                except binascii.Error:
                    raise JiraError(400, "content_base64 is not valid base64.") from None
            else:
                content = (upload.text or "").encode()
            issues.add_attachment(
                context, issue, upload.filename, upload.mime_type, io.BytesIO(content)
            )
        if change.move_to_project is not None:
            issues.move(context, issue, change.move_to_project)
        issue_view = IssueView(sandbox.catalog, sandbox.store, base_url(request), version)
        return JiraJSONResponse(issue_view.issue(issue, issue_view.select_fields([], "*all")))

    @router.delete("/issues/{issueIdOrKey}", status_code=204, summary="Delete an issue as a user.")
    def delete_as_user(
        request: Request,
        issueIdOrKey: str,
        as_account_id: str = seed.ALICE_ACCOUNT_ID,
    ) -> Response:
        context = acting(request, as_account_id)
        issues.delete(context, issues.require(issueIdOrKey))
        return Response(status_code=204)

    @router.get("/webhooks/deliveries", summary="Webhook deliveries with every attempt.")
    def deliveries() -> dict[str, Any]:
        items = sandbox.dispatcher.deliveries()
        return {"total": len(items), "deliveries": items}

    @router.delete("/webhooks/deliveries", status_code=204, summary="Forget all deliveries.")
    def clear_deliveries() -> Response:
        sandbox.dispatcher.clear()
        return Response(status_code=204)

    @router.get("/webhooks/mode", summary="Current delivery switches.")
    def get_mode() -> dict[str, bool]:
        return {"duplicate": sandbox.dispatcher.duplicate, "reorder": sandbox.dispatcher.reorder}

    @router.put("/webhooks/mode", summary="Switch duplicate / reorder delivery on or off.")
    def set_mode(mode: WebhookMode) -> dict[str, bool]:
        sandbox.dispatcher.set_mode(duplicate=mode.duplicate, reorder=mode.reorder)
        return get_mode()

    @router.post("/webhooks/release", summary="Send held deliveries, newest first.")
    def release() -> dict[str, int]:
        return {"released": sandbox.dispatcher.release_held()}

    @router.post("/webhooks/wait", summary="Wait until no delivery is queued or in flight.")
    def wait(timeout_seconds: float = 10.0) -> dict[str, Any]:
        drained = sandbox.wait_for_deliveries(max(0.0, min(timeout_seconds, 120.0)))
        return {"drained": drained, "pending": sandbox.dispatcher.pending_count()}

    @router.get("/workflow", summary="Statuses and transitions.")
    def get_workflow() -> dict[str, Any]:
        return sandbox.catalog.workflow_document()

    @router.put("/workflow", summary="Replace the workflow (statuses and transitions).")
    def set_workflow(workflow: Workflow) -> dict[str, Any]:
        sandbox.set_workflow(workflow.model_dump())
        return sandbox.catalog.workflow_document()

    @router.post("/oauth/expire-access-tokens", summary="Expire every OAuth access token now.")
    def expire_tokens() -> dict[str, int]:
        return {"expired": sandbox.authenticator.expire_access_tokens()}

    return router
