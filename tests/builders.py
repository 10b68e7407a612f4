"""Shared test builders: connections to the in-process sandboxes, admin users and API payloads.

Everything goes through the real services (and the sandbox over the real clients), so a builder
that works is itself evidence that the services do.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from forcebridge.connections.schemas import ConnectionCreate
from forcebridge.connections.service import create_connection
from forcebridge.container import Container
from forcebridge.mappings.schemas import BindingCreate, EntityMappingCreate
from forcebridge.mappings.service import create_binding, create_entity_mapping
from forcebridge.models import AdminUser, Connection

JIRA_SANDBOX_URL = "https://sandbox.atlassian.net"
SALESFORCE_SANDBOX_URL = "https://sandbox.my.salesforce.com"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "correct horse battery staple"
_CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def connection_payload(
    sandbox: Any,
    *,
    name: str = "Sandbox",
    salesforce_auth: str = "client_credentials",
    jira_api_token: str | None = None,
    salesforce_client_secret: str | None = None,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON an administrator would send to connect both sandboxes.

    ``salesforce_auth`` picks the grant (client_credentials, refresh_token or jwt); the secret
    overrides let tests use wrong or known values.
    """
    jira, salesforce = sandbox.jira.credentials, sandbox.salesforce.credentials
    secret = salesforce_client_secret or salesforce["client_secret"]
    salesforce_auths: dict[str, dict[str, Any]] = {
        "client_credentials": {
            "type": "client_credentials",
            "client_id": salesforce["client_id"],
            "client_secret": secret,
        },
        "refresh_token": {
            "type": "refresh_token",
            "client_id": salesforce["client_id"],
            "client_secret": secret,
            "refresh_token": salesforce["refresh_token"],
        },
        "jwt": {
            "type": "jwt",
            "client_id": salesforce["client_id"],
            "username": salesforce["username"],
            "private_key": salesforce["private_key_pem"],
        },
    }
    return {
        "name": name,
        "jira": {
            "url": JIRA_SANDBOX_URL,
            "auth": {
                "type": "basic",
                "email": jira["email"],
                "api_token": jira_api_token or jira["api_token"],
            },
        },
        "salesforce": {"url": SALESFORCE_SANDBOX_URL, "auth": salesforce_auths[salesforce_auth]},
        "settings": dict(settings or {}),
    }


def create_sandbox_connection(
    container: Container,
    sandbox: Any,
    *,
    name: str = "Sandbox",
    bind_projects: Iterable[str] = ("TEST",),
    objects: Iterable[str] = ("Case", "Opportunity", "Account"),
    **payload_options: Any,
) -> Connection:
    """A connection to both sandboxes with ``bind_projects`` bound and ``objects`` mapped for every
    issue type (with their default field mappings), all through the services."""
    connection = create_connection(
        container,
        ConnectionCreate.model_validate(connection_payload(sandbox, name=name, **payload_options)),
    )
    for project in bind_projects:
        binding = create_binding(container, connection.id, BindingCreate(jira_project=project))
        for salesforce_object in objects:
            create_entity_mapping(
                container,
                connection.id,
                binding.id,
                EntityMappingCreate(salesforce_object=salesforce_object),
            )
    return connection


def create_admin(
    container: Container, username: str = ADMIN_USERNAME, password: str = ADMIN_PASSWORD
) -> dict[str, str]:
    """Create an admin user and return the Authorization header for it.

    The stored hash is Argon2id with the cheapest parameters: verification reads the parameters
    from the hash, so every login in the suite stays fast while running the production check.
    ``create_admin_user`` (real parameters) has its own tests.
    """
    with container.session() as session:
        session.add(AdminUser(username=username, password_hash=_CHEAP_HASHER.hash(password)))
    return basic_auth_header(username, password)


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {encoded}"}


# -- fixtures shared by the admin, connections, tokens and mappings test packages ---------------
# (their conftest modules import these names, so pytest registers them there)


@pytest.fixture
def admin_headers(container: Container) -> dict[str, str]:
    return create_admin(container)


@pytest.fixture
def api(client: TestClient, admin_headers: dict[str, str]) -> TestClient:
    """The app's TestClient, authenticated as an admin."""
    client.headers.update(admin_headers)
    return client
