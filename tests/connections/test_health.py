"""Test connection: both sides checked against the sandboxes; each failure named, with a hint."""

from __future__ import annotations

import socket
from typing import Any

from fastapi.testclient import TestClient

from builders import connection_payload, create_sandbox_connection
from forcebridge.connections.health import run_connection_test
from forcebridge.container import build_container
from forcebridge.models import Connection
from forcebridge.sandbox.operator import FaultRequest
from forcebridge.sandbox.testing import jira_transport, salesforce_transport


def _create(api: TestClient, payload: dict[str, Any]) -> str:
    response = api.post("/api/v1/connections", json=payload)
    assert response.status_code == 201, response.text
    connection_id: str = response.json()["data"]["id"]
    return connection_id


def _closed_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_connection_to_both_sandboxes_is_ok(api: TestClient, sandbox: Any) -> None:
    connection_id = _create(api, connection_payload(sandbox))

    response = api.post(f"/api/v1/connections/{connection_id}/test")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["ok"] is True
    assert data["jira"]["ok"] is True and data["jira"]["problem"] is None
    assert data["salesforce"]["ok"] is True
    assert data["salesforce"]["checks"] == ["sign-in", "api access"]


def test_connection_test_checks_bound_projects_and_mapped_objects(
    container: Any, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox, objects=("Case", "Account"))

    result = run_connection_test(container, connection.id)

    assert result.ok
    assert result.jira.checks == ["credentials", "project TEST"]
    assert result.salesforce.checks == ["sign-in", "api access", "object Account", "object Case"]


def test_result_is_stored_on_the_connection(api: TestClient, sandbox: Any, container: Any) -> None:
    connection_id = _create(api, connection_payload(sandbox))

    api.post(f"/api/v1/connections/{connection_id}/test")

    with container.session() as session:
        stored = session.get(Connection, connection_id)
        assert stored.last_tested_at is not None
        assert stored.last_test_result is not None and stored.last_test_result["ok"] is True
    shown = api.get(f"/api/v1/connections/{connection_id}").json()["data"]
    assert shown["last_test_result"]["jira"]["ok"] is True


def test_bad_jira_api_token_is_bad_credentials_with_a_hint(api: TestClient, sandbox: Any) -> None:
    connection_id = _create(api, connection_payload(sandbox, jira_api_token="wrong-token"))

    data = api.post(f"/api/v1/connections/{connection_id}/test").json()["data"]

    assert data["ok"] is False
    assert data["jira"]["problem"] == "bad_credentials"
    assert "API token" in data["jira"]["hint"]
    assert data["salesforce"]["ok"] is True
    assert "wrong-token" not in str(data)


def test_bad_salesforce_client_secret_is_bad_credentials(api: TestClient, sandbox: Any) -> None:
    connection_id = _create(
        api, connection_payload(sandbox, salesforce_client_secret="wrong-secret")
    )

    data = api.post(f"/api/v1/connections/{connection_id}/test").json()["data"]

    assert data["jira"]["ok"] is True
    assert data["salesforce"]["ok"] is False
    assert data["salesforce"]["problem"] == "bad_credentials"
    assert data["salesforce"]["hint"]
    assert "wrong-secret" not in str(data)


def test_jira_host_refusing_connections_is_unreachable(
    api: TestClient, sandbox: Any, container: Any
) -> None:
    port = _closed_local_port()
    container.settings.allowed_hosts = [f"127.0.0.1:{port}"]
    payload = connection_payload(sandbox)
    payload["jira"]["url"] = f"https://127.0.0.1:{port}"
    connection_id = _create(api, payload)

    data = api.post(f"/api/v1/connections/{connection_id}/test").json()["data"]

    assert data["jira"]["problem"] == "unreachable"
    assert "network" in data["jira"]["hint"]
    assert data["salesforce"]["ok"] is True


def test_salesforce_answering_503_is_unreachable(api: TestClient, sandbox: Any) -> None:
    connection_id = _create(api, connection_payload(sandbox))
    sandbox.salesforce.operator.add_fault(FaultRequest(path="/limits", status=503, count=5))

    data = api.post(f"/api/v1/connections/{connection_id}/test").json()["data"]

    assert data["salesforce"]["problem"] == "unreachable"
    assert data["salesforce"]["checks"] == ["sign-in"]


def test_jira_user_without_access_to_a_bound_project_is_missing_permission(
    container: Any, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox, objects=())
    sandbox.jira.operator.add_fault(FaultRequest(path="/project/", status=403, count=5))

    result = run_connection_test(container, connection.id)

    assert result.jira.problem == "missing_permission"
    assert result.jira.checks == ["credentials"]
    assert "Browse Projects" in (result.jira.hint or "")


def test_unknown_connection_test_is_404(api: TestClient) -> None:
    assert api.post("/api/v1/connections/nope/test").status_code == 404


def test_dropped_salesforce_connection_is_unreachable(settings: Any, sandbox: Any) -> None:
    # The sandbox's own transport turns a drop_connection fault into the RemoteProtocolError a
    # client sees from a real dropped connection.
    def transport(service: str, base_url: str) -> Any:
        if service == "jira":
            return jira_transport(sandbox.jira)
        return salesforce_transport(sandbox.salesforce)

    container = build_container(settings, apply_migrations=True, transport_override=transport)
    try:
        connection = create_sandbox_connection(container, sandbox, bind_projects=(), objects=())
        sandbox.salesforce.operator.add_fault(
            FaultRequest(path="/limits", drop_connection=True, count=5)
        )

        result = run_connection_test(container, connection.id)
    finally:
        container.close()

    assert result.jira.ok
    assert result.salesforce.problem == "unreachable"


def test_connection_test_costs_two_jira_and_three_salesforce_calls(
    container: Any, sandbox: Any
) -> None:
    # Salesforce calls count against the org's daily quota: one bound project and one mapped
    # object cost exactly myself + project, and token + limits + describe.
    connection = create_sandbox_connection(container, sandbox, objects=("Case",))
    jira_before = sandbox.jira.operator.last_sequence
    salesforce_before = sandbox.salesforce.operator.last_sequence

    run_connection_test(container, connection.id)

    jira_paths = [entry.path for entry in sandbox.jira.operator.requests(since=jira_before)]
    salesforce_paths = [
        entry.path for entry in sandbox.salesforce.operator.requests(since=salesforce_before)
    ]
    assert jira_paths == ["/rest/api/3/myself", "/rest/api/3/project/10000"]
    assert salesforce_paths == [
        "/services/oauth2/token",
        "/services/data/v62.0/limits/",
        "/services/data/v62.0/sobjects/Case/describe",
    ]
