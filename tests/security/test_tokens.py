"""API access tokens: lifespan bounds, time claims under a frozen clock, and forgeries.

Every refusal must carry the same message, so a caller learns nothing about why (no oracle).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from forcebridge.errors import Unauthenticated, ValidationFailed
from forcebridge.security.tokens import (
    AUDIENCE,
    LEEWAY,
    MAX_LIFESPAN,
    MIN_LIFESPAN,
    TOKEN_TYPE,
    UNAUTHENTICATED_MESSAGE,
    TokenIssuer,
    generate_signing_key,
    hash_token,
    parse_authorization_header,
)

ISSUER = "forcebridge:test-installation"
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class FrozenClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def key() -> bytes:
    return generate_signing_key()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def issuer(key: bytes, clock: FrozenClock) -> TokenIssuer:
    return TokenIssuer(key, ISSUER, clock=clock)


def claims_for(now: datetime, **overrides: Any) -> dict[str, Any]:
    base = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "connection-1",
        "jti": "a" * 32,
        "iat": base,
        "nbf": base,
        "exp": base + 3600,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def forge(
    claims: dict[str, Any],
    key: bytes | str,
    *,
    algorithm: str = "HS256",
    headers: dict[str, Any] | None = None,
) -> str:
    return jwt.encode(
        claims, key, algorithm=algorithm, headers={"typ": TOKEN_TYPE, **(headers or {})}
    )


def segment(document: object) -> str:
    raw = json.dumps(document).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_refused(issuer: TokenIssuer, token: Any) -> None:
    with pytest.raises(Unauthenticated) as raised:
        issuer.verify(token)
    assert raised.value.message == UNAUTHENTICATED_MESSAGE
    assert raised.value.status_code == 401


# --- issuance ---------------------------------------------------------------------------------


def test_issued_token_verifies_and_names_its_connection(issuer: TokenIssuer) -> None:
    issued = issuer.issue("connection-7", timedelta(days=30))
    claims = issuer.verify(issued.token)
    assert claims.connection_id == "connection-7"
    assert claims.jti == issued.jti
    assert claims.issued_at == START
    assert claims.expires_at == START + timedelta(days=30) == issued.expires_at


def test_issued_token_carries_hash_and_last_four_for_storage(issuer: TokenIssuer) -> None:
    issued = issuer.issue("connection-7", MIN_LIFESPAN)
    assert issued.token_hash == hash_token(issued.token)
    assert len(issued.token_hash) == 64
    assert issued.last_four == issued.token[-4:]
    assert issued.token not in repr(issued.token_hash)


def test_issued_tokens_have_distinct_ids(issuer: TokenIssuer) -> None:
    jtis = {issuer.issue("c", MIN_LIFESPAN).jti for _ in range(50)}
    assert len(jtis) == 50


def test_issued_token_header_is_pinned_to_hs256_and_our_type(issuer: TokenIssuer) -> None:
    header = jwt.get_unverified_header(issuer.issue("c", MIN_LIFESPAN).token)
    assert header == {"alg": "HS256", "typ": TOKEN_TYPE}


@pytest.mark.parametrize("lifespan", [MIN_LIFESPAN, MAX_LIFESPAN, timedelta(hours=1)])
def test_lifespan_at_or_inside_the_bounds_is_accepted(
    issuer: TokenIssuer, lifespan: timedelta
) -> None:
    issued = issuer.issue("c", lifespan)
    decoded = jwt.decode(issued.token, options={"verify_signature": False})
    assert decoded["exp"] - decoded["iat"] == lifespan.total_seconds()


@pytest.mark.parametrize(
    "lifespan",
    [
        timedelta(minutes=14, seconds=59),
        MAX_LIFESPAN + timedelta(seconds=1),
        timedelta(0),
        timedelta(seconds=-900),
    ],
)
def test_lifespan_outside_the_bounds_is_refused_naming_both_bounds(
    issuer: TokenIssuer, lifespan: timedelta
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        issuer.issue("c", lifespan)
    assert "15 minutes" in raised.value.message
    assert "365 days" in raised.value.message
    assert raised.value.status_code == 422


def test_short_signing_key_is_a_configuration_error() -> None:
    from forcebridge.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        TokenIssuer(b"short", ISSUER)


# --- time claims under a frozen clock ---------------------------------------------------------


def test_token_is_valid_until_expiry_plus_leeway(issuer: TokenIssuer, clock: FrozenClock) -> None:
    issued = issuer.issue("c", MIN_LIFESPAN)
    clock.advance(MIN_LIFESPAN + LEEWAY - timedelta(seconds=1))
    assert issuer.verify(issued.token).jti == issued.jti


def test_token_is_refused_from_expiry_plus_leeway(issuer: TokenIssuer, clock: FrozenClock) -> None:
    issued = issuer.issue("c", MIN_LIFESPAN)
    clock.advance(MIN_LIFESPAN + LEEWAY)
    assert_refused(issuer, issued.token)


def test_token_not_yet_valid_beyond_leeway_is_refused(
    issuer: TokenIssuer, key: bytes, clock: FrozenClock
) -> None:
    later = START + LEEWAY + timedelta(seconds=1)
    token = forge(claims_for(later, exp=int(later.timestamp()) + 3600), key)
    assert_refused(issuer, token)


def test_token_from_slightly_fast_clock_within_leeway_is_accepted(
    issuer: TokenIssuer, key: bytes
) -> None:
    later = START + LEEWAY - timedelta(seconds=1)
    token = forge(claims_for(later), key)
    assert issuer.verify(token).connection_id == "connection-1"


def test_token_issued_in_the_future_is_refused(issuer: TokenIssuer, key: bytes) -> None:
    base = int(START.timestamp())
    assert_refused(issuer, forge(claims_for(START, iat=base + 61), key))


@pytest.mark.parametrize("missing", ["exp", "iat", "nbf", "jti", "sub", "iss", "aud"])
def test_token_missing_a_required_claim_is_refused(
    issuer: TokenIssuer, key: bytes, missing: str
) -> None:
    assert_refused(issuer, forge(claims_for(START, **{missing: None}), key))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": float("nan")},
        {"exp": 1e308},
        {"exp": "tomorrow"},
        {"exp": True},
        {"iat": [1]},
        {"sub": ["connection-1"]},
        {"sub": ""},
        {"jti": {"a": 1}},
        {"aud": [AUDIENCE, "other"]},
        {"exp": int(START.timestamp()) + int(MAX_LIFESPAN.total_seconds()) + 60},
    ],
)
def test_token_with_odd_claim_values_is_refused(
    issuer: TokenIssuer, key: bytes, overrides: dict[str, Any]
) -> None:
    assert_refused(issuer, forge(claims_for(START, **overrides), key))


# --- forgeries --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "nOnE", "NONE"])
def test_unsigned_alg_none_token_is_refused(issuer: TokenIssuer, alg: str) -> None:
    header = segment({"alg": alg, "typ": TOKEN_TYPE})
    payload = segment(claims_for(START))
    assert_refused(issuer, f"{header}.{payload}.")
    assert_refused(issuer, f"{header}.{payload}.c2lnbmF0dXJl")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_token_signed_with_our_key_but_another_hmac_algorithm_is_refused(
    clock: FrozenClock, algorithm: str
) -> None:
    long_key = generate_signing_key() * 2  # long enough for HS512 without library warnings
    issuer = TokenIssuer(long_key, ISSUER, clock=clock)
    assert_refused(issuer, forge(claims_for(START), long_key, algorithm=algorithm))


def test_rs256_token_is_refused(issuer: TokenIssuer) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_refused(issuer, forge(claims_for(START), private_key, algorithm="RS256"))  # type: ignore[arg-type]


def test_tampered_payload_is_refused(issuer: TokenIssuer) -> None:
    header, _, signature = issuer.issue("connection-a", MIN_LIFESPAN).token.split(".")
    assert_refused(issuer, f"{header}.{segment(claims_for(START, sub='connection-b'))}.{signature}")


def test_tampered_signature_is_refused(issuer: TokenIssuer) -> None:
    token = issuer.issue("c", MIN_LIFESPAN).token
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert_refused(issuer, flipped)


@pytest.mark.parametrize(
    "headers",
    [
        {"typ": "JWT"},
        {"typ": "forcebridge-oauth-state+jwt"},
        {"kid": "../../etc/passwd"},
        {"kid": "' OR 1=1--"},
        {"jku": "https://127.0.0.1:9/keys"},
        {"x5u": "https://127.0.0.1:9/cert"},
        {"jwk": {"kty": "oct", "k": "AAAA"}},
        {"crit": ["exp"]},
    ],
)
def test_token_with_a_foreign_type_or_key_source_header_is_refused(
    issuer: TokenIssuer, key: bytes, headers: dict[str, Any]
) -> None:
    assert_refused(issuer, forge(claims_for(START), key, headers=headers))


def test_token_without_typ_is_refused(issuer: TokenIssuer, key: bytes) -> None:
    token = jwt.encode(claims_for(START), key, algorithm="HS256", headers={"typ": None})
    assert_refused(issuer, token)


@pytest.mark.parametrize("overrides", [{"iss": "forcebridge:other"}, {"aud": "other-api"}])
def test_token_for_another_issuer_or_audience_is_refused(
    issuer: TokenIssuer, key: bytes, overrides: dict[str, str]
) -> None:
    assert_refused(issuer, forge(claims_for(START, **overrides), key))


def test_token_from_another_installation_is_refused(
    issuer: TokenIssuer, clock: FrozenClock
) -> None:
    other = TokenIssuer(generate_signing_key(), ISSUER, clock=clock)
    assert_refused(issuer, other.issue("connection-1", MIN_LIFESPAN).token)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        "eyJhbGciOiJIUzI1NiJ9.not-json.sig",
        f"{segment(['alg'])}.{segment({})}.sig",
        f"{segment('string')}.{segment({})}.sig",
        "é.é.é",
        "\x00.\x00.\x00",
        None,
        12345,
    ],
)
def test_malformed_token_is_refused(issuer: TokenIssuer, token: Any) -> None:
    assert_refused(issuer, token)


def test_oversized_token_is_refused_before_parsing(issuer: TokenIssuer, key: bytes) -> None:
    padded = forge(claims_for(START, padding="x" * 4096), key)
    assert len(padded) > 4096
    assert_refused(issuer, padded)
    assert_refused(issuer, "a" * (1024 * 1024))


def test_deeply_nested_payload_is_refused(issuer: TokenIssuer) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    payload = base64.urlsafe_b64encode(nested.encode()).rstrip(b"=").decode()
    assert_refused(issuer, f"{segment({'alg': 'HS256', 'typ': TOKEN_TYPE})}.{payload}.sig")


@settings(max_examples=300)
@given(st.text(max_size=600))
def test_arbitrary_text_only_ever_raises_the_one_unauthenticated_error(text: str) -> None:
    issuer = TokenIssuer(b"k" * 32, ISSUER, clock=lambda: START)
    with pytest.raises(Unauthenticated) as raised:
        issuer.verify(text)
    assert raised.value.message == UNAUTHENTICATED_MESSAGE


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.sampled_from(["alg", "typ", "kid", "crit"]),
        st.one_of(st.text(max_size=10), st.integers(), st.none(), st.lists(st.integers())),
    ),
    st.dictionaries(
        st.sampled_from(["iss", "aud", "sub", "jti", "iat", "nbf", "exp"]),
        st.one_of(
            st.text(max_size=10),
            st.integers(),
            st.floats(),
            st.none(),
            st.booleans(),
            st.lists(st.integers(), max_size=3),
        ),
    ),
)
def test_structurally_valid_forgeries_only_raise_unauthenticated(
    header: dict[str, Any], payload: dict[str, Any]
) -> None:
    issuer = TokenIssuer(b"k" * 32, ISSUER, clock=lambda: START)
    with pytest.raises(Unauthenticated):
        issuer.verify(f"{segment(header)}.{segment(payload)}.c2ln")


# --- the Authorization header -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["JWT abc.def.ghi", "jwt abc.def.ghi", "Bearer abc.def.ghi", "BEARER abc.def.ghi"]
)
def test_authorization_header_with_jwt_or_bearer_scheme_yields_the_token(value: str) -> None:
    assert parse_authorization_header(value) == "abc.def.ghi"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "JWT",
        "JWT ",
        "abc.def.ghi",
        "Basic dXNlcjpwYXNz",
        "Token abc.def.ghi",
        "JWT  abc.def.ghi",
        "JWT\tabc.def.ghi",
        " JWT abc.def.ghi",
        "JWT abc.def.ghi ",
        "JWT abc.def.ghi extra",
        "JWT abc,def",
        "JWT abc.def.ghi\n",
        "JWTabc.def.ghi",
        "JWT=abc.def.ghi",
        "JWT " + "a" * 5000,
        "Bearer\u00a0abc.def.ghi",
    ],
)
def test_any_other_authorization_header_shape_is_refused_with_the_same_message(
    value: str | None,
) -> None:
    with pytest.raises(Unauthenticated) as raised:
        parse_authorization_header(value)
    assert raised.value.message == UNAUTHENTICATED_MESSAGE


@given(st.text(max_size=200))
def test_authorization_header_parsing_never_raises_anything_else(value: str) -> None:
    try:
        token = parse_authorization_header(value)
    except Unauthenticated:
        return
    assert value.split(" ", 1)[1] == token


def test_a_naive_clock_is_a_configuration_error_not_a_silent_timezone_shift(key: bytes) -> None:
    from forcebridge.errors import ConfigurationError

    naive = TokenIssuer(key, ISSUER, clock=lambda: datetime(2026, 3, 1, 12, 0, 0))
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        naive.issue("c", MIN_LIFESPAN)
