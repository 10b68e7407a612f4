"""Registering the connection's webhook on the Jira site (or saying exactly how to do it by hand).

ForceBridge uses an **admin webhook** (``/rest/webhooks/1.0/webhook``): it is the only kind Jira
signs with a secret (``X-Hub-Signature``); dynamic webhooks of OAuth apps carry an unsigned-by-us
JWT and expire after 30 days (api-contracts.md §A.9). Creating one needs a Jira administrator's
API token, so:
- basic-auth connections: the webhook is created, or updated in place when it already exists
  (its id is stored), with a JQL filter on the bound projects and the connection's secret;
- OAuth connections, or an account without the permission (401/403): nothing is changed and the
  answer lists the exact values to enter in Jira's administration instead.
The connection's Jira ``accountId`` is stored too, so events caused by ForceBridge's own writes
can be recognised as echoes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import httpx2
import structlog
from sqlalchemy import select

from forcebridge.connections.service import get_connection, read_credentials
from forcebridge.container import Container
from forcebridge.errors import Conflict, ExternalServiceError, NeedsAdminAction, NotFound
from forcebridge.http import build_client
from forcebridge.jira.auth import JiraBasicAuth
from forcebridge.jira.errors import error_from_response, error_from_transport
from forcebridge.jira.jql import format_jql
from forcebridge.models import Connection, ProjectBinding
from forcebridge.webhooks.secrets import current_secret, ensure_webhook_secret

log = structlog.get_logger("forcebridge.webhooks.registration")

ADMIN_WEBHOOK_PATH = "/rest/webhooks/1.0/webhook"
WEBHOOK_EVENTS = (
    "jira:issue_updated",
    "comment_created",
    "comment_updated",
    "comment_deleted",
    "attachment_created",
)
EVENT_LABELS = {
    "jira:issue_updated": "Issue: updated",
    "comment_created": "Comment: created",
    "comment_updated": "Comment: updated",
    "comment_deleted": "Comment: deleted",
    "attachment_created": "Attachment: created",
}


@dataclass
class WebhookRegistration:
    """What was done: ``registered``, ``updated``, or ``manual`` (with ``instructions``)."""

    status: str
    url: str
    events: list[str]
    jql: str
    jira_webhook_id: str | None = None
    reason: str | None = None
    secret_location: str = ""
    instructions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {
            "status": data["status"],
            "url": data["url"],
            "events": data["events"],
            "jql": data["jql"],
            "jiraWebhookId": data["jira_webhook_id"],
            "reason": data["reason"],
            "secretLocation": data["secret_location"],
            "instructions": data["instructions"],
        }


def intake_url(public_base_url: str, connection_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/webhooks/jira/{connection_id}"


def register_jira_webhook(container: Container, connection_id: str) -> WebhookRegistration:
    """Create or update the connection's admin webhook on its Jira site; see the module doc."""
    with container.session() as session:
        connection = get_connection(session, connection_id)
        project_keys = list(
            session.scalars(
                select(ProjectBinding.jira_project_key)
                .where(ProjectBinding.connection_id == connection_id)
                .order_by(ProjectBinding.jira_project_key)
            )
        )
        secret_row = ensure_webhook_secret(container, session, connection_id)
        existing_webhook_id = secret_row.jira_webhook_id
        secret = current_secret(container, secret_row)
    if not project_keys:
        raise Conflict(
            "The connection has no bound Jira project, so there is nothing to send events for.",
            hint="Bind a project first (POST /api/v1/connections/{id}/bindings).",
        )
    registration = WebhookRegistration(
        status="manual",
        url=intake_url(container.settings.public_base_url, connection_id),
        events=list(WEBHOOK_EVENTS),
        jql=format_jql("project in {}", project_keys),
        secret_location=(
            "Stored encrypted in ForceBridge's database; print it on the server with "
            f"`forcebridge connection webhook {connection_id} --show-secret`."
        ),
    )
    if connection.jira_auth_type != "basic":
        return _manual(
            registration,
            "OAuth 2.0 connections cannot create admin webhooks, and Jira signs only admin "
            "webhooks with a secret.",
        )
    try:
        account_id, webhook_id, created = _create_or_update(
            container, connection, registration, secret, existing_webhook_id
        )
    except NeedsAdminAction as error:
        return _manual(registration, error.message)
    with container.session() as session:
        row = ensure_webhook_secret(container, session, connection_id)
        row.jira_webhook_id = webhook_id
        row.jira_account_id = account_id
        row.registered_at = container.clock()
    registration.status = "registered" if created else "updated"
    registration.jira_webhook_id = webhook_id
    log.info("webhooks.registered", connection_id=connection_id, jira_webhook_id=webhook_id)
    return registration


