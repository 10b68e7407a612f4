"""Per-connection webhook secrets: created on first need, rotated with an overlap, stored encrypted.

A secret is 32 random bytes (URL-safe base64). During a rotation the previous secret stays valid
for ``webhook_previous_secret_hours`` so deliveries Jira signed (or is retrying) with it still pass.
"""

from __future__ import annotations

import secrets as random_source
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.errors import NotFound
from forcebridge.jobs.models import WebhookSecret
from forcebridge.models import Connection

SECRET_BYTES = 32


def _context(connection_id: str) -> str:
    # Bound to the connection: a ciphertext copied to another connection's row does not decrypt.
    return f"connection:{connection_id}:jira-webhook-secret"


def ensure_webhook_secret(
    container: Container, session: Session, connection_id: str
) -> WebhookSecret:
    """The connection's secret row, created (with a new random secret) if it has none."""
    row = session.get(WebhookSecret, connection_id)
    if row is not None:
        return row
    if session.get(Connection, connection_id) is None:
        raise NotFound(f"No connection with id {connection_id}.")
    row = WebhookSecret(
        connection_id=connection_id,
        encrypted_secret=container.secrets.encrypt(
            random_source.token_urlsafe(SECRET_BYTES), context=_context(connection_id)
        ),
        created_at=container.clock(),
    )
    session.add(row)
    session.flush()
    return row


def current_secret(container: Container, row: WebhookSecret) -> str:
    return container.secrets.decrypt(row.encrypted_secret, context=_context(row.connection_id))


def valid_secrets(
    container: Container, session: Session, connection_id: str, now: datetime
) -> list[str]:
    """Secrets a delivery for ``connection_id`` may be signed with (empty: unknown connection)."""
    row = session.get(WebhookSecret, connection_id)
    if row is None:
        return []
    found = [current_secret(container, row)]
    if (
        row.encrypted_previous_secret
        and row.previous_valid_until is not None
        and row.previous_valid_until > now
    ):
        found.append(
            container.secrets.decrypt(
                row.encrypted_previous_secret, context=_context(connection_id)
            )
        )
    return found


def rotate_webhook_secret(
    container: Container, session: Session, connection_id: str, *, previous_valid_hours: float
) -> WebhookSecret:
    """A new current secret; the old one stays valid for ``previous_valid_hours``."""
    row = ensure_webhook_secret(container, session, connection_id)
    now = container.clock()
    row.encrypted_previous_secret = row.encrypted_secret
    row.previous_valid_until = now + timedelta(hours=previous_valid_hours)
    row.encrypted_secret = container.secrets.encrypt(
        random_source.token_urlsafe(SECRET_BYTES), context=_context(connection_id)
    )
    row.rotated_at = now
    return row
