"""``SalesforceSandbox``: the composition root of the Salesforce emulator and its FastAPI app.

Wires the store, schema, records, tokens, quota, outbound messages and the operator, registers the
versioned REST routes (each with and without a trailing slash), the OAuth token endpoint, the
unauthenticated version list, and the Salesforce-specific operator routes under
``/__sandbox/salesforce/``.
"""

from __future__ import annotations

import base64
import inspect
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx2
from fastapi import APIRouter, FastAPI, Request
from fastapi import Path as PathParameter
from fastapi import Query as QueryParameter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from forcebridge.sandbox.operator import OPERATOR_PREFIX, Operator, install_operator
from forcebridge.sandbox.salesforce.api import (
    ROUTES,
    SUPPORTED_VERSIONS,
    Call,
    DataApi,
    LimitCounter,
    Reply,
    Route,
    bearer_token,
    error_reply,
    release_label,
)
from forcebridge.sandbox.salesforce.auth import OAuthError, TokenService
from forcebridge.sandbox.salesforce.ids import canonical_id
from forcebridge.sandbox.salesforce.outbound import OutboundMessenger
from forcebridge.sandbox.salesforce.records import (
    ChangeEvent,
    Clock,
    RecordStore,
    SalesforceError,
    collection_of,
)
from forcebridge.sandbox.salesforce.schema import build_schema
from forcebridge.sandbox.salesforce.seed import create_users, seed_demo_records
from forcebridge.sandbox.storage import DocumentStore

JSON_MEDIA_TYPE = "application/json;charset=UTF-8"
MAX_BODY_BYTES = 64 * 1024 * 1024  # above the 50 MB a JSON/base64 insert may carry
_STATE = ("org", "state")
_BODY_SCHEMA = {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}


