""" "Test connection": call both sides and say exactly which one failed, why, and how to fix it.

Jira: ``GET /myself`` (the credentials work), then every bound project (the user can browse it).
Salesforce: sign in, ``GET /limits`` (the API is enabled for the user), then ``describe`` of every
mapped object (the user can see it). Each side stops at its first failure and reports one problem:

- ``bad_credentials``: the vendor refused the credentials (401, ``invalid_grant``...);
- ``unreachable``: no answer (DNS, refused or dropped connection, timeout), a 5xx or 429, or the URL
  guard refused the host;
- ``missing_permission``: signed in, but a 403 (project permission, "API Enabled", object access);
- ``not_found``: a bound project or mapped object no longer exists or is invisible to the user;
- ``unexpected``: anything else (the message says what was seen).

The result is stored on the connection (``last_tested_at``, ``last_test_result``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import structlog

from forcebridge.connections.clients import ConnectionClients, clients_for
from forcebridge.connections.schemas import ConnectionTestResult, SideTestResult
from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.errors import (
    ConfigurationError,
    ExternalServiceError,
    ForceBridgeError,
    NeedsAdminAction,
    NotFound,
    TransientExternalError,
    ValidationFailed,
)
from forcebridge.mappings.service import mapped_objects

log = structlog.get_logger("forcebridge.connections.health")

Side = Literal["jira", "salesforce"]
Problem = Literal["bad_credentials", "unreachable", "missing_permission", "not_found", "unexpected"]

_HINTS: dict[tuple[Side, Problem], str] = {
    ("jira", "bad_credentials"): "Check the Jira e-mail and API token (create a new token at "
    "https://id.atlassian.com/manage-profile/security/api-tokens), or reconnect the OAuth app.",
    ("salesforce", "bad_credentials"): "Check the connected app's consumer key and secret, the "
    "integration user, and that the app is pre-authorized for that user.",
    ("jira", "unreachable"): "Check the Jira site URL and this server's network access to it; "
    "if Jira is down or throttling, test again later.",
    ("salesforce", "unreachable"): "Check the Salesforce login/My Domain URL and this server's "
    "network access to it; if Salesforce is down or throttling, test again later.",
    ("jira", "missing_permission"): "Give the connection's Jira user the Browse Projects "
    "permission (and Create/Edit/Transition for sync) in the bound projects.",
    ("salesforce", "missing_permission"): "Give the integration user the 'API Enabled' "
    "permission and read/edit access to the mapped objects.",
    ("jira", "not_found"): "Remove the binding of a deleted project, or let the connection's "
    "Jira user browse it.",
    ("salesforce", "not_found"): "Remove the mapping of a missing object, or grant the "
    "integration user access to it.",
}
_TOKEN_CODES = frozenset(
    {
        "invalid_grant",
        "invalid_client",
        "invalid_client_id",
        "unauthorized_client",
        "invalid_request",
    }
)


def run_connection_test(container: Container, connection_id: str) -> ConnectionTestResult:
    """Check both sides of the connection and store the outcome on it."""
    with container.session() as session:
        connection = get_connection(session, connection_id)
        bound_projects = [
            binding.jira_project_key or binding.jira_project_id for binding in connection.bindings
        ]
        project_ids = [binding.jira_project_id for binding in connection.bindings]
        objects = sorted(mapped_objects(session, connection_id))
    # A test must prove the credentials as stored now, not reuse a session signed in earlier.
    container.auth_sessions.forget(connection_id)
    with clients_for(container, connection) as clients:
        jira = _check_side(
            "jira", lambda checks: _check_jira(clients, project_ids, bound_projects, checks)
        )
        salesforce = _check_side(
            "salesforce", lambda checks: _check_salesforce(clients, objects, checks)
        )
    tested_at = container.clock()
    result = ConnectionTestResult(
        ok=jira.ok and salesforce.ok, tested_at=tested_at, jira=jira, salesforce=salesforce
    )
    with container.session() as session:
        stored = get_connection(session, connection_id)
        stored.last_tested_at = tested_at
        stored.last_test_result = result.model_dump(mode="json")
    return result


def _check_jira(
    clients: ConnectionClients, project_ids: list[str], labels: list[str], checks: list[str]
) -> str:
    myself = clients.jira.myself()
    checks.append("credentials")
    for project_id, label in zip(project_ids, labels, strict=True):
        clients.jira.get_project(project_id)
        checks.append(f"project {label}")
    who = myself.get("displayName") or myself.get("emailAddress") or myself.get("accountId") or "?"
    projects = f" and can browse {len(project_ids)} bound project(s)" if project_ids else ""
    return f"Signed in to Jira as {who}{projects}."


def _check_salesforce(clients: ConnectionClients, objects: list[str], checks: list[str]) -> str:
    salesforce = clients.salesforce
    checks.append("sign-in")
    limits = salesforce.limits()
    checks.append("api access")
    for sobject in objects:
        salesforce.describe(sobject)
        checks.append(f"object {sobject}")
    daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
    quota = ""
    if isinstance(daily, dict) and isinstance(daily.get("Remaining"), int):
        quota = f"; {daily['Remaining']} of {daily.get('Max', '?')} daily API calls left"
    return f"Signed in to Salesforce at {clients.salesforce_instance_url}{quota}."


def _check_side(side: Side, run: Callable[[list[str]], str]) -> SideTestResult:
    checks: list[str] = []
    try:
        message = run(checks)
    except ForceBridgeError as error:
        problem = classify(error)
        log.info(
            "connection_test.failed", side=side, problem=problem, error_type=type(error).__name__
        )
        return SideTestResult(
            ok=False,
            problem=problem,
            message=error.message,
            hint=_HINTS.get((side, problem)) or error.hint,
            checks=checks,
        )
    except Exception as error:  # a bug or an unforeseen vendor answer: report it, do not crash
        log.error("connection_test.unexpected_error", side=side, exc_info=error)
        return SideTestResult(
            ok=False,
            problem="unexpected",
            message=f"Unexpected error while testing {side} ({type(error).__name__}).",
            hint="See the server log for details.",
            checks=checks,
        )
    return SideTestResult(ok=True, message=message, checks=checks)


def classify(error: ForceBridgeError) -> Problem:
    """The test-connection problem an error from a client stands for."""
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, TransientExternalError):
        return "unreachable"
    if isinstance(error, ValidationFailed):
        return "unreachable"  # the URL guard refused the host: it cannot be reached from here
    if isinstance(error, NeedsAdminAction):
        code = (error.code or "").lower()
        if error.status == 403 and code not in _TOKEN_CODES:
            return "missing_permission"
        if error.status in (400, 401) or code in _TOKEN_CODES or error.status is None:
            return "bad_credentials"
        return "unexpected"
    if isinstance(error, ExternalServiceError):
        return "not_found" if error.status == 404 else "unexpected"
    if isinstance(error, ConfigurationError):
        return "unexpected"
    return "unexpected"
