"""Clients built from a connection: every auth type signs in to the sandboxes, and rotated refresh
tokens are stored before use, so the next client (or a restart) still signs in."""

from __future__ import annotations

from typing import Any

from builders import JIRA_SANDBOX_URL, connection_payload
from forcebridge.connections.clients import clients_for
from forcebridge.connections.schemas import ConnectionCreate
from forcebridge.connections.service import create_connection, get_connection, read_credentials
from forcebridge.models import Connection


def _create(container: Any, payload: dict[str, Any]) -> Connection:
    return create_connection(container, ConnectionCreate.model_validate(payload))


def _reload(container: Any, connection_id: str) -> Connection:
    with container.session() as session:
        return get_connection(session, connection_id)


def _jira_oauth_payload(sandbox: Any) -> dict[str, Any]:
    jira = sandbox.jira.credentials
    payload = connection_payload(sandbox)
    payload["jira"]["auth"] = {
        "type": "oauth",
        "client_id": jira["oauth_client_id"],
        "client_secret": jira["oauth_client_secret"],
        "refresh_token": jira["oauth_refresh_token"],
        "cloud_id": jira["cloud_id"],
        "token_url": f"{JIRA_SANDBOX_URL}/oauth/token",
        "api_url": JIRA_SANDBOX_URL,
    }
    return payload


def test_jira_oauth_stores_the_rotated_refresh_token_and_signs_in_again(
    container: Any, sandbox: Any
) -> None:
    connection = _create(container, _jira_oauth_payload(sandbox))
    original = sandbox.jira.credentials["oauth_refresh_token"]

    with clients_for(container, connection) as clients:
        first = clients.jira.myself()
    stored = read_credentials(container, _reload(container, connection.id), "jira")["refresh_token"]
    # The sandbox, like Atlassian, accepts each refresh token once: this works only if the
    # rotated one was stored.
    with clients_for(container, _reload(container, connection.id)) as clients:
        second = clients.jira.myself()

    assert stored != original
    assert first["accountId"] == second["accountId"]


def test_salesforce_refresh_token_rotation_is_persisted(container: Any, sandbox: Any) -> None:
    sandbox.salesforce.tokens.set_refresh_token_rotation(True)
    connection = _create(container, connection_payload(sandbox, salesforce_auth="refresh_token"))

    for _ in range(2):
        with clients_for(container, _reload(container, connection.id)) as clients:
            clients.salesforce.limits()

    stored = read_credentials(container, _reload(container, connection.id), "salesforce")
    assert stored["refresh_token"] != sandbox.salesforce.credentials["refresh_token"]


def test_salesforce_jwt_bearer_signs_in_and_records_the_instance_url(
    container: Any, sandbox: Any
) -> None:
    connection = _create(container, connection_payload(sandbox, salesforce_auth="jwt"))
    assert connection.salesforce_instance_url is None

    with clients_for(container, connection) as clients:
        limits = clients.salesforce.limits()

    assert "DailyApiRequests" in limits
    assert (
        _reload(container, connection.id).salesforce_instance_url == clients.salesforce_instance_url
    )
    assert clients.salesforce_instance_url is not None


def test_jira_only_work_costs_no_salesforce_sign_in(container: Any, sandbox: Any) -> None:
    connection = _create(container, connection_payload(sandbox))
    before = sandbox.salesforce.operator.last_sequence

    with clients_for(container, connection) as clients:
        clients.jira.get_project("TEST")

    assert sandbox.salesforce.operator.last_sequence == before