class OutboundMessageDefinition(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    sobject: str
    fields: list[str] = Field(default_factory=lambda: ["Id"])
    endpoint_url: str = Field(min_length=1)
    on_create: bool = True
    on_update: bool = True


class QuotaSettings(BaseModel):
    used: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class OAuthSettings(BaseModel):
    refresh_token_rotation: bool


class SalesforceSandbox:
    """The Salesforce emulator: ``app`` is the ASGI application, ``credentials`` log into it."""

    def __init__(
        self,
        *,
        state_path: Path | None = None,
        seed: bool = True,
        daily_api_limit: int = 100_000,
        access_token_lifetime_seconds: int = 7200,
        outbound_transport: httpx2.BaseTransport | None = None,
        outbound_verify: str | bool = True,
        outbound_retry_delays: Sequence[float] = (1.0, 5.0, 30.0, 120.0),
    ) -> None:
        self.store = DocumentStore(state_path)
        self.operator = Operator("salesforce")
        self.schema = build_schema()
        self.clock = Clock()
        self._seed = seed
        self.tokens = TokenService(self.store, access_token_lifetime_seconds)
        self.credentials: dict[str, str] = self.tokens.credentials
        self.limits = LimitCounter(self.store, daily_api_limit)
        self.outbound = OutboundMessenger(
            self.store,
            lambda: self.credentials["organization_id"],
            outbound_transport,
            outbound_verify,
            outbound_retry_delays,
        )
        self.records = RecordStore(
            self.store, self.schema, self.clock, self._generation, self._publish
        )
        self.api = DataApi(self.records, self.tokens, self.limits, self._remember_base_url)
        state = self.store.get(*_STATE)
        if state is None:
            self._populate(generation=1)
        else:
            self.tokens.install_credential_tokens(state["integration_user_id"])
        self.operator.on_reset(self.reset)
        self.app = self._build_app()

    # -- state ---------------------------------------------------------------------------------
    def _generation(self) -> int:
        state = self.store.get(*_STATE)
        return int(state["generation"]) if state else 1

    def _populate(self, generation: int) -> None:
        # The generation is part of every id sequence name, so a reset re-creates the seed with
        # the same ids it had the first time (tests and demos can rely on them).
        self.store.put(
            *_STATE, {"generation": generation, "integration_user_id": "", "agent_user_id": ""}
        )
        with self.records.transaction() as tx:
            integration_id, agent_id = create_users(self.records, tx, self.credentials["username"])
            if self._seed:
                seed_demo_records(self.records, tx, agent_id, datetime.now(UTC).date())
        self.store.put(
            *_STATE,
            {
                "generation": generation,
                "integration_user_id": integration_id,
                "agent_user_id": agent_id,
            },
        )
        self.tokens.install_credential_tokens(integration_id)

    def reset(self) -> None:
        """Back to the seed: records, tokens, quota, cursors and outbound messages
        (credentials stay).
        """
        with self.store.lock:
            generation = self._generation() + 1
            for name in self.schema.objects:
                collection = collection_of(name)
                for document in self.store.values(collection):
                    self.store.delete(collection, document["Id"])
            self.outbound.clear()
            self.tokens.clear()
            self.limits.reset()
            self.api.clear_cursors()
            self._populate(generation)

    def _publish(self, events: list[ChangeEvent]) -> None:
        self.outbound.on_changes(events)

    def _remember_base_url(self, base_url: str) -> None:
        self.outbound.base_url = base_url

    @property
    def integration_user_id(self) -> str:
        return str((self.store.get(*_STATE) or {})["integration_user_id"])

    @property
    def agent_user_id(self) -> str:
        return str((self.store.get(*_STATE) or {})["agent_user_id"])

    def close(self) -> None:
        self.outbound.close()
        self.store.close()

    # -- the app -------------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title="ForceBridge Salesforce sandbox",
            description="A local emulator of the Salesforce REST API (docs/sandbox-salesforce.md).",
            redirect_slashes=False,
        )
        # Inner to the operator's middleware, so the request log keeps the path as sent.
        app.add_middleware(TrailingSlashMiddleware)
        install_operator(app, self.operator, credential_of)
        self._install_error_handlers(app)
        self._install_public_routes(app)
        for route in ROUTES:
            self._install_data_route(app, route)
        app.include_router(self._operator_router())
        return app

    @staticmethod
    def _install_error_handlers(app: FastAPI) -> None:
        def is_vendor_path(request: Request) -> bool:
            return not request.url.path.startswith(OPERATOR_PREFIX)

        @app.exception_handler(StarletteHTTPException)
        async def http_error(request: Request, error: StarletteHTTPException) -> Response:
            if not is_vendor_path(request):
                return JSONResponse({"detail": error.detail}, status_code=error.status_code)
            if error.status_code == 405:
                body = [
                    {
                        "errorCode": "METHOD_NOT_ALLOWED",
                        "message": (
                            f"HTTP Method '{request.method}' not allowed. Allowed are "
                            f"{error.headers.get('Allow', '') if error.headers else ''}"
                        ),
                    }
                ]
            else:
                body = [
                    {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
                ]
            return _json_response(error.status_code, body)

        @app.exception_handler(RequestValidationError)
        async def validation_error(request: Request, error: RequestValidationError) -> Response:
            if not is_vendor_path(request):
                return JSONResponse(
                    {"detail": json.loads(json.dumps(error.errors(), default=str))}, status_code=422
                )
            return _json_response(
                400, [{"errorCode": "INVALID_INPUT", "message": "Malformed request"}]
            )

        @app.exception_handler(Exception)
        async def unexpected_error(request: Request, error: Exception) -> Response:
            # Never a stack trace: the vendor answers UNKNOWN_EXCEPTION with an opaque message.
            return _json_response(
                500,
                [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred."}],
            )

    def _install_public_routes(self, app: FastAPI) -> None:
        @app.get("/services/data", summary="API versions (no authentication).", tags=["salesforce"])
        @app.get("/services/data/", include_in_schema=False)
        def versions(request: Request) -> Response:
            return _json_response(
                200,
                [
                    {
                        "label": release_label(version),
                        "url": f"/services/data/v{version}",
                        "version": version,
                    }
                    for version in SUPPORTED_VERSIONS
                ],
            )

        @app.post(
            "/services/oauth2/token",
            summary="OAuth 2.0 token endpoint.",
            tags=["salesforce"],
            openapi_extra={
                "requestBody": {
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "grant_type": {"type": "string"},
                                    "assertion": {"type": "string"},
                                    "refresh_token": {"type": "string"},
                                    "client_id": {"type": "string"},
                                    "client_secret": {"type": "string"},
                                },
                            }
                        }
                    }
                }
            },
        )
        async def token(request: Request) -> Response:
            body = await request.body()
            form = dict(parse_qsl(request.url.query)) | dict(parse_qsl(body.decode("latin-1")))
            try:
                answer = self.tokens.grant(
                    form,
                    _basic_auth(request.headers.get("authorization")),
                    _base_url(request),
                    self._active_usernames(),
                )
            except OAuthError as error:
                return _json_response(
                    error.status, {"error": error.error, "error_description": error.description}
                )
            return _json_response(200, answer, {"Cache-Control": "no-store", "Pragma": "no-cache"})

        @app.post(
            "/services/oauth2/revoke",
            summary="Revoke an access or refresh token.",
            tags=["salesforce"],
        )
        async def revoke(request: Request) -> Response:
            body = await request.body()
            form = dict(parse_qsl(request.url.query)) | dict(parse_qsl(body.decode("latin-1")))
            if not self.tokens.revoke(form.get("token", "")):
                return _json_response(
                    400,
                    {
                        "error": "unsupported_token_type",
                        "error_description": "this token type is not supported",
                    },
                )
            return Response(status_code=200)

    def _active_usernames(self) -> dict[str, str]:
        return {
            str(user["Username"]).lower(): str(user["Id"])
            for user in self.records.all("User")
            if user.get("IsActive")
        }

    def _install_data_route(self, app: FastAPI, route: Route) -> None:
        api = self.api

        async def endpoint(request: Request, **_: Any) -> Response:
            body, problem = await _read_body(request, route)
            if problem is not None:
                reply = error_reply(problem)
                reply.headers["Sforce-Limit-Info"] = api.quota.header()
                return _to_response(reply)
            params = {key: value for key, value in request.path_params.items() if key != "version"}
            call = Call(
                method=request.method,
                version=request.path_params["version"],
                params=params,
                query=request.query_params,
                headers=request.headers,
                body=body,
                base_url=_base_url(request),
            )
            return _to_response(api.handle_http(route, call))

        # FastAPI reads parameters from the signature: declare the path and query parameters so
        # the OpenAPI document (and schemathesis) knows them, while one generic body serves all.
        parameters = [
            inspect.Parameter(
                "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
            )
        ]
        for name in ["version", *route.path_params]:
            parameters.append(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, annotation=str, default=PathParameter()
                )
            )
        for name in route.query_params:
            parameters.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    annotation=str | None,
                    default=QueryParameter(None),
                )
            )
        endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        path = f"/services/data/v{{version}}{route.template}"
        for method in route.methods:
            # One route per method: FastAPI derives one operation id per route, not per method.
            app.add_api_route(
                path,
                endpoint,
                methods=[method],
                summary=route.summary,
                tags=["salesforce"],
                openapi_extra=_BODY_SCHEMA if method in {"POST", "PATCH"} else None,
                operation_id=f"{method.lower()}_{_operation_name(route)}",
                response_model=None,
            )

    # -- operator routes -----------------------------------------------------------------------
    def _operator_router(self) -> APIRouter:
        router = APIRouter(prefix=f"{OPERATOR_PREFIX}/salesforce", tags=["sandbox operator"])

        @router.get("/credentials", summary="The connected app's credentials and the org's users.")
        def credentials() -> dict[str, Any]:
            return {
                **self.credentials,
                "integration_user_id": self.integration_user_id,
                "agent_user_id": self.agent_user_id,
            }

        @router.post(
            "/records/{sobject}", status_code=201, summary="Create a record as the agent user."
        )
        async def create_as_user(sobject: str, request: Request) -> Response:
            return await self._as_user(request, "POST", sobject, None)

        @router.patch("/records/{sobject}/{record_id}", summary="Edit a record as the agent user.")
        async def edit_as_user(sobject: str, record_id: str, request: Request) -> Response:
            return await self._as_user(request, "PATCH", sobject, record_id)

        @router.delete(
            "/records/{sobject}/{record_id}", summary="Delete a record as the agent user."
        )
        async def delete_as_user(sobject: str, record_id: str, request: Request) -> Response:
            return await self._as_user(request, "DELETE", sobject, record_id)

        @router.post(
            "/records/{sobject}/{record_id}/undelete",
            summary="Restore a deleted record from the Recycle Bin as the agent user.",
        )
        def undelete_as_user(sobject: str, record_id: str) -> Response:
            # Salesforce's REST API has no undelete; people restore from the Recycle Bin (or
            # Apex/SOAP undelete()). Children deleted with the record come back with it.
            try:
                with self.records.transaction() as tx:
                    restored = self.records.undelete(tx, sobject, record_id, self.agent_user_id)
                definition = self.records.object_definition(sobject)
            except SalesforceError as error:
                return _to_response(error_reply(error))
            document = self.records.get(definition.name, restored)
            assert document is not None
            return JSONResponse(self.records.to_json(definition, document, SUPPORTED_VERSIONS[-1]))

        @router.get("/limits", summary="Daily API request usage.")
        def get_quota() -> dict[str, int]:
            used, maximum = self.limits.usage
            return {"used": used, "max": maximum}

        @router.put("/limits", summary="Set the daily API request usage and/or maximum.")
        def set_quota(settings: QuotaSettings) -> dict[str, int]:
            used, maximum = self.limits.set(settings.used, settings.max)
            return {"used": used, "max": maximum}

        @router.post("/oauth/expire-tokens", summary="Expire every access token now.")
        def expire_tokens() -> dict[str, int]:
            return {"expired": self.tokens.expire_all_access_tokens()}

        @router.get("/oauth/settings", summary="OAuth switches.")
        def get_oauth_settings() -> dict[str, bool]:
            return {"refresh_token_rotation": self.tokens.refresh_token_rotation}

        @router.put("/oauth/settings", summary="Turn refresh-token rotation on or off.")
        def set_oauth_settings(settings: OAuthSettings) -> dict[str, bool]:
            self.tokens.set_refresh_token_rotation(settings.refresh_token_rotation)
            return {"refresh_token_rotation": self.tokens.refresh_token_rotation}

        @router.post("/outbound-messages", status_code=201, summary="Define an outbound message.")
        def define_outbound_message(definition: OutboundMessageDefinition) -> Response:
            sobject = self.schema.object(definition.sobject)
            if sobject is None:
                return JSONResponse(
                    {"detail": f"unknown sObject {definition.sobject}"}, status_code=400
                )
            unknown = [name for name in definition.fields if sobject.field(name) is None]
            if unknown:
                return JSONResponse(
                    {"detail": f"unknown fields: {', '.join(unknown)}"}, status_code=400
                )
            fields = [
                known.name
                for name in definition.fields
                if (known := sobject.field(name)) is not None
            ]
            if "Id" not in fields:
                fields.insert(0, "Id")
            message = self.outbound.define(
                definition.name,
                sobject.name,
                fields,
                definition.endpoint_url,
                definition.on_create,
                definition.on_update,
            )
            return JSONResponse(message.__dict__, status_code=201)

        @router.get("/outbound-messages", summary="Defined outbound messages.")
        def list_outbound_messages() -> list[dict[str, Any]]:
            return [message.__dict__ for message in self.outbound.definitions()]

        @router.delete(
            "/outbound-messages/{message_id}",
            status_code=204,
            summary="Remove an outbound message.",
        )
        def remove_outbound_message(message_id: str) -> Response:
            if not self.outbound.remove(message_id):
                return JSONResponse({"detail": "no such outbound message"}, status_code=404)
            return Response(status_code=204)

        @router.get("/outbound-messages/deliveries", summary="Delivery log with every attempt.")
        def deliveries() -> list[dict[str, Any]]:
            return self.outbound.deliveries()

        return router

    async def _as_user(
        self, request: Request, method: str, sobject: str, record_id: str | None
    ) -> Response:
        """A change made by a person in the UI: no quota, no token, fires outbound messages."""
        body = await request.body() if method != "DELETE" else b""
        self._remember_base_url(_base_url(request))
        call = Call(
            method=method,
            version=SUPPORTED_VERSIONS[-1],
            params={"sobject": sobject, **({"record_id": record_id} if record_id else {})},
            query=request.query_params,
            headers=request.headers,
            body=body,
            base_url=_base_url(request),
            user_id=self.agent_user_id,
        )
        handler = "create" if method == "POST" else "record"
        reply = self.api.dispatch(Route((method,), "", handler, ""), call)
        if reply.status == 204 and method == "PATCH":
            # Answer with the record as saved, so a test sees the new SystemModstamp at once.
            definition = self.schema.object(sobject)
            record_id_18 = canonical_id(record_id or "")
            document = (
                self.records.get(definition.name, record_id_18)
                if definition and record_id_18
                else None
            )
            if definition is not None and document is not None:
                reply = Reply(200, self.records.to_json(definition, document, call.version))
        return _to_response(reply)


