"""The Jira Cloud emulator as one object: state, credentials, webhooks and the ASGI app.

``JiraSandbox`` is the composition root of this package: it owns the document store, builds the
FastAPI app (vendor routes, their copy under ``/ex/jira/{cloudId}``, operator routes) and the
webhook delivery thread, and knows how to go back to the seed on operator reset.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forcebridge.sandbox.jira import seed
from forcebridge.sandbox.jira.api import API_VERSIONS, build_rest_router, build_site_router
from forcebridge.sandbox.jira.auth import (
    ACCESS_TOKENS,
    OAUTH_SCOPES,
    REFRESH_TOKENS,
    Authenticator,
    OAuthError,
)
from forcebridge.sandbox.jira.catalog import Catalog
from forcebridge.sandbox.jira.issues import ISSUES, IssueStore
from forcebridge.sandbox.jira.operator_routes import build_operator_router
from forcebridge.sandbox.jira.search import JqlCompiler
from forcebridge.sandbox.jira.webhooks import WebhookDispatcher, WebhookRegistry
from forcebridge.sandbox.jira.wire import JiraError, JiraJSONResponse
from forcebridge.sandbox.operator import Operator, install_operator
from forcebridge.sandbox.storage import DocumentStore

CONFIG = "config"
DEFAULT_RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)


class AccountIdHeaderMiddleware:
    """Adds ``X-AAccountId`` (the caller's accountId) to responses of authenticated requests."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                account_id = scope.get("state", {}).get("account_id")
                if account_id:
                    headers = list(message.get("headers", []))
                    headers.append((b"x-aaccountid", account_id.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


class JiraSandbox:
    """A local Jira Cloud site: REST v2/v3, OAuth 2.0 (3LO), webhooks and the operator API."""

    def __init__(
        self,
        *,
        state_path: Path | None = None,
        seed: bool = True,
        webhook_transport: httpx2.BaseTransport | None = None,
        webhook_verify: str | bool = True,
        webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.seeded = seed
        self.store = DocumentStore(state_path)
        self._temporary_directory: tempfile.TemporaryDirectory[str] | None = None
        if state_path is not None:
            attachments_dir = state_path.parent / f"{state_path.stem}-attachments"
        else:
            # Attachments always go to disk (never memory) so large files stay cheap.
            self._temporary_directory = tempfile.TemporaryDirectory(prefix="jira-sandbox-")
            attachments_dir = Path(self._temporary_directory.name)
        self.catalog = Catalog()
        stored_workflow = self.store.get(CONFIG, "workflow")
        if stored_workflow is not None:
            self.catalog.set_workflow(
                stored_workflow["statuses"],
                stored_workflow["transitions"],
                stored_workflow["initial_status_id"],
            )
        self.authenticator = Authenticator(self.store, clock)
        self.credentials: dict[str, str] = self.authenticator.credentials
        self.issues = IssueStore(self.store, self.catalog, attachments_dir, clock)
        if seed and self.store.get(CONFIG, "seeded") is None and self.store.count(ISSUES) == 0:
            self._load_seed()
        self.webhook_registry = WebhookRegistry(
            self.store, lambda: self.compiler(self.credentials["account_id"]), clock
        )
        self.dispatcher = WebhookDispatcher(
            self.webhook_registry,
            self.catalog,
            self.issues,
            self.compiler,
            transport=webhook_transport,
            verify=webhook_verify,
            retry_delays=webhook_retry_delays,
        )
        self.issues.sinks.append(self.dispatcher)
        self.operator = Operator("jira")
        self.operator.on_reset(self._reset)
        self.app = self._build_app()

    # -- composition -------------------------------------------------------------------------
    def compiler(self, account_id: str) -> JqlCompiler:
        return JqlCompiler(self.catalog, self.issues, self.issues.now_ms(), account_id)

    def authenticator_scopes(self) -> list[str]:
        return OAUTH_SCOPES.split()

    def _build_app(self) -> FastAPI:
        app = FastAPI(
            title="ForceBridge Jira Cloud sandbox",
            version="1.0.0",
            description="A local emulator of the Jira Cloud REST API (v2 and v3), OAuth 2.0 "
            "(3LO) and webhooks, with an operator API under /__sandbox/.",
            default_response_class=JiraJSONResponse,
        )
        # The vendor routers are built once per process and shared: handlers find their
        # sandbox through ``app.state``, so a new sandbox costs no route construction.
        app.state.jira_sandbox = self
        for version in API_VERSIONS:
            router = build_rest_router(version)
            app.include_router(router, include_in_schema=version != "latest")
            app.include_router(router, prefix="/ex/jira/{cloud_id}", include_in_schema=False)
        app.include_router(build_site_router())
        app.include_router(build_operator_router(self))
        self._install_error_handlers(app)
        app.add_middleware(AccountIdHeaderMiddleware)
        install_operator(app, self.operator, Authenticator.credential_label)
        return app

    @staticmethod
    def _install_error_handlers(app: FastAPI) -> None:
        @app.exception_handler(JiraError)
        async def jira_error(request: Request, error: Exception) -> JiraJSONResponse:
            assert isinstance(error, JiraError)
            return error.response()

        @app.exception_handler(OAuthError)
        async def oauth_error(request: Request, error: Exception) -> JiraJSONResponse:
            assert isinstance(error, OAuthError)
            return JiraJSONResponse(
                {"error": error.error, "error_description": error.description},
                status_code=error.status,
            )

        @app.exception_handler(RequestValidationError)
        async def validation_error(request: Request, error: Exception) -> JiraJSONResponse:
            assert isinstance(error, RequestValidationError)
            messages = []
            for problem in error.errors():
                location = ".".join(str(part) for part in problem.get("loc", ()) if part != "body")
                messages.append(f"Invalid value for '{location}': {problem.get('msg')}")
            return JiraError(400, messages or ["Invalid request."]).response()

        @app.exception_handler(StarletteHTTPException)
        async def http_error(request: Request, error: Exception) -> JiraJSONResponse:
            assert isinstance(error, StarletteHTTPException)
            detail = error.detail if isinstance(error.detail, str) else "Request failed."
            return JiraError(
                error.status_code, detail, headers=dict(error.headers or {})
            ).response()

        @app.exception_handler(Exception)
        async def unexpected_error(request: Request, error: Exception) -> JiraJSONResponse:
            return JiraError(500, "Internal server error").response()

    # -- state -------------------------------------------------------------------------------
    def _load_seed(self) -> None:
        self.issues.load_seed()
        self.store.put(CONFIG, "seeded", {"at": int(self.clock() * 1000)})

    def set_workflow(self, workflow: dict[str, Any]) -> None:
        """Replace statuses and transitions (checked for dangling ids first)."""
        statuses = workflow["statuses"]
        status_ids = {str(status.get("id")) for status in statuses}
        for status in statuses:
            if not status.get("id") or not status.get("name"):
                raise JiraError(400, "Every status needs an 'id' and a 'name'.")
            if status.get("category") not in seed.STATUS_CATEGORIES:
                raise JiraError(400, "A status category must be new, indeterminate or done.")
        for transition in workflow["transitions"]:
            targets = [transition.get("to"), *transition.get("from", [])]
            if not transition.get("id") or any(str(t) not in status_ids for t in targets):
                raise JiraError(400, "Every transition needs an 'id' and existing statuses.")
        if workflow["initial_status_id"] not in status_ids:
            raise JiraError(400, "The initial status must be one of the statuses.")
        self.catalog.set_workflow(statuses, workflow["transitions"], workflow["initial_status_id"])
        self.store.put(CONFIG, "workflow", self.catalog.workflow_document())

    def _reset(self) -> None:
        """Back to the seed; credentials and OAuth tokens survive (clients stay logged in)."""
        self.dispatcher.clear()
        with self.store.lock:
            access_tokens = list(self.store.values(ACCESS_TOKENS))
            refresh_tokens = self._keys(REFRESH_TOKENS)
            self.store.clear()
            self.authenticator.restore()
            for record in access_tokens:
                self.store.put(ACCESS_TOKENS, record["token"], record)
            for token in refresh_tokens:
                self.store.put(REFRESH_TOKENS, token, {"token": token})
            self.catalog.set_workflow(seed.STATUSES, seed.TRANSITIONS, seed.INITIAL_STATUS_ID)
            shutil.rmtree(self.issues.attachments_dir, ignore_errors=True)
            self.issues.attachments_dir.mkdir(parents=True, exist_ok=True)
            if self.seeded:
                self._load_seed()

    def _keys(self, collection: str) -> list[str]:
        return [record["token"] for record in self.store.values(collection) if "token" in record]

    def wait_for_deliveries(self, timeout: float = 10.0) -> bool:
        """True once no webhook delivery is queued or in flight (held ones do not count)."""
        return self.dispatcher.wait_until_drained(timeout)

    def close(self) -> None:
        """Stop the delivery thread and release the store and temporary files."""
        self.dispatcher.close()
        self.store.close()
        if self._temporary_directory is not None:
            self._temporary_directory.cleanup()
