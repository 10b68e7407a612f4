"""Routes of the admin API (``/api/v1``): connections, tests, API tokens, bindings, mappings.

Every route requires an admin's HTTP Basic credentials (``admin.auth``), parses its input with the
schemas of the feature packages, calls one service function and answers with the SFJC envelope.
Errors are raised as ``forcebridge.errors`` and rendered by ``api/errors.py``.

Routes that change the bound projects or the connection then keep its Jira webhook in line
(``webhooks.registration.refresh_jira_webhook``, after their change is committed) and answer the
outcome beside the data, in a ``webhook`` member (null when Jira needed no change). A Jira that is
down or refuses never fails the change itself: the outcome says ``failed`` and how to retry.
"""

from __future__ import annotations

import shlex
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, Self, TypeVar

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from forcebridge.admin.auth import require_admin
from forcebridge.api.deps import ContainerDep
from forcebridge.api.envelope import Envelope, error_responses, success
from forcebridge.connections import service as connections
from forcebridge.connections.health import run_connection_test
from forcebridge.connections.schemas import (
    ConnectionCreate,
    ConnectionTestResult,
    ConnectionUpdate,
    ConnectionView,
)
from forcebridge.container import Container
from forcebridge.errors import ValidationFailed
from forcebridge.mappings import service as mappings
from forcebridge.mappings.schemas import (
    BindingCreate,
    BindingView,
    EntityMappingCreate,
    EntityMappingView,
    FieldMappingInput,
    FieldMappingUpdate,
    FieldMappingView,
    MappingDocument,
)
from forcebridge.models import ApiToken
from forcebridge.tokens import service as tokens
from forcebridge.webhooks.registration import (
    WebhookOutcome,
    WebhookRegistration,
    refresh_jira_webhook,
    remove_jira_webhook,
)


def reject_query_parameters(request: Request) -> None:
    """No admin route takes query parameters: refuse them as bodies refuse unknown keys.

    A misspelt option silently ignored would make a request do something other than asked.
    """
    if request.query_params:
        names = sorted(set(request.query_params.keys()))
        raise ValidationFailed(
            f"This endpoint takes no query parameters (got {', '.join(names)[:200]}).",
            details=[
                {"field": name[:100], "message": "unknown query parameter"} for name in names[:20]
            ],
        )


router = APIRouter(
    prefix="/api/v1",
    tags=["admin"],
    dependencies=[Depends(require_admin), Depends(reject_query_parameters)],
)

Id = Annotated[str, Path(min_length=1, max_length=64, description="An id from this API.")]
_AUTH_ERRORS = (401,)
_READ_ERRORS = (401, 404)
_WRITE_ERRORS = (400, 401, 404, 422)
_VENDOR_ERRORS = (502, 503)

T = TypeVar("T")


class WebhookEnvelope(Envelope[T], Generic[T]):
    """The envelope of a change that may touch the Jira webhook: its outcome rides along."""

    webhook: WebhookOutcome | None = None


def success_with_webhook(
    data: Any, message: str, webhook: WebhookRegistration | None, status_code: int = 200
) -> JSONResponse:
    return JSONResponse(
        {
            "data": data,
            "message": message,
            "success": True,
            "webhook": webhook.as_dict() if webhook is not None else None,
        },
        status_code=status_code,
    )


# -- connections ---------------------------------------------------------------------------------


