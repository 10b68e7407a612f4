"""API access tokens: signed JWTs that authenticate external API calls for one connection.

This module only mints and checks tokens; the tokens service stores ``jti``, ``token_hash`` and
``last_four`` (never the token), and decides revocation. Choices, after RFC 8725 (JWT BCP):

- one algorithm per key, pinned: HS256 with a 256-bit random key (RFC 7518 §3.2); the header
  must be exactly ``{"alg": "HS256", "typ": TOKEN_TYPE}`` so ``alg: none``, RS256→HS256 key
  confusion, ``kid``/``jku``/``x5u`` injection and ``crit`` extensions are all refused;
- an explicit ``typ`` plus our own ``aud`` keep other JWTs we might mint (OAuth ``state``...)
  from being accepted as API tokens (RFC 8725 §3.11, §3.12);
- ``iss`` is this installation, so another installation's tokens fail even with a leaked key
  shape; ``exp``, ``nbf``, ``iat``, ``jti``, ``sub`` are all required, with 30 s of leeway;
- every failure raises :class:`~forcebridge.errors.Unauthenticated` with one identical message,
  so a caller cannot tell an expired token from a forged one (no oracle).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from forcebridge.errors import ConfigurationError, Unauthenticated, ValidationFailed

MIN_LIFESPAN = timedelta(minutes=15)
MAX_LIFESPAN = timedelta(days=365)
LEEWAY = timedelta(seconds=30)
TOKEN_TYPE = "forcebridge-api+jwt"
ALGORITHM = "HS256"
AUDIENCE = "forcebridge:external-api"
# Tokens are checked before any parsing; ours are ~300 bytes, and 4 KiB bounds the work an
# attacker can make us do per request.
MAX_TOKEN_BYTES = 4096
MIN_SIGNING_KEY_BYTES = 32
MAX_CLAIM_LENGTH = 200

UNAUTHENTICATED_MESSAGE = (
    "Authentication failed: send a valid, unexpired API token as 'Authorization: JWT <token>'."
)
UNAUTHENTICATED_HINT = "An administrator can issue a new API token for the connection."

_REQUIRED_CLAIMS = ("iss", "aud", "sub", "jti", "iat", "nbf", "exp")
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
_AUTHORIZATION_SHAPE = re.compile(r"^(?P<scheme>[A-Za-z]+) (?P<token>[A-Za-z0-9._~+/=-]+)$")
_ACCEPTED_SCHEMES = frozenset({"jwt", "bearer"})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly minted token. ``token`` is shown once; the rest is what gets stored."""

    token: str
    jti: str
    token_hash: str
    last_four: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says. The caller still checks that ``jti`` is stored and unrevoked."""

    jti: str
    connection_id: str
    issued_at: datetime
    expires_at: datetime


class TokenIssuer:
    """Mints and verifies the API tokens of one installation (one signing key, one issuer)."""

    def __init__(
        self, signing_key: bytes, issuer: str, clock: Callable[[], datetime] = utcnow
    ) -> None:
        if len(signing_key) < MIN_SIGNING_KEY_BYTES:
            raise ConfigurationError(
                f"The API token signing key must be at least {MIN_SIGNING_KEY_BYTES} bytes.",
                hint="Generate one with forcebridge.security.tokens.generate_signing_key().",
            )
        if not issuer:
            raise ConfigurationError("The API token issuer (instance id) must not be empty.")
        self._signing_key = signing_key
        self._issuer = issuer
        self._clock = clock

    def issue(self, connection_id: str, lifespan: timedelta) -> IssuedToken:
        """Mint a token for ``connection_id`` valid for ``lifespan`` (15 minutes to 365 days)."""
        if not MIN_LIFESPAN <= lifespan <= MAX_LIFESPAN:
            raise ValidationFailed(
                f"A token lifespan must be between {_describe(MIN_LIFESPAN)} and "
                f"{_describe(MAX_LIFESPAN)}; got {_describe(lifespan)}.",
                details={
                    "min_seconds": int(MIN_LIFESPAN.total_seconds()),
                    "max_seconds": int(MAX_LIFESPAN.total_seconds()),
                },
            )
        if not connection_id or len(connection_id) > MAX_CLAIM_LENGTH:
            raise ValidationFailed("A token needs a connection id of 1 to 200 characters.")
        issued_at = _whole_seconds(self._clock())
        expires_at = issued_at + timedelta(seconds=math.floor(lifespan.total_seconds()))
        jti = uuid.uuid4().hex
        claims = {
            "iss": self._issuer,
            "aud": AUDIENCE,
            "sub": connection_id,
            "jti": jti,
            "iat": int(issued_at.timestamp()),
            "nbf": int(issued_at.timestamp()),
            "exp": int(expires_at.timestamp()),
        }
        token = jwt.encode(
            claims, self._signing_key, algorithm=ALGORITHM, headers={"typ": TOKEN_TYPE}
        )
        return IssuedToken(
            token=token,
            jti=jti,
            token_hash=hash_token(token),
            last_four=token[-4:],
            issued_at=issued_at,
            expires_at=expires_at,
        )

    def verify(self, token: str) -> TokenClaims:
        """Return the claims of a genuine, current token or raise ``Unauthenticated``."""
        try:
            return self._verify(token)
        except Unauthenticated:
            raise
        except (
            jwt.PyJWTError,
            ValueError,
            TypeError,
            KeyError,
            OverflowError,
            RecursionError,
            binascii.Error,
        ):
            # The library's reason stays internal: every failure looks the same to the caller.
            raise _unauthenticated() from None

    def _verify(self, token: str) -> TokenClaims:
        if not isinstance(token, str) or not token:
            raise _unauthenticated()
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
            raise _unauthenticated()
        if not _TOKEN_SHAPE.fullmatch(token):
            raise _unauthenticated()
        _check_header(token.split(".", 1)[0])
        payload: dict[str, Any] = jwt.decode(
            token,
            self._signing_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=self._issuer,
            # Time claims are checked below against the injected clock, not the library's.
            options={
                "require": list(_REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
        if payload.get("aud") != AUDIENCE:
            # A list audience containing ours would pass the library's check; ours is a string.
            raise _unauthenticated()
        issued = _integer_claim(payload, "iat")
        not_before = _integer_claim(payload, "nbf")
        expires = _integer_claim(payload, "exp")
        now = _whole_seconds(self._clock()).timestamp()
        leeway = LEEWAY.total_seconds()
        if now >= expires + leeway or now < not_before - leeway or issued > now + leeway:
            raise _unauthenticated()
        lifespan = expires - issued
        if not MIN_LIFESPAN.total_seconds() <= lifespan <= MAX_LIFESPAN.total_seconds():
            raise _unauthenticated()
        jti = _string_claim(payload, "jti")
        connection_id = _string_claim(payload, "sub")
        return TokenClaims(
            jti=jti,
            connection_id=connection_id,
            issued_at=datetime.fromtimestamp(issued, UTC),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )


def hash_token(token: str) -> str:
    """SHA-256 hex of the token: tokens are high-entropy, so a fast hash is the right lookup key."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_signing_key() -> bytes:
    """A fresh 256-bit key from the OS CSPRNG (RFC 7518 §3.2 minimum for HS256)."""
    return secrets.token_bytes(MIN_SIGNING_KEY_BYTES)


