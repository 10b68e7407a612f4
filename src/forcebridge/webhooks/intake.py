"""Accepting a Jira webhook delivery: verify, dedupe, store, enqueue — then acknowledge.

Order matters (reliability-security.md §3):
1. size: a body over 1 MiB is refused (413) before anything else is done with it;
2. signature over the raw bytes, before parsing (401 for anything but a valid ``sha256=``;
   an unknown connection gets the same 401, so ids cannot be probed);
3. dedupe on ``X-Atlassian-Webhook-Identifier``: Jira keeps it across retries and may deliver
   more than once, so a known identifier is acknowledged without a second effect;
4. the event row and its processing job are written in **one** transaction; only after it
   commits does the caller answer 2xx. If the database cannot take it, ``ServiceUnavailable``
   (503 with Retry-After) makes Jira retry later instead of losing the event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from forcebridge.container import Container
from forcebridge.errors import InvalidInput, PayloadTooLarge, ServiceUnavailable, Unauthenticated
from forcebridge.jobs.metrics import automation_metrics
from forcebridge.jobs.models import WebhookEvent
from forcebridge.jobs.service import enqueue
from forcebridge.webhooks.secrets import valid_secrets
from forcebridge.webhooks.signature import SIGNATURE_HEADER, signature_is_valid

log = structlog.get_logger("forcebridge.webhooks")

MAX_BODY_BYTES = 1024 * 1024
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
RETRY_HEADER = "X-Atlassian-Webhook-Retry"
PROCESS_EVENT_JOB = "webhook.jira_event"
UNAVAILABLE_RETRY_AFTER_SECONDS = 30
_REJECTED = "Webhook signature missing or invalid for this connection."


@dataclass(frozen=True)
class AcceptedEvent:
    event_id: str
    duplicate: bool


def accept_jira_webhook(
    container: Container, connection_id: str, body: bytes, headers: Mapping[str, str]
) -> AcceptedEvent:
    """Verify and durably store one delivery; raises the error the intake route answers with."""
    metrics = automation_metrics(container.metrics)
    if len(body) > MAX_BODY_BYTES:
        metrics.webhook_events.labels(outcome="too_large").inc()
        raise PayloadTooLarge(f"Webhook bodies are limited to {MAX_BODY_BYTES} bytes.")
    now = container.clock()
    try:
        with container.session() as session:
            # One transaction from the secret lookup to the insert: a single commit per event.
            secrets = valid_secrets(container, session, connection_id, now)
            if not signature_is_valid(headers.get(SIGNATURE_HEADER), body, secrets):
                metrics.webhook_events.labels(outcome="rejected").inc()
                raise Unauthenticated(_REJECTED)
            identifier = (headers.get(IDENTIFIER_HEADER) or "").strip()
            if not identifier or len(identifier) > 200:
                raise InvalidInput(
                    f"The {IDENTIFIER_HEADER} header is required (at most 200 characters)."
                )
            existing = session.scalar(
                select(WebhookEvent.id).where(
                    WebhookEvent.connection_id == connection_id,
                    WebhookEvent.identifier == identifier,
                )
            )
            if existing is not None:
                metrics.webhook_events.labels(outcome="duplicate").inc()
                return AcceptedEvent(event_id=existing, duplicate=True)
            event = _event(connection_id, identifier, _parse(body), now)
            session.add(event)
            session.flush()
            # Events of one issue are processed one at a time, in arrival order.
            enqueue(
                session,
                PROCESS_EVENT_JOB,
                {"event_id": event.id},
                connection_id=connection_id,
                coalesce_key=(
                    f"jira-issue:{connection_id}:{event.jira_issue_id}"
                    if event.jira_issue_id
                    else None
                ),
                coalesce=False,
                now=now,
            )
            event_id = event.id
    except IntegrityError:
        # The same delivery, retried by Jira, committed first in a concurrent request.
        metrics.webhook_events.labels(outcome="duplicate").inc()
        return AcceptedEvent(
            event_id=_existing_event_id(container, connection_id, identifier), duplicate=True
        )
    except SQLAlchemyError as error:
        metrics.webhook_events.labels(outcome="unavailable").inc()
        log.error("webhooks.store_failed", connection_id=connection_id, exc_info=error)
        raise _unavailable() from error
    metrics.webhook_events.labels(outcome="received").inc()
    return AcceptedEvent(event_id=event_id, duplicate=False)


def _event(
    connection_id: str, identifier: str, payload: dict[str, Any], now: datetime
) -> WebhookEvent:
    issue = payload.get("issue")
    if not isinstance(issue, dict):
        issue = {}
    timestamp = payload.get("timestamp")
    return WebhookEvent(
        connection_id=connection_id,
        identifier=identifier,
        webhook_event=_text(payload.get("webhookEvent"), 100) or "unknown",
        jira_issue_id=_text(issue.get("id"), 20),
        event_timestamp=(
            timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None
        ),
        payload=payload,
        received_at=now,
    )


def _existing_event_id(container: Container, connection_id: str, identifier: str) -> str:
    try:
        with container.session() as session:
            found = session.scalar(
                select(WebhookEvent.id).where(
                    WebhookEvent.connection_id == connection_id,
                    WebhookEvent.identifier == identifier,
                )
            )
    except SQLAlchemyError as error:
        raise _unavailable() from error
    if found is None:  # pragma: no cover - the integrity error says it exists
        raise _unavailable()
    return found


def _parse(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The webhook body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise InvalidInput("The webhook body must be a JSON object.")
    return payload


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > limit:
        return None
    return value


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The webhook could not be stored right now; Jira will deliver it again.",
        hint="Check that the database is reachable.",
    )
