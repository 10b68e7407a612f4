"""OAuth 2.0: JWT bearer, refresh token (with rotation), client credentials, expiry, revocation."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.salesforce import SalesforceSandbox

from .conftest import API

TOKEN_URL = "/services/oauth2/token"
BASE_URL = "http://testserver"


def assertion(sandbox: SalesforceSandbox, **overrides: object) -> str:
    claims: dict[str, object] = {
        "iss": sandbox.credentials["client_id"],
        "sub": sandbox.credentials["username"],
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 120,
    }
    claims.update(overrides)
    return jwt.encode(claims, sandbox.credentials["private_key_pem"], algorithm="RS256")


def jwt_grant(client: TestClient, token: str) -> object:
    return client.post(
        TOKEN_URL,
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": token},
    )


def test_jwt_bearer_issues_a_working_access_token_without_refresh_token(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    response = jwt_grant(anonymous, assertion(sandbox))

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["instance_url"] == BASE_URL
    assert (
        body["id"]
        == f"{BASE_URL}/id/{sandbox.credentials['organization_id']}/{sandbox.integration_user_id}"
    )
    assert "refresh_token" not in body
    assert {"access_token", "issued_at", "signature", "scope"} <= set(body)
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert anonymous.get(f"{API}/limits", headers=headers).status_code == 200


@pytest.mark.parametrize("audience", ["https://test.salesforce.com", BASE_URL])
def test_jwt_bearer_accepts_the_sandbox_and_own_url_audiences(
    anonymous: TestClient, sandbox: SalesforceSandbox, audience: str
) -> None:
    assert jwt_grant(anonymous, assertion(sandbox, aud=audience)).status_code == 200


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"aud": "https://evil.example.com"}, "invalid_grant"),
        ({"exp": int(time.time()) - 600}, "invalid_grant"),
        ({"exp": int(time.time()) + 3600}, "invalid_grant"),
        ({"sub": "nobody@example.com"}, "invalid_grant"),
        ({"iss": "someone-else"}, "invalid_client_id"),
    ],
)
def test_jwt_bearer_refuses_bad_claims(
    anonymous: TestClient, sandbox: SalesforceSandbox, overrides: dict, error: str
) -> None:
    response = jwt_grant(anonymous, assertion(sandbox, **overrides))

    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["error_description"]


def test_jwt_bearer_refuses_an_assertion_signed_with_another_key(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forged = jwt.encode(
        {
            "iss": sandbox.credentials["client_id"],
            "sub": sandbox.credentials["username"],
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 60,
        },
        other_key,
        algorithm="RS256",
    )

    assert jwt_grant(anonymous, forged).json() == {
        "error": "invalid_grant",
        "error_description": "invalid assertion",
    }


def test_jwt_bearer_refuses_a_symmetric_algorithm(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    forged = jwt.encode(
        {
            "iss": sandbox.credentials["client_id"],
            "sub": sandbox.credentials["username"],
            "aud": "https://login.salesforce.com",
            "exp": int(time.time()) + 60,
        },
        "a-shared-secret-of-enough-length-for-hs256",
        algorithm="HS256",
    )

    assert jwt_grant(anonymous, forged).status_code == 400


def test_refresh_token_grant_issues_a_new_access_token(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    credentials = sandbox.credentials
    response = anonymous.post(
        TOKEN_URL,
        data={
            "grant_type": "refresh_token",
            "refresh_token": credentials["refresh_token"],
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
        },
    )

    assert response.status_code == 200
    assert response.json()["access_token"] != credentials["access_token"]
    assert "refresh_token" not in response.json()  # no rotation by default


def test_refresh_token_rotation_issues_a_new_token_and_kills_the_old_one(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    credentials = sandbox.credentials
    anonymous.put("/__sandbox/salesforce/oauth/settings", json={"refresh_token_rotation": True})

    def refresh(token: str) -> object:
        return anonymous.post(
            TOKEN_URL,
            data={
                "grant_type": "refresh_token",
                "refresh_token": token,
                "client_id": credentials["client_id"],
            },
        )

    first = refresh(credentials["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != credentials["refresh_token"]

    reused = refresh(credentials["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert refresh(rotated).status_code == 200


def test_refresh_with_a_wrong_client_secret_is_refused(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    response = anonymous.post(
        TOKEN_URL,
        data={
            "grant_type": "refresh_token",
            "refresh_token": sandbox.credentials["refresh_token"],
            "client_id": sandbox.credentials["client_id"],
            "client_secret": "wrong",
        },
    )

    assert response.status_code == 400 and response.json()["error"] == "invalid_client"


def test_client_credentials_with_basic_auth_or_form_fields(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    client_id, secret = sandbox.credentials["client_id"], sandbox.credentials["client_secret"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    with_header = anonymous.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    with_form = anonymous.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    wrong = anonymous.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"},
    )

    assert with_header.status_code == 200 and with_form.status_code == 200
    assert "refresh_token" not in with_form.json()
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "form",
    [{}, {"grant_type": "password"}, {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"}],
)
def test_unsupported_or_incomplete_grants_are_400(anonymous: TestClient, form: dict) -> None:
    response = anonymous.post(TOKEN_URL, data=form)

    assert response.status_code == 400
    assert set(response.json()) == {"error", "error_description"}


def test_access_tokens_expire_after_their_lifetime() -> None:
    sandbox = SalesforceSandbox(access_token_lifetime_seconds=0, seed=False)
    try:
        with TestClient(sandbox.app) as client:
            response = client.get(
                f"{API}/limits",
                headers={"Authorization": f"Bearer {sandbox.credentials['access_token']}"},
            )
        assert response.status_code == 401
        assert response.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    finally:
        sandbox.close()


def test_operator_expires_every_token_then_refresh_recovers(
    client: TestClient, anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    assert anonymous.post("/__sandbox/salesforce/oauth/expire-tokens").json()["expired"] >= 1

    expired = client.get(f"{API}/limits")
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == "Token"
    refreshed = anonymous.post(
        TOKEN_URL,
        data={
            "grant_type": "refresh_token",
            "refresh_token": sandbox.credentials["refresh_token"],
            "client_id": sandbox.credentials["client_id"],
        },
    ).json()
    assert (
        anonymous.get(
            f"{API}/limits", headers={"Authorization": f"Bearer {refreshed['access_token']}"}
        ).status_code
        == 200
    )


def test_revoked_access_token_stops_working(
    client: TestClient, anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    assert (
        anonymous.post(
            "/services/oauth2/revoke", data={"token": sandbox.credentials["access_token"]}
        ).status_code
        == 200
    )

    assert client.get(f"{API}/limits").status_code == 401