class TrailingSlashMiddleware:
    """Serves every vendor path with and without a trailing slash (clients use both).

    Real clients disagree (simple-salesforce posts to ``/sobjects/Account/`` but describes at
    ``/describe``), and a redirect would turn a PATCH into a second round trip.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/services/data/v") and path.endswith("/") and len(path) > 1:
                # Mutated in place: the operator middleware reads the matched route from this dict.
                scope["path"] = path.rstrip("/")
        await self.app(scope, receive, send)


# -- helpers --------------------------------------------------------------------------------------
def credential_of(headers: dict[str, str]) -> str | None:
    """Which credential made a request, for the request log (never the whole secret)."""
    token = bearer_token(headers)
    if token is not None:
        return f"token:{token[-6:]}"
    basic = _basic_auth(headers.get("authorization"))
    if basic is not None:
        return f"client:{basic[0][-6:]}"
    return None


def _basic_auth(authorization: str | None) -> tuple[str, str] | None:
    scheme, _, encoded = (authorization or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        client_id, _, secret = (
            base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        )
    except (ValueError, UnicodeDecodeError):
        return None
    return client_id, secret


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _read_body(request: Request, route: Route) -> tuple[bytes, SalesforceError | None]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return b"", SalesforceError(413, "REQUEST_ENTITY_TOO_LARGE", "Request entity is too large")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data") and route.handler == "create":
        return await _multipart_as_json(request)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return b"", SalesforceError(413, "REQUEST_ENTITY_TOO_LARGE", "Request entity is too large")
    return body, None


async def _multipart_as_json(request: Request) -> tuple[bytes, SalesforceError | None]:
    """A blob insert: part ``entity_content`` (the JSON fields) plus one binary part per blob field.

    The binary parts are folded into the JSON as base64, so the insert runs the same validation
    as a plain JSON insert.
    """
    try:
        form = await request.form(max_files=5, max_fields=5, max_part_size=MAX_BODY_BYTES)
        entity = form.get("entity_content")
        if entity is None:
            return b"", SalesforceError(400, "JSON_PARSER_ERROR", "Missing part 'entity_content'")
        text = entity if isinstance(entity, str) else (await entity.read()).decode("utf-8")
        values = json.loads(text)
        if not isinstance(values, dict):
            return b"", SalesforceError(
                400, "JSON_PARSER_ERROR", "entity_content must be a JSON object"
            )
        for name, part in form.multi_items():
            if name != "entity_content" and not isinstance(part, str):
                values[name] = base64.b64encode(await part.read()).decode("ascii")
        await form.close()
    except (ValueError, UnicodeDecodeError, StarletteHTTPException) as error:
        return b"", SalesforceError(400, "JSON_PARSER_ERROR", f"Malformed multipart body: {error}")
    return json.dumps(values).encode(), None


def _operation_name(route: Route) -> str:
    return re.sub(r"\W+", "_", route.template).strip("_") or "resources"


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(body).encode("utf-8"),
        status_code=status,
        media_type=JSON_MEDIA_TYPE,
        headers=headers,
    )


def _to_response(reply: Reply) -> Response:
    if reply.raw is not None:
        return Response(
            content=reply.raw,
            status_code=reply.status,
            media_type=reply.media_type,
            headers=reply.headers,
        )
    if reply.body is None:
        return Response(status_code=reply.status, headers=reply.headers)
    return _json_response(reply.status, reply.body, reply.headers)
