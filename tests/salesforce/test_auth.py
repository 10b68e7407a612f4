"""Salesforce sign-in: three grants, rotation, single-flight, one re-auth on INVALID_SESSION_ID."""

from __future__ import annotations

import threading
import time
import urllib.parse
from functools import cache

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from forcebridge.errors import (
    ConfigurationError,
    InvalidInput,
    NeedsAdminAction,
    TransientExternalError,
)
from forcebridge.salesforce.auth import (
    ClientCredentialsGrant,
    JwtBearerGrant,
    RefreshTokenGrant,
    SalesforceAuth,
)
from forcebridge.salesforce.client import SalesforceClient

INSTANCE = "https://acme.my.salesforce.com"
TOKEN_URL = f"{INSTANCE}/services/oauth2/token"
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


@cache
def rsa_key_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class FakeOrg:
    """A token endpoint (rotating refresh tokens) and one REST resource that checks the session."""

    def __init__(self, *, token_latency: float = 0.0) -> None:
        self.refresh_token = "refresh-0"
        self.sessions: set[str] = set()
        self.token_forms: list[dict[str, str]] = []
        self.api_calls = 0
        self.token_latency = token_latency
        self.always_invalid_session = False
        self.limit_exceeded = False
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/services/oauth2/token":
            return self.token(request)
        self.api_calls += 1
        if self.limit_exceeded:
            return httpx2.Response(
                403,
                json=[
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
            )
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.always_invalid_session or bearer not in self.sessions:
            return httpx2.Response(401, json=INVALID_SESSION, headers={"WWW-Authenticate": "Token"})
        return httpx2.Response(200, json={"DailyApiRequests": {"Max": 15000, "Remaining": 14999}})

    def token(self, request: httpx2.Request) -> httpx2.Response:
        time.sleep(self.token_latency)
        with self._lock:
            form = dict(urllib.parse.parse_qsl(request.content.decode()))
            self.token_forms.append(form)
            if form["grant_type"] == "refresh_token":
                if form["refresh_token"] != self.refresh_token:
                    return httpx2.Response(
                        400,
                        json={
                            "error": "invalid_grant",
                            "error_description": "expired access/refresh token",
                        },
                    )
                self.refresh_token = f"refresh-{len(self.token_forms)}"
            session = f"session-{len(self.token_forms)}"
            self.sessions = {session}
            body = {"access_token": session, "instance_url": INSTANCE, "token_type": "Bearer"}
            if form["grant_type"] == "refresh_token":
                body["refresh_token"] = self.refresh_token
            return httpx2.Response(200, json=body)


def client_for(org: FakeOrg, auth: SalesforceAuth) -> httpx2.Client:
    return httpx2.Client(base_url=INSTANCE, transport=httpx2.MockTransport(org), auth=auth)


def refresh_grant(stored: list[str]) -> RefreshTokenGrant:
    return RefreshTokenGrant(TOKEN_URL, "client", "secret", "refresh-0", stored.append)


def test_refresh_token_grant_persists_the_rotated_token_and_exposes_the_instance_url() -> None:
    org, stored = FakeOrg(), []
    auth = SalesforceAuth(refresh_grant(stored))
    assert client_for(org, auth).get("/services/data/v62.0/limits/").status_code == 200
    assert stored == ["refresh-1"]
    assert auth.instance_url == INSTANCE
    assert org.token_forms[0] == {
        "grant_type": "refresh_token",
        "client_id": "client",
        "client_secret": "secret",
        "refresh_token": "refresh-0",
    }


def test_rotated_token_is_persisted_before_the_session_is_used() -> None:
    org = FakeOrg()
    seen: list[tuple[str, int]] = []
    grant = RefreshTokenGrant(
        TOKEN_URL, "client", None, "refresh-0", lambda t: seen.append((t, org.api_calls))
    )
    client_for(org, SalesforceAuth(grant)).get("/services/data/v62.0/limits/")
    assert seen == [("refresh-1", 0)]
    assert "client_secret" not in org.token_forms[0]


def test_session_is_reused_across_calls() -> None:
    org = FakeOrg()
    http = client_for(org, SalesforceAuth(refresh_grant([])))
    for _ in range(3):
        http.get("/services/data/v62.0/limits/")
    assert len(org.token_forms) == 1


def test_invalid_session_signs_in_again_once_and_retries() -> None:
    org = FakeOrg()
    auth = SalesforceAuth(refresh_grant([]))
    http = client_for(org, auth)
    http.get("/services/data/v62.0/limits/")
    org.sessions = set()  # the org expired the session
    assert http.get("/services/data/v62.0/limits/").status_code == 200
    assert auth.sign_in_count == 2
    assert org.api_calls == 3


def test_a_second_invalid_session_is_needs_admin_action() -> None:
    org = FakeOrg()
    org.always_invalid_session = True
    auth = SalesforceAuth(refresh_grant([]))
    client = SalesforceClient(client_for(org, auth))
    with pytest.raises(NeedsAdminAction) as caught:
        client.limits()
    assert caught.value.code == "INVALID_SESSION_ID"
    assert auth.sign_in_count == 2
    assert org.api_calls == 2


def test_request_limit_exceeded_does_not_sign_in_again() -> None:
    org = FakeOrg()
    org.limit_exceeded = True
    auth = SalesforceAuth(refresh_grant([]))
    with pytest.raises(TransientExternalError):
        SalesforceClient(client_for(org, auth)).limits()
    assert auth.sign_in_count == 1


def test_concurrent_calls_share_one_sign_in() -> None:
    org = FakeOrg(token_latency=0.05)
    stored: list[str] = []
    http = client_for(org, SalesforceAuth(refresh_grant(stored)))
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: statuses.append(http.get("/services/data/v62.0/limits/").status_code)
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert len(org.token_forms) == 1
    assert stored == ["refresh-1"]


def test_concurrent_invalid_sessions_share_one_re_sign_in() -> None:
    org = FakeOrg(token_latency=0.05)
    auth = SalesforceAuth(refresh_grant([]))
    http = client_for(org, auth)
    http.get("/services/data/v62.0/limits/")
    org.sessions = set()
    threads = [
        threading.Thread(target=lambda: http.get("/services/data/v62.0/limits/")) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert auth.sign_in_count == 2


def test_invalid_grant_is_needs_admin_action() -> None:
    org = FakeOrg()
    org.refresh_token = "revoked"
    with pytest.raises(NeedsAdminAction) as caught:
        client_for(org, SalesforceAuth(refresh_grant([]))).get("/services/data/v62.0/limits/")
    assert caught.value.code == "invalid_grant"
    assert "refresh-0" not in caught.value.message and "secret" not in caught.value.message


def test_jwt_bearer_grant_signs_the_documented_claims() -> None:
    private, public = rsa_key_pem()
    org = FakeOrg()
    grant = JwtBearerGrant("https://login.salesforce.com", "consumer-key", "int@acme.com", private)
    auth = SalesforceAuth(grant, clock=lambda: 1_800_000_000.0)
    client_for(org, auth).get("/services/data/v62.0/limits/")
    form = org.token_forms[0]
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(
        form["assertion"],
        public,
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "consumer-key",
        "sub": "int@acme.com",
        "aud": "https://login.salesforce.com",
        "exp": 1_800_000_180,
    }
    assert private not in repr(grant)


def test_jwt_with_an_unusable_key_needs_admin_action() -> None:
    grant = JwtBearerGrant("https://login.salesforce.com", "k", "u", "not a pem")
    with pytest.raises(NeedsAdminAction, match="private key"):
        client_for(FakeOrg(), SalesforceAuth(grant)).get("/services/data/v62.0/limits/")


def test_client_credentials_grant_posts_id_and_secret() -> None:
    org = FakeOrg()
    grant = ClientCredentialsGrant(TOKEN_URL, "client", "secret")
    client_for(org, SalesforceAuth(grant)).get("/services/data/v62.0/limits/")
    assert org.token_forms[0] == {
        "grant_type": "client_credentials",
        "client_id": "client",
        "client_secret": "secret",
    }
    assert "secret" not in repr(grant)


def test_client_credentials_refuse_the_generic_login_host() -> None:
    with pytest.raises(InvalidInput, match="My Domain"):
        SalesforceAuth(
            ClientCredentialsGrant("https://login.salesforce.com/services/oauth2/token", "c", "s")
        )


def test_token_requests_can_go_through_a_separate_client() -> None:
    org = FakeOrg()
    login = httpx2.Client(transport=httpx2.MockTransport(org))
    auth = SalesforceAuth(refresh_grant([]), http=login)
    assert client_for(org, auth).get("/services/data/v62.0/limits/").status_code == 200
    assert len(org.token_forms) == 1


def test_sign_in_reveals_the_instance_url_before_any_data_call() -> None:
    org = FakeOrg()
    auth = SalesforceAuth(
        refresh_grant([]), http=httpx2.Client(transport=httpx2.MockTransport(org))
    )
    assert auth.sign_in() == INSTANCE
    assert auth.sign_in() == INSTANCE  # the session is kept
    assert (len(org.token_forms), org.api_calls) == (1, 0)
    assert client_for(org, auth).get("/services/data/v62.0/limits/").status_code == 200
    assert len(org.token_forms) == 1


def test_sign_in_without_a_login_client_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        SalesforceAuth(refresh_grant([])).sign_in()