def parse_authorization_header(value: str | None) -> str:
    """Extract the token from ``JWT <token>`` (SFJC's scheme) or ``Bearer <token>``.

    The scheme is case-insensitive; exactly one space; nothing else. Anything else raises the
    same ``Unauthenticated`` as a bad token.
    """
    if value is None or len(value) > MAX_TOKEN_BYTES + 16:
        raise _unauthenticated()
    match = _AUTHORIZATION_SHAPE.fullmatch(value)
    if match is None or match.group("scheme").lower() not in _ACCEPTED_SCHEMES:
        raise _unauthenticated()
    return match.group("token")


def _check_header(encoded_header: str) -> None:
    header = json.loads(_base64url_decode(encoded_header))
    if not isinstance(header, dict):
        raise _unauthenticated()
    # Exactly what we mint: no kid/jku/jwk/x5u/x5c (attacker-chosen key sources) and no crit.
    if set(header) != {"alg", "typ"}:
        raise _unauthenticated()
    if header["alg"] != ALGORITHM or header["typ"] != TOKEN_TYPE:
        raise _unauthenticated()


def _base64url_decode(segment: str) -> bytes:
    padded = segment + "=" * (-len(segment) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))


def _integer_claim(payload: dict[str, Any], name: str) -> int:
    value = payload[name]
    # bool is an int in Python, and JSON floats (NaN, 1e308) have no place in NumericDate here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise _unauthenticated()
    if not 0 <= value < 2**40:
        raise _unauthenticated()
    return value


def _string_claim(payload: dict[str, Any], name: str) -> str:
    value = payload[name]
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_LENGTH:
        raise _unauthenticated()
    return value


def _whole_seconds(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ConfigurationError("The token clock must return timezone-aware datetimes.")
    return datetime.fromtimestamp(math.floor(moment.timestamp()), UTC)


def _describe(lifespan: timedelta) -> str:
    seconds = lifespan.total_seconds()
    if seconds % 86400 == 0:
        return f"{int(seconds // 86400)} days"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} minutes"
    return f"{seconds:g} seconds"


def _unauthenticated() -> Unauthenticated:
    return Unauthenticated(UNAUTHENTICATED_MESSAGE, hint=UNAUTHENTICATED_HINT)