def _create_or_update(
    container: Container,
    connection: Connection,
    registration: WebhookRegistration,
    secret: str,
    existing_webhook_id: str | None,
) -> tuple[str | None, str, bool]:
    credentials = read_credentials(container, connection, "jira")
    body = {
        "name": f"ForceBridge: {connection.name}"[:255],
        "url": registration.url,
        "events": registration.events,
        "filters": {"issue-related-events-section": registration.jql},
        "excludeBody": False,
        "secret": secret,
    }
    with build_client(
        settings=container.settings,
        service="jira",
        connection_id=connection.id,
        base_url=connection.jira_url,
        auth=JiraBasicAuth(credentials["email"], credentials["api_token"]),
        transport=container.transport_for("jira", connection.jira_url),
        metrics=container.metrics,
    ) as http:
        myself = _send(http, "GET", "/rest/api/3/myself")
        account_id = myself.get("accountId") if isinstance(myself, dict) else None
        if existing_webhook_id:
            try:
                updated = _send(
                    http, "PUT", f"{ADMIN_WEBHOOK_PATH}/{existing_webhook_id}", json=body
                )
                return account_id, _webhook_id(updated) or existing_webhook_id, False
            except NotFound:
                pass  # deleted in Jira meanwhile: create it again
        created = _send(http, "POST", ADMIN_WEBHOOK_PATH, json=body)
        webhook_id = _webhook_id(created)
        if webhook_id is None:
            raise ExternalServiceError(
                "Jira created the webhook but did not say its id.", service="jira"
            )
        return account_id, webhook_id, True


def _send(http: httpx2.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = http.request(method, path, **kwargs)
    except httpx2.TransportError as error:
        raise error_from_transport(error) from None
    if response.status_code == 404 and method == "PUT":
        raise NotFound("The webhook no longer exists in Jira.")
    if response.is_error:
        raise error_from_response(response)
    try:
        return response.json() if response.content else None
    except ValueError:
        raise ExternalServiceError(
            f"Jira answered {method} {path} with a body that is not JSON", service="jira"
        ) from None


def _webhook_id(bean: Any) -> str | None:
    """Admin webhook beans name themselves by ``self`` (``…/webhook/<id>``), some also by ``id``."""
    if not isinstance(bean, dict):
        return None
    if isinstance(bean.get("id"), int | str) and str(bean["id"]).isdigit():
        return str(bean["id"])
    self_url = bean.get("self")
    if isinstance(self_url, str):
        tail = self_url.rstrip("/").rsplit("/", 1)[-1]
        if tail.isdigit():
            return tail
    return None


def _manual(registration: WebhookRegistration, reason: str) -> WebhookRegistration:
    registration.status = "manual"
    registration.reason = reason
    registration.instructions = [
        "In Jira, open Settings (cog) → System → WebHooks → Create a WebHook.",
        f"Name: ForceBridge. Status: Enabled. URL: {registration.url}",
        f"Secret: the connection's webhook secret. {registration.secret_location}",
        f"Events → Issue related events → JQL: {registration.jql}",
        "Tick: " + ", ".join(EVENT_LABELS[event] for event in registration.events) + ".",
        "Leave 'Exclude body' unticked, then Create.",
    ]
    return registration
