"""The API-token service: issue, list, revoke and authenticate per-connection API access tokens.

``security.tokens`` mints and verifies the JWT; this module owns the database side. A token is
accepted only when its signature and times are good *and* its row exists with the same jti and
SHA-256, is not revoked, and still belongs to an existing connection. Every failure raises the same
``Unauthenticated`` (no oracle telling a revoked token from a forged one).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from forcebridge.connections.service import get_connection
from forcebridge.container import Container
from forcebridge.db import utcnow
from forcebridge.errors import NotFound, Unauthenticated, ValidationFailed
from forcebridge.models import ApiToken, Connection
from forcebridge.security.tokens import (
    MAX_LIFESPAN,
    MIN_LIFESPAN,
    UNAUTHENTICATED_HINT,
    UNAUTHENTICATED_MESSAGE,
    hash_token,
    parse_authorization_header,
)

# last_used_at is informative: writing it on every request would turn each API call into a write
# (and a lock on SQLite), so it is refreshed at most this often per token.
LAST_USED_RESOLUTION = timedelta(minutes=1)

_LIFESPAN_TEXT = re.compile(r"^\s*(?P<amount>\d{1,6})\s*(?P<unit>m|min|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class AuthenticatedToken:
    connection_id: str
    token_id: str
    jti: str


def parse_lifespan(text: str) -> timedelta:
    """``"15m"``, ``"1h"``, ``"7d"``, ``"365d"`` → a timedelta (bounds are checked on issue)."""
    match = _LIFESPAN_TEXT.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValidationFailed(
            f"Cannot read the lifespan {text!r}: use a number and a unit: 15m, 1h, 7d, 365d.",
            details=[{"field": "lifespan", "message": "expected <number><m|h|d>"}],
        )
    return timedelta(seconds=int(match["amount"]) * _UNIT_SECONDS[match["unit"].lower()])


def check_lifespan(lifespan: timedelta) -> timedelta:
    """422 naming the bounds (15 minutes to 365 days) for anything outside them."""
    if not MIN_LIFESPAN <= lifespan <= MAX_LIFESPAN:
        raise ValidationFailed(
            "A token lifespan must be between 15 minutes and 365 days.",
            details=[{"field": "lifespan", "message": "must be between 15 minutes and 365 days"}],
        )
    return lifespan


def create_token(
    container: Container, connection_id: str, lifespan: timedelta, name: str | None
) -> tuple[ApiToken, str]:
    """Issue a token for the connection; the returned string is the only time it is visible."""
    check_lifespan(lifespan)
    with container.session() as session:
        get_connection(session, connection_id)
        issued = container.token_issuer.issue(connection_id, lifespan)
        row = ApiToken(
            connection_id=connection_id,
            jti=issued.jti,
            token_hash=issued.token_hash,
            last_four=issued.last_four,
            name=name,
            created_at=issued.issued_at,
            expires_at=issued.expires_at,
        )
        session.add(row)
        session.flush()
    return row, issued.token


def list_tokens(session: Session, connection_id: str) -> list[ApiToken]:
    get_connection(session, connection_id)
    statement = (
        select(ApiToken)
        .where(ApiToken.connection_id == connection_id)
        .order_by(ApiToken.created_at.desc(), ApiToken.id)
    )
    return list(session.scalars(statement))


def revoke_token(
    session: Session, connection_id: str, token_id: str, *, now: datetime | None = None
) -> ApiToken:
    """Revoke one token; another connection's token id is ``NotFound`` as if absent."""
    get_connection(session, connection_id)
    row = session.get(ApiToken, token_id) if token_id else None
    if row is None or row.connection_id != connection_id:
        raise NotFound(f"API token {token_id!r} does not exist for this connection.")
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
    return row


def revoke_all_tokens(session: Session, connection_id: str, *, now: datetime | None = None) -> int:
    """Revoke every unrevoked token of the connection; returns how many were revoked."""
    get_connection(session, connection_id)
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.connection_id == connection_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


def authenticate(container: Container, authorization_header: str | None) -> AuthenticatedToken:
    """The connection a request's ``Authorization`` header speaks for, or ``Unauthenticated``."""
    token = parse_authorization_header(authorization_header)
    claims = container.token_issuer.verify(token)
    now = container.clock()
    with container.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.jti == claims.jti))
        if (
            row is None
            or row.revoked_at is not None
            or row.connection_id != claims.connection_id
            or not hmac.compare_digest(row.token_hash, hash_token(token))
            or row.expires_at <= now - timedelta(seconds=30)
            or session.get(Connection, row.connection_id) is None
        ):
            raise Unauthenticated(UNAUTHENTICATED_MESSAGE, hint=UNAUTHENTICATED_HINT)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            row.last_used_at = now
        return AuthenticatedToken(connection_id=row.connection_id, token_id=row.id, jti=row.jti)