@router.get(
    "/connections",
    summary="List connections.",
    response_model=Envelope[list[ConnectionView]],
    responses=error_responses(*_AUTH_ERRORS),
)
def list_connections(container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        views = [
            connections.connection_view(container, session, connection).model_dump(mode="json")
            for connection in connections.list_connections(session)
        ]
    return success(views, f"{len(views)} connection(s).")


@router.post(
    "/connections",
    status_code=201,
    summary="Create a connection (Jira site + Salesforce org). Secrets are encrypted at rest.",
    response_model=WebhookEnvelope[ConnectionView],
    responses=error_responses(400, 401, 409, 422),
)
def create_connection(request: ConnectionCreate, container: ContainerDep) -> JSONResponse:
    connection = connections.create_connection(container, request)
    webhook = refresh_jira_webhook(container, connection.id)
    return success_with_webhook(
        _connection_data(container, connection.id), "Connection created.", webhook, 201
    )


@router.get(
    "/connections/{connection_id}",
    summary="Show a connection (never its secrets).",
    response_model=Envelope[ConnectionView],
    responses=error_responses(*_READ_ERRORS),
)
def get_connection(connection_id: Id, container: ContainerDep) -> JSONResponse:
    return success(_connection_data(container, connection_id), "Connection.")


@router.patch(
    "/connections/{connection_id}",
    summary="Change a connection; a new auth replaces all of that side's secrets.",
    response_model=WebhookEnvelope[ConnectionView],
    responses=error_responses(400, 401, 404, 409, 422),
)
def update_connection(
    connection_id: Id, request: ConnectionUpdate, container: ContainerDep
) -> JSONResponse:
    connections.update_connection(container, connection_id, request)
    webhook = refresh_jira_webhook(container, connection_id)
    return success_with_webhook(
        _connection_data(container, connection_id), "Connection updated.", webhook
    )


@router.delete(
    "/connections/{connection_id}",
    summary="Delete a connection with its bindings, mappings, tokens and associations.",
    description="Its webhook is deleted from Jira first, best effort (`webhook` says how it went).",
    response_model=WebhookEnvelope[None],
    responses=error_responses(*_READ_ERRORS),
)
def delete_connection(connection_id: Id, container: ContainerDep) -> JSONResponse:
    # Before the connection goes: its credentials and the webhook's id go with it.
    webhook = remove_jira_webhook(container, connection_id)
    connections.delete_connection(container, connection_id)
    return success_with_webhook(None, "Connection deleted.", webhook)


@router.post(
    "/connections/{connection_id}/test",
    summary="Test both sides: says which side failed, why, and how to fix it.",
    response_model=Envelope[ConnectionTestResult],
    responses=error_responses(*_READ_ERRORS),
)
def check_connection(connection_id: Id, container: ContainerDep) -> JSONResponse:
    result = run_connection_test(container, connection_id)
    message = "Both sides answered." if result.ok else _failed_sides(result)
    return success(result.model_dump(mode="json"), message)


# -- API access tokens ---------------------------------------------------------------------------


class TokenCreate(BaseModel):
    """Give ``lifespan_minutes`` or ``lifespan`` (15m, 1h, 7d, 365d): 15 minutes to 365 days."""

    model_config = ConfigDict(extra="forbid")

    lifespan_minutes: int | None = Field(default=None, ge=1, le=10_000_000)
    lifespan: str | None = Field(default=None, max_length=20, examples=["15m", "1h", "7d", "365d"])
    name: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_lifespan(self) -> Self:
        if (self.lifespan_minutes is None) == (self.lifespan is None):
            raise ValueError("give exactly one of lifespan_minutes and lifespan")
        return self

    def as_timedelta(self) -> timedelta:
        if self.lifespan_minutes is not None:
            return timedelta(minutes=self.lifespan_minutes)
        return tokens.parse_lifespan(self.lifespan or "")


class TokenView(BaseModel):
    id: str
    name: str | None
    last_four: str
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(TokenView):
    token: str = Field(description="The token itself. Shown once: store it now.")
    example: str = Field(description="A ready curl call with the token.")


class RevokedCount(BaseModel):
    revoked: int


@router.get(
    "/connections/{connection_id}/tokens",
    summary="List the connection's API tokens (never the tokens themselves).",
    response_model=Envelope[list[TokenView]],
    responses=error_responses(*_READ_ERRORS),
)
def list_tokens(connection_id: Id, container: ContainerDep) -> JSONResponse:
    now = container.clock()
    with container.session() as session:
        rows = tokens.list_tokens(session, connection_id)
        views = [token_view(row, now).model_dump(mode="json") for row in rows]
    return success(views, f"{len(views)} token(s).")


@router.post(
    "/connections/{connection_id}/tokens",
    status_code=201,
    summary="Create an API access token (shown once) for the external API.",
    response_model=Envelope[CreatedToken],
    responses=error_responses(*_WRITE_ERRORS),
)
def create_token(connection_id: Id, request: TokenCreate, container: ContainerDep) -> JSONResponse:
    row, token = tokens.create_token(container, connection_id, request.as_timedelta(), request.name)
    view = token_view(row, container.clock())
    created = CreatedToken(
        **view.model_dump(),
        token=token,
        example=example_call(container.settings.public_base_url, token),
    )
    return success(
        created.model_dump(mode="json"), "Token created. It is shown only once: copy it now.", 201
    )


@router.delete(
    "/connections/{connection_id}/tokens/{token_id}",
    summary="Revoke one token (effective on the next request).",
    response_model=Envelope[TokenView],
    responses=error_responses(*_READ_ERRORS),
)
def revoke_token(connection_id: Id, token_id: Id, container: ContainerDep) -> JSONResponse:
    now = container.clock()
    with container.session() as session:
        row = tokens.revoke_token(session, connection_id, token_id, now=now)
        view = token_view(row, now).model_dump(mode="json")
    return success(view, "Token revoked.")


@router.delete(
    "/connections/{connection_id}/tokens",
    summary="Revoke every token of the connection.",
    response_model=Envelope[RevokedCount],
    responses=error_responses(*_READ_ERRORS),
)
def revoke_all_tokens(connection_id: Id, container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        count = tokens.revoke_all_tokens(session, connection_id, now=container.clock())
    return success({"revoked": count}, f"{count} token(s) revoked.")


# -- bindings ------------------------------------------------------------------------------------


@router.get(
    "/connections/{connection_id}/bindings",
    summary="List the Jira projects bound to the connection.",
    response_model=Envelope[list[BindingView]],
    responses=error_responses(*_READ_ERRORS),
)
def list_bindings(connection_id: Id, container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        views = [
            mappings.binding_view(session, binding).model_dump(mode="json")
            for binding in mappings.list_bindings(session, connection_id)
        ]
    return success(views, f"{len(views)} binding(s).")


@router.post(
    "/connections/{connection_id}/bindings",
    status_code=201,
    summary="Bind a Jira project (id or key, checked with Jira).",
    description="The connection's Jira webhook is then registered or updated to filter on the "
    "bound projects; `webhook` says how it went.",
    response_model=WebhookEnvelope[BindingView],
    responses=error_responses(400, 401, 404, 409, 422, *_VENDOR_ERRORS),
)
def create_binding(
    connection_id: Id, request: BindingCreate, container: ContainerDep
) -> JSONResponse:
    binding = mappings.create_binding(container, connection_id, request)
    with container.session() as session:
        view = mappings.binding_view(session, binding).model_dump(mode="json")
    webhook = refresh_jira_webhook(container, connection_id)
    return success_with_webhook(
        view, f"Jira project {binding.jira_project_key} bound.", webhook, 201
    )


@router.get(
    "/connections/{connection_id}/bindings/{binding_id}",
    summary="Show a binding.",
    response_model=Envelope[BindingView],
    responses=error_responses(*_READ_ERRORS),
)
def get_binding(connection_id: Id, binding_id: Id, container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        binding = mappings.get_binding(session, connection_id, binding_id)
        view = mappings.binding_view(session, binding).model_dump(mode="json")
    return success(view, "Binding.")


@router.delete(
    "/connections/{connection_id}/bindings/{binding_id}",
    summary="Unbind a Jira project (its mappings go with it).",
    description="The connection's Jira webhook is then updated, or deleted when no project is "
    "left; `webhook` says how it went.",
    response_model=WebhookEnvelope[None],
    responses=error_responses(*_READ_ERRORS),
)
def delete_binding(connection_id: Id, binding_id: Id, container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        mappings.delete_binding(session, connection_id, binding_id)
    webhook = refresh_jira_webhook(container, connection_id)
    return success_with_webhook(None, "Binding deleted.", webhook)


@router.get(
    "/connections/{connection_id}/bindings/{binding_id}/mappings",
    summary="Export the binding's entity and field mappings as one JSON document.",
    response_model=Envelope[MappingDocument],
    responses=error_responses(*_READ_ERRORS),
)
def export_mappings(connection_id: Id, binding_id: Id, container: ContainerDep) -> JSONResponse:
    with container.session() as session:
        document = mappings.export_mappings(session, connection_id, binding_id)
    return success(document.model_dump(mode="json"), "Mappings exported.")


@router.put(
    "/connections/{connection_id}/bindings/{binding_id}/mappings",
    summary="Import a mapping document: replaces the binding's mappings, all or nothing.",
    response_model=Envelope[MappingDocument],
    responses=error_responses(*_WRITE_ERRORS, *_VENDOR_ERRORS),
)
def import_mappings(
    connection_id: Id, binding_id: Id, document: MappingDocument, container: ContainerDep
) -> JSONResponse:
    stored = mappings.import_mappings(container, connection_id, binding_id, document)
    with container.session() as session:
        exported = mappings.export_mappings(session, connection_id, binding_id)
    return success(exported.model_dump(mode="json"), f"{len(stored)} entity mapping(s) imported.")


# -- entity and field mappings -------------------------------------------------------------------

_ENTITY = "/connections/{connection_id}/bindings/{binding_id}/entity-mappings"


@router.get(
    _ENTITY,
    summary="List the binding's entity mappings (issue type ↔ object) with their fields.",
    response_model=Envelope[list[EntityMappingView]],
    responses=error_responses(*_READ_ERRORS),
)
def list_entity_mappings(
    connection_id: Id, binding_id: Id, container: ContainerDep
) -> JSONResponse:
    with container.session() as session:
        views = [
            mappings.entity_mapping_view(mapping).model_dump(mode="json")
            for mapping in mappings.list_entity_mappings(session, connection_id, binding_id)
        ]
    return success(views, f"{len(views)} entity mapping(s).")


@router.post(
    _ENTITY,
    status_code=201,
    summary="Map an issue type (or all) to a Salesforce object (defaults for Case, "
    "Opportunity, Account).",
    response_model=Envelope[EntityMappingView],
    responses=error_responses(400, 401, 404, 409, 422, *_VENDOR_ERRORS),
)
def create_entity_mapping(
    connection_id: Id, binding_id: Id, request: EntityMappingCreate, container: ContainerDep
) -> JSONResponse:
    mapping = mappings.create_entity_mapping(container, connection_id, binding_id, request)
    return success(
        _entity_data(container, connection_id, binding_id, mapping.id),
        "Entity mapping created.",
        201,
    )


@router.get(
    _ENTITY + "/{mapping_id}",
    summary="Show an entity mapping with its field mappings.",
    response_model=Envelope[EntityMappingView],
    responses=error_responses(*_READ_ERRORS),
)
def get_entity_mapping(
    connection_id: Id, binding_id: Id, mapping_id: Id, container: ContainerDep
) -> JSONResponse:
    return success(
        _entity_data(container, connection_id, binding_id, mapping_id), "Entity mapping."
    )


@router.delete(
    _ENTITY + "/{mapping_id}",
    summary="Delete an entity mapping and its field mappings.",
    response_model=Envelope[None],
    responses=error_responses(*_READ_ERRORS),
)
def delete_entity_mapping(
    connection_id: Id, binding_id: Id, mapping_id: Id, container: ContainerDep
) -> JSONResponse:
    with container.session() as session:
        mappings.delete_entity_mapping(session, connection_id, binding_id, mapping_id)
    return success(None, "Entity mapping deleted.")


@router.post(
    _ENTITY + "/{mapping_id}/fields",
    status_code=201,
    summary="Add a field mapping (both field names are checked with the vendors).",
    response_model=Envelope[FieldMappingView],
    responses=error_responses(400, 401, 404, 409, 422, *_VENDOR_ERRORS),
)
def add_field_mapping(
    connection_id: Id,
    binding_id: Id,
    mapping_id: Id,
    request: FieldMappingInput,
    container: ContainerDep,
) -> JSONResponse:
    item = mappings.add_field_mapping(container, connection_id, binding_id, mapping_id, request)
    return success(
        mappings.field_mapping_view(item).model_dump(mode="json"), "Field mapping added.", 201
    )


@router.patch(
    _ENTITY + "/{mapping_id}/fields/{field_id}",
    summary="Change a field mapping's direction, value map, policies or position.",
    response_model=Envelope[FieldMappingView],
    responses=error_responses(*_WRITE_ERRORS),
)
def update_field_mapping(
    connection_id: Id,
    binding_id: Id,
    mapping_id: Id,
    field_id: Id,
    request: Annotated[FieldMappingUpdate, Body()],
    container: ContainerDep,
) -> JSONResponse:
    with container.session() as session:
        item = mappings.update_field_mapping(
            session, connection_id, binding_id, mapping_id, field_id, request
        )
        view = mappings.field_mapping_view(item).model_dump(mode="json")
    return success(view, "Field mapping updated.")


@router.delete(
    _ENTITY + "/{mapping_id}/fields/{field_id}",
    summary="Delete a field mapping.",
    response_model=Envelope[None],
    responses=error_responses(*_READ_ERRORS),
)
def delete_field_mapping(
    connection_id: Id, binding_id: Id, mapping_id: Id, field_id: Id, container: ContainerDep
) -> JSONResponse:
    with container.session() as session:
        mappings.delete_field_mapping(session, connection_id, binding_id, mapping_id, field_id)
    return success(None, "Field mapping deleted.")


# -- helpers shared with the CLI -----------------------------------------------------------------


def token_view(row: ApiToken, now: datetime) -> TokenView:
    status: Literal["active", "expired", "revoked"] = (
        "revoked"
        if row.revoked_at is not None
        else "expired"
        if row.expires_at <= now
        else "active"
    )
    return TokenView(
        id=row.id,
        name=row.name,
        last_four=row.last_four,
        status=status,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def example_call(base_url: str, token: str) -> str:
    """A copy-paste call of the external API with ``token`` (SFJC's association endpoint)."""
    url = base_url.rstrip("/") + "/external/api/associations?jiraIssueId=TEST-1"
    return f"curl -sS {shlex.quote(url)} -H {shlex.quote('Authorization: JWT ' + token)}"


def _connection_data(container: Container, connection_id: str) -> dict[str, Any]:
    with container.session() as session:
        connection = connections.get_connection(session, connection_id)
        return connections.connection_view(container, session, connection).model_dump(mode="json")


def _entity_data(
    container: Container, connection_id: str, binding_id: str, mapping_id: str
) -> dict[str, Any]:
    with container.session() as session:
        mapping = mappings.get_entity_mapping(session, connection_id, binding_id, mapping_id)
        return mappings.entity_mapping_view(mapping).model_dump(mode="json")


def _failed_sides(result: ConnectionTestResult) -> str:
    failed = [
        f"{side} ({outcome.problem})"
        for side, outcome in (("Jira", result.jira), ("Salesforce", result.salesforce))
        if not outcome.ok
    ]
    return "Connection test failed: " + ", ".join(failed) + "."
