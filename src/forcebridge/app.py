"""``create_app(settings)``: the FastAPI application, built from one container."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response

from forcebridge import __version__
from forcebridge.api.errors import install_error_handlers
from forcebridge.api.middleware import RequestContextMiddleware
from forcebridge.container import Container, build_container
from forcebridge.db import database_is_reachable
from forcebridge.jobs.queue import job_queue
from forcebridge.settings import Settings

DESCRIPTION = """
ForceBridge links Jira Cloud issues with Salesforce records.

* **External API** (`/external/api/...`): compatible with the Connector for Salesforce & Jira
  (SFJC). Authenticate with `Authorization: JWT <API access token>`; a token belongs to one
  connection and sees nothing of another. Responses use the envelope
  `{"data", "message", "success"}`; failures `{"success": false, "message", "errors"}`.
* **Admin API** (`/api/v1/...`): connections, bindings, mappings and API tokens.
"""


def create_app(settings: Settings | None = None, *, container: Container | None = None) -> FastAPI:
    if container is None:
        container = build_container(settings or Settings(), apply_migrations=True)
    app = FastAPI(
        title="ForceBridge",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "external", "description": "SFJC-compatible external API (JWT tokens)."},
            {"name": "admin", "description": "Administration: connections, tokens, mappings."},
            {"name": "operations", "description": "Health, readiness and metrics."},
        ],
    )
    app.state.container = container
    # Jobs committed by any request are handed to the queue (huey) as their transaction commits.
    job_queue(container)
    app.add_middleware(RequestContextMiddleware, metrics=container.metrics)
    install_error_handlers(app)
    _install_operations_routes(app, container)
    _install_feature_routers(app)
    return app


def _install_operations_routes(app: FastAPI, container: Container) -> None:
    @app.get("/healthz", tags=["operations"], summary="The process is up.")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The database is reachable.",
        responses={503: {"description": "Database unreachable"}},
    )
    def readyz() -> JSONResponse:
        ready = database_is_reachable(container.engine)
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "database": ready},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics.")
    def metrics() -> Response:
        body, content_type = container.metrics.render()
        return Response(body, media_type=content_type)


def _install_feature_routers(app: FastAPI) -> None:
    """Each feature package contributes its routers; imported here to keep the root in one place."""
    from forcebridge.admin.api import router as admin_router
    from forcebridge.admin.ui import router as admin_ui_router
    from forcebridge.api.automation_routes import admin_router as automation_admin_router
    from forcebridge.api.automation_routes import webhook_router
    from forcebridge.api.bulk_routes import bulk_router, quota_admin_router
    from forcebridge.api.external import router as external_router
    from forcebridge.api.sync_routes import router as sync_router
    from forcebridge.webhooks.outbound_messages import router as outbound_message_router

    for router in (
        external_router,
        sync_router,
        webhook_router,
        admin_router,
        automation_admin_router,
        bulk_router,
        quota_admin_router,
        outbound_message_router,
        admin_ui_router,
    ):
        app.include_router(router)
