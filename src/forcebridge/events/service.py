"""Outbound events: ForceBridge calls a user's URL when an automatic sync succeeds or fails.

Deliveries follow Standard Webhooks (https://www.standardwebhooks.com/): headers
``webhook-id`` (the same on every retry of one event, for the receiver's dedupe),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">``, keyed by the base64 part of the ``whsec_...`` secret shown once
when the URL is set. The URL passes the same outbound guard as every vendor URL (no private or
loopback addresses unless allowed), and a delivery is an ``events.deliver`` job: retried with
backoff on a network error, a 429 or a 5xx, like any transient failure.

Events come from wrapping the ``sync.push`` and ``sync.pull`` handlers: after each run, when the
connection has a subscription, one delivery job is enqueued (``sync.succeeded``, or
``sync.failed`` with the error before the failure goes on to the job runner).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import structlog
from sqlalchemy import select

from forcebridge.container import Container
from forcebridge.errors import ForceBridgeError, NotFound, TransientExternalError
from forcebridge.events.models import EventSubscription
from forcebridge.http import build_client
from forcebridge.jobs.handlers import Handler, HandlerRegistry, JobContext
from forcebridge.jobs.service import enqueue
from forcebridge.models import Connection
from forcebridge.security.urls import check_outbound_url

log = structlog.get_logger("forcebridge.events")

DELIVER_EVENT_JOB = "events.deliver"
SYNC_JOB_KINDS = ("sync.push", "sync.pull")
SECRET_PREFIX = "whsec_"
_SECRET_CONTEXT = "event-subscription"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of one delivery (Standard Webhooks ``v1``)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def set_event_url(container: Container, connection_id: str, url: str) -> str:
    """Subscribe the connection's events to ``url``; returns the new secret (shown once)."""
    checked = check_outbound_url(url, container.settings.allowed_hosts)
    secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
    with container.session() as session:
        if session.get(Connection, connection_id) is None:
            raise NotFound(f"No connection with id {connection_id}.")
        row = session.get(EventSubscription, connection_id)
        encrypted = container.secrets.encrypt(secret, context=_SECRET_CONTEXT)
        if row is None:
            session.add(
                EventSubscription(
                    connection_id=connection_id,
                    url=checked,
                    encrypted_secret=encrypted,
                    created_at=container.clock(),
                )
            )
        else:
            row.url, row.encrypted_secret = checked, encrypted
    return secret


def remove_event_url(container: Container, connection_id: str) -> bool:
    with container.session() as session:
        row = session.get(EventSubscription, connection_id)
        if row is None:
            return False
        session.delete(row)
        return True


def event_url(container: Container, connection_id: str) -> str | None:
    with container.session() as session:
        return session.scalar(
            select(EventSubscription.url).where(EventSubscription.connection_id == connection_id)
        )


def notify(container: Container, job: JobContext, event_type: str, error: str | None) -> None:
    """Queue a delivery of ``event_type`` for the job's connection, if it subscribed."""
    if job.connection_id is None:
        return
    data: dict[str, Any] = {
        "jobId": job.job_id,
        "kind": job.kind,
        "associationId": job.payload.get("association_id"),
    }
    if error is not None:
        data["error"] = error
    with container.session() as session:
        if session.get(EventSubscription, job.connection_id) is None:
            return
        enqueue(
            session,
            DELIVER_EVENT_JOB,
            {"type": event_type, "data": data, "at": container.clock().isoformat()},
            connection_id=job.connection_id,
            max_attempts=8,
        )


def with_events(handler: Handler) -> Handler:
    def run_and_notify(job: JobContext) -> None:
        try:
            handler(job)
        except ForceBridgeError as error:
            notify(job.container, job, "sync.failed", error.message)
            raise
        except Exception as error:
            notify(job.container, job, "sync.failed", type(error).__name__)
            raise
        notify(job.container, job, "sync.succeeded", None)

    run_and_notify.__name__ = f"with_events_{getattr(handler, '__name__', 'handler')}"
    return run_and_notify


def deliver_event(job: JobContext) -> None:
    """The ``events.deliver`` job: one signed POST; transient failures are retried."""
    container = job.container
    with container.session() as session:
        row = session.get(EventSubscription, job.connection_id) if job.connection_id else None
        if row is None:
            return  # unsubscribed since: nothing to send
        url = row.url
        secret = container.secrets.decrypt(row.encrypted_secret, context=_SECRET_CONTEXT)
    body = json.dumps(
        {
            "type": job.payload.get("type"),
            "timestamp": job.payload.get("at"),
            "data": job.payload.get("data"),
        },
        separators=(",", ":"),
    ).encode()
    timestamp = int(container.clock().timestamp())
    headers = {
        "content-type": "application/json",
        "webhook-id": job.job_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, job.job_id, timestamp, body),
    }
    with build_client(
        settings=container.settings,
        service="events",
        connection_id=job.connection_id,
        base_url=url,
        transport=container.transport_for("events", url),
        metrics=container.metrics,
    ) as client:
        try:
            response = client.post(url, content=body, headers=headers)
        except Exception as error:  # network errors: the receiver may be back later
            raise TransientExternalError(
                f"Event delivery to {url} failed: {type(error).__name__}", service="events"
            ) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientExternalError(
            f"Event delivery to {url} answered {response.status_code}", service="events"
        )
    if response.status_code >= 300:
        # A 4xx will not change on retry; dropped with a warning rather than retried for days.
        log.warning("events.rejected", url=url, status=response.status_code, job_id=job.job_id)


def register_handlers(registry: HandlerRegistry) -> None:
    """Wrap the sync handlers (load before the quota guard) and handle deliveries."""
    registry.register(DELIVER_EVENT_JOB, deliver_event)
    for kind in SYNC_JOB_KINDS:
        handler = registry.get(kind)
        if handler is not None and not getattr(handler, "__name__", "").startswith("with_events_"):
            registry.register(kind, with_events(handler))
