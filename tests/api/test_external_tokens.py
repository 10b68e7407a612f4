"""API tokens as the external API sees them: one 401 body for every way a token can be wrong.

Each case sends a request that a valid token would get a 200 for; every failure kind (missing,
malformed, oversized, forged, expired, revoked, another installation's, a deleted connection's)
must answer 401 with the same body, so a caller learns nothing about why (no oracle), and never
a 5xx.
"""

from __future__ import annotations

import base64
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import time_machine
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.warnings import InsecureKeyLengthWarning

from associations.builders import auth_headers, create_associable_connection, issue_token
from forcebridge.connections.service import delete_connection
from forcebridge.security.tokens import TOKEN_TYPE, TokenIssuer, generate_signing_key
from forcebridge.tokens.service import revoke_all_tokens, revoke_token

# A numeric issue id is answered from the database alone: these tests exercise only the token.
PROTECTED = "/external/api/associations?jiraIssueId=10004"


def _segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    return _decode(header), _decode(payload), signature


def _decode(segment: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _encode(part: dict[str, Any]) -> str:
    raw = json.dumps(part, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _refusal(response: Any) -> dict[str, Any]:
    """The 401 body without its request id (which differs per request by design)."""
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("JWT")
    body = dict(response.json())
    body.pop("request_id", None)
    return body


@pytest.fixture
def reference_refusal(client) -> dict[str, Any]:
    return _refusal(client.get(PROTECTED))


def test_valid_token_is_accepted_with_jwt_and_bearer_schemes(client, caller):
    jwt_scheme = client.get(PROTECTED, headers={"Authorization": f"JWT {caller.token}"})
    bearer_scheme = client.get(PROTECTED, headers={"Authorization": f"Bearer {caller.token}"})

    assert (jwt_scheme.status_code, bearer_scheme.status_code) == (200, 200)


def test_malformed_and_oversized_headers_get_the_same_401_body(client, caller, reference_refusal):
    headers = [
        "JWT",
        "JWT ",
        "JWT a b",
        f"JWT  {caller.token}",
        f"JWT {caller.token} extra",
        "Basic dXNlcjpwYXNzd29yZA==",
        f"Basic {caller.token}",
        f"Token {caller.token}",
        caller.token,
        "JWT " + "a" * 10_240,
        "JWT " + caller.token + "." + "A" * 10_000,
        "JWT a.b",
        "JWT a.b.c.d",
        "JWT !!!.???.***",
        "JWT ....",
        "JWT eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln",
    ]
    for value in headers:
        response = client.get(PROTECTED, headers={"Authorization": value})
        assert _refusal(response) == reference_refusal, value


def test_token_in_query_string_or_cookie_is_not_read(client, caller, reference_refusal):
    in_query = client.get(f"{PROTECTED}&token={caller.token}")
    client.cookies.set("Authorization", f"JWT {caller.token}")
    in_cookie = client.get(PROTECTED)
    client.cookies.clear()

    assert _refusal(in_query) == reference_refusal
    assert _refusal(in_cookie) == reference_refusal


def test_forged_algorithms_are_refused(client, container, caller, reference_refusal):
    header, payload, signature = _segments(caller.token)
    # Test-only reach into the issuer: forging with the real key proves the algorithm is pinned.
    real_key = container.token_issuer._signing_key
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    none_variants = [
        f"{_encode({**header, 'alg': alg})}.{_encode(payload)}.{suffix}"
        for alg in ("none", "None", "nOnE")
        for suffix in ("", signature)
    ]
    with warnings.catch_warnings():
        # PyJWT warns that a 32-byte key is short for HS384/HS512: that is the forger's problem.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        other_algorithms = [
            jwt.encode(payload, real_key, algorithm="HS384", headers={"typ": TOKEN_TYPE}),
            jwt.encode(payload, real_key, algorithm="HS512", headers={"typ": TOKEN_TYPE}),
            jwt.encode(payload, rsa_pem, algorithm="RS256", headers={"typ": TOKEN_TYPE}),
        ]
    extra_headers = [
        jwt.encode(payload, real_key, algorithm="HS256", headers={"typ": TOKEN_TYPE, **extra})
        for extra in (
            {"kid": "../../etc/passwd"},
            {"jku": "https://sandbox.atlassian.net/keys"},
            {"crit": ["exp"]},
        )
    ]
    wrong_type = [jwt.encode(payload, real_key, algorithm="HS256", headers={"typ": "JWT"})]
    for forged in none_variants + other_algorithms + extra_headers + wrong_type:
        response = client.get(PROTECTED, headers=auth_headers(forged))
        assert _refusal(response) == reference_refusal, forged


def test_tampered_signature_or_claims_are_refused(
    client, container, sandbox, caller, reference_refusal
):
    header, payload, signature = _segments(caller.token)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    other = create_associable_connection(container, sandbox, name="Connection B")
    tampered = [
        f"{_encode(header)}.{_encode(payload)}.{flipped}",
        f"{_encode(header)}.{_encode({**payload, 'sub': other.id})}.{signature}",
        f"{_encode(header)}.{_encode({**payload, 'exp': payload['exp'] + 86400})}.{signature}",
    ]
    for token in tampered:
        response = client.get(PROTECTED, headers=auth_headers(token))
        assert _refusal(response) == reference_refusal, token


def test_another_installations_token_is_refused(client, container, caller, reference_refusal):
    other_key = TokenIssuer(generate_signing_key(), "another-installation")
    same_key_other_issuer = TokenIssuer(container.token_issuer._signing_key, "another-installation")
    for issuer in (other_key, same_key_other_issuer):
        token = issuer.issue(caller.connection.id, timedelta(days=1)).token
        response = client.get(PROTECTED, headers=auth_headers(token))
        assert _refusal(response) == reference_refusal


def test_signed_token_that_was_never_stored_is_refused(
    client, container, caller, reference_refusal
):
    # Genuine signature and claims, but no ApiToken row: issued outside the token service.
    token = container.token_issuer.issue(caller.connection.id, timedelta(days=1)).token

    assert _refusal(client.get(PROTECTED, headers=auth_headers(token))) == reference_refusal


def test_expired_token_is_refused_with_a_frozen_clock(client, container, caller, reference_refusal):
    token = issue_token(container, caller.connection.id, timedelta(minutes=15))
    issued = datetime.now(UTC)

    with time_machine.travel(issued + timedelta(minutes=14), tick=False):
        still_valid = client.get(PROTECTED, headers=auth_headers(token))
    # 30 s of leeway after expiry, then refused.
    with time_machine.travel(issued + timedelta(minutes=15, seconds=32), tick=False):
        expired = client.get(PROTECTED, headers=auth_headers(token))

    assert still_valid.status_code == 200
    assert _refusal(expired) == reference_refusal


def test_revoked_token_is_refused_on_the_very_next_request(
    client, container, caller, reference_refusal
):
    token_row_id = _token_id(container, caller)
    assert client.get(PROTECTED, headers=caller.headers).status_code == 200

    with container.session() as session:
        revoke_token(session, caller.connection.id, token_row_id)

    assert _refusal(client.get(PROTECTED, headers=caller.headers)) == reference_refusal


def test_revoking_all_of_a_connections_tokens_leaves_other_connections_working(
    client, container, sandbox, caller, reference_refusal
):
    other = create_associable_connection(container, sandbox, name="Connection B")
    other_token = issue_token(container, other.id)

    with container.session() as session:
        revoke_all_tokens(session, caller.connection.id)

    assert _refusal(client.get(PROTECTED, headers=caller.headers)) == reference_refusal
    assert client.get(PROTECTED, headers=auth_headers(other_token)).status_code == 200


def test_token_of_a_deleted_connection_is_refused(client, container, sandbox, reference_refusal):
    doomed = create_associable_connection(container, sandbox, name="Doomed")
    token = issue_token(container, doomed.id)
    assert client.get(PROTECTED, headers=auth_headers(token)).status_code == 200

    delete_connection(container, doomed.id)

    assert _refusal(client.get(PROTECTED, headers=auth_headers(token))) == reference_refusal


def test_every_external_route_requires_a_token(client, reference_refusal):
    calls = [
        (
            "POST",
            "/external/api/association",
            {"jiraIssueId": "TEST-5", "son": "Case", "soid": "500000000000001"},
        ),
        ("POST", "/external/api/associations?jiraIssueId=TEST-5", {"associations": []}),
        ("GET", "/external/api/associations?jiraIssueId=TEST-5", None),
        ("GET", "/external/api/associations/abc", None),
        ("PATCH", "/external/api/associations/abc", {"autoPush": True}),
        ("DELETE", "/external/api/associations/abc", None),
        (
            "DELETE",
            "/external/api/association?jiraIssueId=TEST-5&son=Case&soid=500000000000001",
            None,
        ),
    ]
    for method, path, body in calls:
        response = client.request(method, path, json=body)
        assert _refusal(response) == reference_refusal, (method, path)


def _token_id(container, caller) -> str:
    from sqlalchemy import select

    from forcebridge.models import ApiToken

    with container.session() as session:
        return session.scalars(
            select(ApiToken.id).where(ApiToken.connection_id == caller.connection.id)
        ).one()
