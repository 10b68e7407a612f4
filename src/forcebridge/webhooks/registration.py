"""The connection's webhook on the Jira site: registered, kept in line with the bound projects,
removed, or described step by step when ForceBridge cannot do it itself.

ForceBridge uses an **admin webhook** (``/rest/webhooks/1.0/webhook``): it is the only kind Jira
signs with a secret (``X-Hub-Signature``); dynamic webhooks of OAuth apps carry an unsigned-by-us
JWT and expire after 30 days (api-contracts.md §A.9). Creating one needs a Jira administrator's
API token, so:
- basic-auth connections: the webhook is created, or updated in place when it already exists
  (its id is stored), with a JQL filter on the bound projects and the connection's secret;
  deleted when no project is bound any more, or when the connection is deleted;
- OAuth connections, or an account without the permission (401/403): nothing is changed and the
  answer lists the exact values to enter (or the webhook to delete) in Jira's administration.
The connection's Jira ``accountId`` is stored too, so events caused by ForceBridge's own writes
can be recognised as echoes.

Three entry points, one decision each:
- :func:`refresh_jira_webhook` — called by every edge after it commits a change of the bound
  projects or of the connection. It compares the wanted filter, intake URL and site with what was
  last registered (``webhook_secrets.registered_*``) and calls Jira only when they differ, so an
  unrelated change costs no call and manual instructions are given once per filter. It never
  raises: a Jira failure becomes the ``failed`` outcome, because the caller's change is already
  committed and must not look failed. A first registration waits until automatic push is possible
  (``allow_modification`` and ``allow_auto_push``); an existing webhook is kept accurate anyway.
- :func:`register_jira_webhook` — the explicit "register now" (CLI, admin API, UI): always writes,
  and raises Jira's error when it fails (recording the ``failed`` outcome first).
- :func:`remove_jira_webhook` — before a connection is deleted: best effort, never raises.

Every outcome is stored (``webhook_secrets.last_outcome``) for the admin UI to show. Refreshes of
one connection are serialised within a process, so two quick binding changes cannot race each
other into two webhooks or a stale filter.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx2
import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from forcebridge.connections.service import get_connection, read_credentials
from forcebridge.container import Container
from forcebridge.errors import (
    Conflict,
    ExternalServiceError,
    ForceBridgeError,
    NeedsAdminAction,
    NotFound,
)
from forcebridge.http import build_client
from forcebridge.jira.auth import JiraBasicAuth
from forcebridge.jira.errors import error_from_response, error_from_transport
from forcebridge.jira.jql import format_jql
from forcebridge.jobs.models import WebhookSecret
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
WebhookStatus = Literal["registered", "updated", "removed", "manual", "failed"]

OAUTH_REASON = (
    "OAuth 2.0 connections cannot create admin webhooks, and Jira signs only admin webhooks "
    "with a secret."
)
OAUTH_REMOVAL_REASON = "OAuth 2.0 connections cannot delete admin webhooks."
NO_BINDING_REASON = (
    "No Jira project is bound to the connection any more, so it has nothing to send."
)
CONNECTION_DELETED_REASON = "The connection was deleted."


@dataclass
class WebhookRegistration:
    """What was done: ``registered``, ``updated``, ``removed``, ``manual`` (with ``instructions``)
    or ``failed`` (Jira could not be reached or refused for now; ``instructions`` say how to
    retry)."""

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

    def summary(self) -> str:
        """One sentence for a notice or a terminal line (the instructions come after it)."""
        number = f" (id {self.jira_webhook_id})" if self.jira_webhook_id else ""
        if self.status == "registered":
            return f"Jira webhook registered{number}, filtered on {self.jql}."
        if self.status == "updated":
            return f"Jira webhook updated{number}: now filtered on {self.jql}."
        if self.status == "removed":
            return f"Jira webhook removed{number}. {self.reason or ''}".strip()
        if self.status == "manual":
            return f"Set up the Jira webhook by hand: {self.reason}"
        return f"The Jira webhook could not be changed: {self.reason}"


class WebhookOutcome(BaseModel):
    """The JSON form of a :class:`WebhookRegistration` (admin API ``webhook`` member, CLI)."""

    model_config = ConfigDict(populate_by_name=True)

    status: WebhookStatus = Field(
        description="registered | updated | removed: done in Jira. manual: do it by hand, as "
        "listed in instructions. failed: Jira could not be reached; instructions say how to retry."
    )
    url: str = Field(description="The intake URL Jira delivers to.")
    events: list[str]
    jql: str = Field(description="The filter on the bound projects (empty once removed).")
    jira_webhook_id: str | None = Field(default=None, alias="jiraWebhookId")
    reason: str | None = None
    secret_location: str = Field(default="", alias="secretLocation")
    instructions: list[str] = Field(default_factory=list)


def intake_url(public_base_url: str, connection_id: str) -> str:
    return f"{public_base_url.rstrip('/')}/webhooks/jira/{connection_id}"


def retry_instruction(connection_id: str) -> str:
    return (
        f"Retry with `forcebridge connection webhook {connection_id}`, "
        f"`POST /api/v1/connections/{connection_id}/webhook`, or Register now on the "
        "connection's page of the admin UI."
    )


# -- entry points ---------------------------------------------------------------------------------


def refresh_jira_webhook(container: Container, connection_id: str) -> WebhookRegistration | None:
    """Bring the webhook in line with the bound projects; None when it already is (no Jira call).

    Call it after committing a change of bindings or connection settings. Never raises.
    """
    try:
        with _serialised(connection_id):
            situation = _read_situation(container, connection_id)
            wanted = _wanted(container, situation)
            if not _needs_change(situation, wanted):
                return None
            try:
                if situation.project_keys:
                    return _register(container, situation, wanted)
                return _remove(container, situation, wanted, NO_BINDING_REASON, record=True)
            except ForceBridgeError as error:
                return _record(container, connection_id, _failed(wanted, connection_id, error))
    except NotFound:
        return None  # the connection was deleted meanwhile: nothing to keep in line
    except Exception as error:  # the caller's change is committed: log the bug, report it
        log.exception("webhooks.refresh_crashed", connection_id=connection_id)
        return WebhookRegistration(
            status="failed",
            url=intake_url(container.settings.public_base_url, connection_id),
            events=list(WEBHOOK_EVENTS),
            jql="",
            reason=f"Unexpected error ({type(error).__name__}); see the server log.",
            instructions=[retry_instruction(connection_id)],
        )


def register_jira_webhook(container: Container, connection_id: str) -> WebhookRegistration:
    """Create or update (or, with no project bound, remove) the webhook now; see the module doc.

    Raises ``Conflict`` when there is nothing to register, and Jira's error when it fails.
    """
    with _serialised(connection_id):
        situation = _read_situation(container, connection_id)
        wanted = _wanted(container, situation)
        nothing_registered = situation.webhook_id is None and situation.registered_jql is None
        if not situation.project_keys and nothing_registered:
            raise Conflict(
                "The connection has no bound Jira project, so there is nothing to send events for.",
                hint="Bind a project first (POST /api/v1/connections/{id}/bindings).",
            )
        try:
            if situation.project_keys:
                return _register(container, situation, wanted)
            return _remove(container, situation, wanted, NO_BINDING_REASON, record=True)
        except ForceBridgeError as error:
            _record(container, connection_id, _failed(wanted, connection_id, error))
            raise


def remove_jira_webhook(container: Container, connection_id: str) -> WebhookRegistration | None:
    """Delete the webhook from Jira before the connection is deleted. Best effort: never raises;
    None when there was nothing to remove (or no such connection)."""
    try:
        with _serialised(connection_id):
            situation = _read_situation(container, connection_id)
            if situation.webhook_id is None and situation.registered_jql is None:
                return None
            wanted = _wanted(container, situation)
            try:
                return _remove(
                    container, situation, wanted, CONNECTION_DELETED_REASON, record=False
                )
            except ForceBridgeError as error:
                failed = _failed(wanted, connection_id, error)
                # The retry command dies with the connection: say what to delete by hand instead.
                failed.instructions = _removal_steps(situation, wanted)
                return failed
    except NotFound:
        return None
    except Exception:  # a bug here must not block the deletion: logged with its traceback
        log.exception("webhooks.removal_crashed", connection_id=connection_id)
        return None


def last_webhook_outcome(container: Container, connection_id: str) -> dict[str, Any] | None:
    """The last stored outcome (``as_dict`` form plus ``at``), for pages; no Jira call."""
    with container.session() as session:
        row = session.get(WebhookSecret, connection_id)
        if row is None or row.last_outcome is None:
            return None
        at = row.last_outcome_at.isoformat() if row.last_outcome_at else None
        return {**row.last_outcome, "at": at}


# -- the decision ---------------------------------------------------------------------------------

_locks_guard = threading.Lock()
_connection_locks: dict[str, threading.Lock] = {}


@contextmanager
def _serialised(connection_id: str) -> Iterator[None]:
    with _locks_guard:
        lock = _connection_locks.setdefault(connection_id, threading.Lock())
    with lock:
        yield


@dataclass
class _Situation:
    """What the database says about the connection and its webhook."""

    connection: Connection
    project_keys: list[str]
    webhook_id: str | None
    registered_jql: str | None
    registered_url: str | None
    registered_site_url: str | None

    @property
    def automatic_push_possible(self) -> bool:
        return bool(self.connection.allow_modification and self.connection.allow_auto_push)

    @property
    def webhook_name(self) -> str:
        return f"ForceBridge: {self.connection.name}"[:255]

    @property
    def stored_id_is_on_this_site(self) -> bool:
        return self.registered_site_url == self.connection.jira_url


def _read_situation(container: Container, connection_id: str) -> _Situation:
    with container.session() as session:
        connection = get_connection(session, connection_id)
        project_keys = list(
            session.scalars(
                select(ProjectBinding.jira_project_key)
                .where(ProjectBinding.connection_id == connection_id)
                .order_by(ProjectBinding.jira_project_key)
            )
        )
        # Read, not created: a refresh with nothing to register leaves no row (and no secret).
        row = session.get(WebhookSecret, connection_id)
        if row is None:
            return _Situation(connection, project_keys, None, None, None, None)
        return _Situation(
            connection=connection,
            project_keys=project_keys,
            webhook_id=row.jira_webhook_id,
            registered_jql=row.registered_jql,
            registered_url=row.registered_url,
            registered_site_url=row.registered_site_url,
        )


def _wanted(container: Container, situation: _Situation) -> WebhookRegistration:
    connection_id = situation.connection.id
    return WebhookRegistration(
        status="manual",
        url=intake_url(container.settings.public_base_url, connection_id),
        events=list(WEBHOOK_EVENTS),
        jql=format_jql("project in {}", situation.project_keys) if situation.project_keys else "",
        jira_webhook_id=situation.webhook_id,
        secret_location=(
            "Stored encrypted in ForceBridge's database; print it on the server with "
            f"`forcebridge connection webhook {connection_id} --show-secret`."
        ),
    )


def _needs_change(situation: _Situation, wanted: WebhookRegistration) -> bool:
    nothing_registered = situation.webhook_id is None and situation.registered_jql is None
    if not situation.project_keys:
        return not nothing_registered
    in_effect = (
        situation.registered_jql == wanted.jql
        and situation.registered_url == wanted.url
        and situation.stored_id_is_on_this_site
    )
    if in_effect:
        return False
    # The first registration waits for automatic push to be on: until then events are ignored.
    return not (nothing_registered and not situation.automatic_push_possible)


# -- actions --------------------------------------------------------------------------------------


def _register(
    container: Container, situation: _Situation, wanted: WebhookRegistration
) -> WebhookRegistration:
    connection = situation.connection
    # The row the outcome is recorded on, with the secret the webhook (or the steps) will use.
    with container.session() as session:
        secret = current_secret(container, ensure_webhook_secret(container, session, connection.id))
    in_effect_when_done = {
        "registered_jql": wanted.jql,
        "registered_url": wanted.url,
        "registered_site_url": connection.jira_url,
    }
    if connection.jira_auth_type != "basic":
        manual = _manual(wanted, situation, OAUTH_REASON)
        return _record(container, connection.id, manual, **in_effect_when_done)
    try:
        account_id, webhook_id, created = _create_or_update(container, situation, wanted, secret)
    except NeedsAdminAction as error:
        manual = _manual(wanted, situation, error.message)
        return _record(container, connection.id, manual, **in_effect_when_done)
    wanted.status = "registered" if created else "updated"
    wanted.jira_webhook_id = webhook_id
    log.info(
        "webhooks.registered",
        connection_id=connection.id,
        jira_webhook_id=webhook_id,
        status=wanted.status,
    )
    return _record(
        container,
        connection.id,
        wanted,
        jira_webhook_id=webhook_id,
        jira_account_id=account_id,
        registered_at=container.clock(),
        **in_effect_when_done,
    )


def _remove(
    container: Container,
    situation: _Situation,
    wanted: WebhookRegistration,
    reason: str,
    *,
    record: bool,
) -> WebhookRegistration:
    connection = situation.connection
    removed = WebhookRegistration(
        status="removed",
        url=wanted.url,
        events=wanted.events,
        jql="",
        jira_webhook_id=situation.webhook_id,
        reason=reason,
    )
    if situation.webhook_id is not None and connection.jira_auth_type == "basic":
        try:
            _delete(container, situation)
        except NeedsAdminAction as error:
            removed = _manual_removal(removed, situation, wanted, error.message)
    elif connection.jira_auth_type != "basic":
        removed = _manual_removal(removed, situation, wanted, OAUTH_REMOVAL_REASON)
    else:
        # Registered by hand earlier (ForceBridge had no permission): its id is unknown here.
        removed = _manual_removal(
            removed, situation, wanted, "ForceBridge did not create it, so it cannot delete it."
        )
    log.info("webhooks.removed", connection_id=connection.id, status=removed.status)
    if not record:
        return removed
    return _record(
        container,
        connection.id,
        removed,
        jira_webhook_id=None,
        registered_jql=None,
        registered_url=None,
        registered_site_url=None,
    )


def _manual(
    registration: WebhookRegistration, situation: _Situation, reason: str
) -> WebhookRegistration:
    registration.status = "manual"
    registration.reason = reason
    registration.instructions = [
        "In Jira, open Settings (cog) → System → WebHooks. Edit the webhook named "
        f"“{situation.webhook_name}” if there is one; otherwise click Create a WebHook.",
        f"Name: {situation.webhook_name}. Status: Enabled. URL: {registration.url}",
        f"Secret: the connection's webhook secret. {registration.secret_location}",
        f"Events → Issue related events → JQL: {registration.jql}",
        "Tick: " + ", ".join(EVENT_LABELS[event] for event in registration.events) + ".",
        "Leave 'Exclude body' unticked, then Create (or Save).",
    ]
    log.info("webhooks.manual", connection_id=situation.connection.id)
    return registration


def _manual_removal(
    removed: WebhookRegistration,
    situation: _Situation,
    wanted: WebhookRegistration,
    why_by_hand: str,
) -> WebhookRegistration:
    removed.status = "manual"
    removed.reason = f"{removed.reason} {why_by_hand}"
    removed.instructions = _removal_steps(situation, wanted)
    return removed


def _removal_steps(situation: _Situation, wanted: WebhookRegistration) -> list[str]:
    number = f" (id {situation.webhook_id})" if situation.webhook_id else ""
    return [
        "In Jira, open Settings (cog) → System → WebHooks.",
        f"Delete the webhook named “{situation.webhook_name}”{number}, URL {wanted.url}.",
    ]


def _failed(
    wanted: WebhookRegistration, connection_id: str, error: ForceBridgeError
) -> WebhookRegistration:
    log.warning(
        "webhooks.registration_failed", connection_id=connection_id, error=type(error).__name__
    )
    wanted.status = "failed"
    wanted.reason = error.message
    wanted.instructions = [retry_instruction(connection_id)]
    return wanted


def _record(
    container: Container, connection_id: str, outcome: WebhookRegistration, **columns: Any
) -> WebhookRegistration:
    """Store the outcome (and the given ``webhook_secrets`` columns) and return it."""
    with container.session() as session:
        row = session.get(WebhookSecret, connection_id)
        if row is None:
            return outcome  # deleted with its connection meanwhile
        for name, value in columns.items():
            setattr(row, name, value)
        row.last_outcome = outcome.as_dict()
        row.last_outcome_at = container.clock()
    return outcome


# -- Jira calls -----------------------------------------------------------------------------------


@contextmanager
def _jira_admin_client(container: Container, connection: Connection) -> Iterator[httpx2.Client]:
    credentials = read_credentials(container, connection, "jira")
    with build_client(
        settings=container.settings,
        service="jira",
        connection_id=connection.id,
        base_url=connection.jira_url,
        auth=JiraBasicAuth(credentials["email"], credentials["api_token"]),
        transport=container.transport_for("jira", connection.jira_url),
        metrics=container.metrics,
    ) as http:
        yield http


def _create_or_update(
    container: Container, situation: _Situation, registration: WebhookRegistration, secret: str
) -> tuple[str | None, str, bool]:
    connection = situation.connection
    body = {
        "name": situation.webhook_name,
        "url": registration.url,
        "events": registration.events,
        "filters": {"issue-related-events-section": registration.jql},
        "excludeBody": False,
        "secret": secret,
    }
    with _jira_admin_client(container, connection) as http:
        myself = _send(http, "GET", "/rest/api/3/myself")
        account_id = myself.get("accountId") if isinstance(myself, dict) else None
        existing_webhook_id = _own_webhook_id(http, situation)
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


def _delete(container: Container, situation: _Situation) -> None:
    with _jira_admin_client(container, situation.connection) as http:
        webhook_id = _own_webhook_id(http, situation)
        if webhook_id is None:
            return
        # Already deleted in Jira (404) is the wanted state too.
        with suppress(NotFound):
            _send(http, "DELETE", f"{ADMIN_WEBHOOK_PATH}/{webhook_id}")


def _own_webhook_id(http: httpx2.Client, situation: _Situation) -> str | None:
    """The stored webhook id, if it names our webhook on the connection's current site.

    Webhook ids are small numbers per site: after the site URL changed, the stored id may be
    another integration's webhook there, so it is read first and used only if it delivers to us.
    """
    if situation.webhook_id is None or situation.stored_id_is_on_this_site:
        return situation.webhook_id
    try:
        bean = _send(http, "GET", f"{ADMIN_WEBHOOK_PATH}/{situation.webhook_id}")
    except NotFound:
        return None
    url = bean.get("url") if isinstance(bean, dict) else None
    ours = isinstance(url, str) and url.rstrip("/").endswith(
        f"/webhooks/jira/{situation.connection.id}"
    )
    return situation.webhook_id if ours else None


def _send(http: httpx2.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = http.request(method, path, **kwargs)
    except httpx2.TransportError as error:
        raise error_from_transport(error) from None
    if response.status_code == 404 and path.startswith(f"{ADMIN_WEBHOOK_PATH}/"):
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
