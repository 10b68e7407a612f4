"""The admin API requires an administrator's HTTP Basic credentials on every route."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from builders import ADMIN_PASSWORD, ADMIN_USERNAME, basic_auth_header
from forcebridge.admin.auth import create_admin_user
from forcebridge.errors import Conflict, ValidationFailed
from forcebridge.models import AdminUser
from forcebridge.security.passwords import hash_password, verify_password


def _admin_routes(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the admin API, from the OpenAPI document (what clients see)."""
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/v1"):
            concrete = re.sub(r"\{[^}]+\}", "some-id", path)
            routes.extend((method.upper(), concrete) for method in operations)
    return routes


def test_every_admin_route_answers_401_without_credentials(
    client: TestClient, app: Any, admin_headers: Any
) -> None:
    routes = _admin_routes(app)
    assert len(routes) >= 20

    for method, path in routes:
        response = client.request(method, path, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.json()["success"] is False
        assert response.headers["WWW-Authenticate"].startswith("Basic ")


@pytest.mark.parametrize(
    "headers",
    [
        basic_auth_header(ADMIN_USERNAME, "wrong password"),
        basic_auth_header("nobody", ADMIN_PASSWORD),
        basic_auth_header("", ""),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer something"},
    ],
)
def test_wrong_credentials_get_the_same_401(
    client: TestClient, admin_headers: Any, headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/connections", headers=headers)

    assert response.status_code == 401
    assert response.json()["message"].startswith("Admin authentication required")


def test_right_credentials_pass_and_record_the_login(
    client: TestClient, container: Any, admin_headers: Any
) -> None:
    response = client.get("/api/v1/connections", headers=admin_headers)

    assert response.status_code == 200
    with container.session() as session:
        user = session.query(AdminUser).one()
        assert user.last_login_at is not None


def test_a_changed_password_stops_the_old_one_at_once(
    client: TestClient, container: Any, admin_headers: Any
) -> None:
    assert client.get("/api/v1/connections", headers=admin_headers).status_code == 200
    with container.session() as session:
        session.query(AdminUser).one().password_hash = hash_password("a new password")

    assert client.get("/api/v1/connections", headers=admin_headers).status_code == 401
    new_headers = basic_auth_header(ADMIN_USERNAME, "a new password")
    assert client.get("/api/v1/connections", headers=new_headers).status_code == 200


def test_create_admin_user_stores_an_argon2_hash_only(container: Any) -> None:
    user = create_admin_user(container, "alice", "s3cret-passphrase")

    with container.session() as session:
        stored = session.get(AdminUser, user.id)
        assert stored.password_hash.startswith("$argon2id$")
        assert "s3cret-passphrase" not in stored.password_hash
        assert verify_password(stored.password_hash, "s3cret-passphrase")


def test_create_admin_user_refuses_duplicates_and_bad_usernames(container: Any) -> None:
    create_admin_user(container, "alice", "pw-one")

    with pytest.raises(Conflict):
        create_admin_user(container, "alice", "pw-two")
    for username in ("", "with space", "a:b", "x" * 151):
        with pytest.raises(ValidationFailed):
            create_admin_user(container, username, "pw")


def test_query_parameters_are_refused_not_ignored(client: TestClient, admin_headers: Any) -> None:
    response = client.get("/api/v1/connections?limt=5", headers=admin_headers)

    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "limt", "message": "unknown query parameter"}]
