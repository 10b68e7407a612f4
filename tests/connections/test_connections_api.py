"""Connections through the admin API: CRUD, validation, and no secret ever shown."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from builders import connection_payload
from forcebridge.connections.service import read_credentials
from forcebridge.errors import ConfigurationError
from forcebridge.models import Connection


def _create(api: TestClient, payload: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/connections", json=payload)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _secret_values(sandbox: Any) -> list[str]:
    jira, salesforce = sandbox.jira.credentials, sandbox.salesforce.credentials
    return [jira["api_token"], salesforce["client_secret"], salesforce["refresh_token"]]


def test_create_connection_answers_201_with_settings_and_no_secret(
    api: TestClient, sandbox: Any
) -> None:
    payload = connection_payload(
        sandbox,
        salesforce_auth="refresh_token",
        settings={"after_associate": "push", "comment_privacy": "public"},
    )

    response = api.post("/api/v1/connections", json=payload)

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert data["name"] == "Sandbox"
    assert data["jira"]["url"] == "https://sandbox.atlassian.net"
    assert data["jira"]["auth"]["type"] == "basic"
    assert data["jira"]["auth"]["email"] == sandbox.jira.credentials["email"]
    assert data["jira"]["auth"]["has_api_token"] is True
    assert data["salesforce"]["auth"] == {
        "type": "refresh_token",
        "client_id": sandbox.salesforce.credentials["client_id"],
        "username": None,
        "has_private_key": False,
        "has_client_secret": True,
        "has_refresh_token": True,
    }
    assert data["settings"]["after_associate"] == "push"
    assert data["settings"]["comment_privacy"] == "public"
    assert data["settings"]["allow_modification"] is True
    for secret in _secret_values(sandbox):
        assert secret not in response.text


def test_long_jira_api_token_is_shown_by_its_last_four_characters_only(
    api: TestClient, sandbox: Any
) -> None:
    token = "ATATT3xFfGF0-known-test-token-4f2a"
    data = _create(api, connection_payload(sandbox, jira_api_token=token))

    assert data["jira"]["auth"]["api_token_last_four"] == "4f2a"
    assert token not in json.dumps(data)


def test_get_and_list_show_the_same_connection(api: TestClient, sandbox: Any) -> None:
    created = _create(api, connection_payload(sandbox))

    shown = api.get(f"/api/v1/connections/{created['id']}").json()["data"]
    listed = api.get("/api/v1/connections").json()["data"]

    assert shown == created
    assert [item["id"] for item in listed] == [created["id"]]


def test_unknown_connection_is_404_in_the_error_envelope(api: TestClient) -> None:
    response = api.get("/api/v1/connections/does-not-exist")

    assert response.status_code == 404
    assert response.json()["success"] is False
    assert "does-not-exist" in response.json()["message"]


def test_create_names_every_invalid_field_with_422(api: TestClient, sandbox: Any) -> None:
    payload = connection_payload(sandbox)
    payload["jira"]["auth"]["email"] = "not-an-email"
    payload["settings"]["after_associate"] = "sometimes"
    del payload["salesforce"]["auth"]["client_secret"]

    response = api.post("/api/v1/connections", json=payload)

    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert "jira.auth.basic.email" in fields
    assert "settings.after_associate" in fields
    assert "salesforce.auth.client_credentials.client_secret" in fields


def test_create_refuses_unknown_keys_so_typos_are_not_ignored(
    api: TestClient, sandbox: Any
) -> None:
    payload = connection_payload(sandbox)
    payload["jira"]["auth"]["api_tokn"] = "typo"

    response = api.post("/api/v1/connections", json=payload)

    assert response.status_code == 422
    assert any("api_tokn" in (error["field"] or "") for error in response.json()["errors"])


@pytest.mark.parametrize(
    ("field", "url", "reason"),
    [
        ("jira.url", "http://sandbox.atlassian.net", "plain http"),
        ("jira.url", "https://127.0.0.1", "127.0.0.1"),
        ("jira.url", "https://evil.example.com", "not a Jira Cloud or Salesforce host"),
        ("salesforce.url", "https://169.254.169.254", "metadata"),
        ("salesforce.url", "https://user@login.salesforce.com", "user information"),
    ],
)
def test_create_refuses_urls_the_outbound_guard_rejects(
    api: TestClient, sandbox: Any, field: str, url: str, reason: str
) -> None:
    payload = connection_payload(sandbox)
    section = field.split(".")[0]
    payload[section]["url"] = url

    response = api.post("/api/v1/connections", json=payload)

    assert response.status_code == 422
    body = response.json()
    assert body["errors"][0]["field"] == field
    assert reason in body["message"]
    assert api.get("/api/v1/connections").json()["data"] == []


def test_site_urls_are_reduced_to_their_origin(api: TestClient, sandbox: Any) -> None:
    payload = connection_payload(sandbox)
    payload["jira"]["url"] = "https://SANDBOX.atlassian.net/jira/your-work"

    data = _create(api, payload)

    assert data["jira"]["url"] == "https://sandbox.atlassian.net"


def test_invalid_salesforce_private_key_is_422_naming_the_field(
    api: TestClient, sandbox: Any
) -> None:
    payload = connection_payload(sandbox, salesforce_auth="jwt")
    payload["salesforce"]["auth"]["private_key"] = (
        "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"
    )

    response = api.post("/api/v1/connections", json=payload)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "salesforce.auth.private_key", "message": "is not an unencrypted PEM private key"}
    ]
    assert "nope" not in response.text


def test_second_connection_with_the_same_name_is_409(api: TestClient, sandbox: Any) -> None:
    _create(api, connection_payload(sandbox))

    response = api.post("/api/v1/connections", json=connection_payload(sandbox))

    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "name"


def test_update_changes_settings_and_keeps_credentials_not_given(
    api: TestClient, sandbox: Any, container: Any
) -> None:
    created = _create(api, connection_payload(sandbox))

    response = api.patch(
        f"/api/v1/connections/{created['id']}",
        json={"name": "Renamed", "settings": {"allow_auto_push": False, "sync_attachments": False}},
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["name"] == "Renamed"
    assert data["settings"]["allow_auto_push"] is False
    assert data["settings"]["sync_attachments"] is False
    assert data["settings"]["allow_auto_pull"] is True
    with container.session() as session:
        stored = session.get(Connection, created["id"])
        assert (
            read_credentials(container, stored, "jira")["api_token"]
            == sandbox.jira.credentials["api_token"]
        )


def test_update_with_new_auth_replaces_that_sides_secrets(
    api: TestClient, sandbox: Any, container: Any
) -> None:
    created = _create(api, connection_payload(sandbox))
    jwt_auth = connection_payload(sandbox, salesforce_auth="jwt")["salesforce"]["auth"]

    response = api.patch(
        f"/api/v1/connections/{created['id']}", json={"salesforce": {"auth": jwt_auth}}
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["salesforce"]["auth"]["type"] == "jwt"
    assert response.json()["data"]["salesforce"]["auth"]["has_client_secret"] is False
    with container.session() as session:
        stored = session.get(Connection, created["id"])
        credentials = read_credentials(container, stored, "salesforce")
    assert set(credentials) == {"client_id", "username", "private_key"}


def test_update_refuses_a_bad_url_and_changes_nothing(api: TestClient, sandbox: Any) -> None:
    created = _create(api, connection_payload(sandbox))

    response = api.patch(
        f"/api/v1/connections/{created['id']}",
        json={"name": "New", "jira": {"url": "https://10.0.0.1"}},
    )

    assert response.status_code == 422
    assert api.get(f"/api/v1/connections/{created['id']}").json()["data"]["name"] == "Sandbox"


def test_delete_removes_the_connection(api: TestClient, sandbox: Any) -> None:
    created = _create(api, connection_payload(sandbox))

    assert api.delete(f"/api/v1/connections/{created['id']}").status_code == 200
    assert api.get(f"/api/v1/connections/{created['id']}").status_code == 404
    assert api.delete(f"/api/v1/connections/{created['id']}").status_code == 404


def test_credentials_copied_to_another_connection_do_not_decrypt(
    api: TestClient, sandbox: Any, container: Any
) -> None:
    first = _create(api, connection_payload(sandbox, name="First"))
    second = _create(api, connection_payload(sandbox, name="Second"))
    with container.session() as session:
        source = session.get(Connection, first["id"])
        target = session.get(Connection, second["id"])
        target.jira_credentials = source.jira_credentials

    with container.session() as session, pytest.raises(ConfigurationError):
        read_credentials(container, session.get(Connection, second["id"]), "jira")


def test_a_connection_whose_secrets_cannot_be_decrypted_still_lists(
    api: TestClient, sandbox: Any, container: Any
) -> None:
    created = _create(api, connection_payload(sandbox))
    with container.session() as session:
        session.get(Connection, created["id"]).jira_credentials = "not-a-ciphertext"

    response = api.get("/api/v1/connections")

    assert response.status_code == 200
    assert response.json()["data"][0]["jira"]["auth"]["has_api_token"] is False
