"""Webhook intake: the signature matrix (T-WH-1), durable acknowledgement and dedupe (T-WH-2)."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from builders import create_sandbox_connection
from forcebridge.container import Container
from forcebridge.db import create_session_factory
from forcebridge.jobs.handlers import HandlerRegistry
from forcebridge.jobs.models import Job, WebhookEvent
from forcebridge.jobs.runner import JobRunner
from forcebridge.models import Association, Connection
from forcebridge.webhooks import processing
from forcebridge.webhooks.intake import MAX_BODY_BYTES
from forcebridge.webhooks.signature import sign
from webhooks.conftest import deliver, issue_event


def stored(container: Container) -> tuple[int, int]:
    with container.session() as session:
        events = session.scalar(select(func.count()).select_from(WebhookEvent))
        jobs = session.scalar(select(func.count()).select_from(Job))
    return int(events or 0), int(jobs or 0)


def tampered(body: bytes) -> bytes:
    return body.replace(b'"summary"', b'"summarx"', 1)


BODY = json.dumps(issue_event("10001")).encode()


def signature_cases(secret: str, other_secret: str) -> dict[str, tuple[bytes, str | None]]:
    valid = sign(secret, BODY)
    reserialised = json.dumps(json.loads(BODY), indent=1).encode()
    return {
        "missing header": (BODY, None),
        "sha1 format": (BODY, "sha1=" + valid.removeprefix("sha256=")[:40]),
        "no prefix": (BODY, valid.removeprefix("sha256=")),
        "uppercase hex": (BODY, "sha256=" + valid.removeprefix("sha256=").upper()),
        "wrong secret": (BODY, sign("not-the-secret", BODY)),
        "another connection's secret": (BODY, sign(other_secret, BODY)),
        "body changed by one byte": (tampered(BODY), valid),
        "json re-serialised": (reserialised, valid),
        "empty body": (b"", valid),
        "garbage": (BODY, "sha256=" + "zz" * 32),
    }


def test_only_a_valid_signature_is_accepted_and_rejects_store_nothing(
    container: Container, client: TestClient, connection: Connection, secret: str, sandbox: Any
) -> None:
    other = create_sandbox_connection(container, sandbox, name="Other", objects=("Case",))
    with container.session() as session:
        from forcebridge.webhooks.secrets import current_secret, ensure_webhook_secret

        other_secret = current_secret(
            container, ensure_webhook_secret(container, session, other.id)
        )
    for case, (body, signature) in signature_cases(secret, other_secret).items():
        response = deliver(
            client, connection.id, body, secret=None, signature=signature, identifier=case
        )
        assert response.status_code == 401, case
        assert response.json()["success"] is False
    assert stored(container) == (0, 0)

    accepted = deliver(client, connection.id, BODY, secret=secret, identifier="valid")
    assert accepted.status_code == 200
    assert accepted.json()["data"]["duplicate"] is False
    assert stored(container) == (1, 1)


def test_an_unknown_connection_gets_the_same_401_as_a_bad_signature(
    client: TestClient, secret: str
) -> None:
    response = deliver(client, "0" * 32, BODY, secret=secret, identifier="x")
    assert response.status_code == 401
    assert response.json()["message"] == "Webhook signature missing or invalid for this connection."


def test_a_body_over_one_mebibyte_is_refused_with_413(
    container: Container, client: TestClient, connection: Connection, secret: str
) -> None:
    body = json.dumps(issue_event("10001", padding="x" * MAX_BODY_BYTES)).encode()
    response = deliver(client, connection.id, body, secret=secret, identifier="big")
    assert response.status_code == 413
    assert stored(container) == (0, 0)


def test_the_secret_rotated_out_stays_valid_during_the_overlap(
    container: Container, client: TestClient, connection: Connection, secret: str
) -> None:
    from forcebridge.webhooks.secrets import current_secret, rotate_webhook_secret

    with container.session() as session:
        new_secret = current_secret(
            container,
            rotate_webhook_secret(container, session, connection.id, previous_valid_hours=24),
        )
    assert new_secret != secret
    assert deliver(client, connection.id, BODY, secret=secret, identifier="old").status_code == 200
    assert (
        deliver(client, connection.id, BODY, secret=new_secret, identifier="new").status_code == 200
    )
    with container.session() as session:
        rotate_webhook_secret(container, session, connection.id, previous_valid_hours=0)
    # After a second rotation with no overlap, the first secret is gone.
    assert (
        deliver(client, connection.id, BODY, secret=secret, identifier="older").status_code == 401
    )


def test_a_store_that_cannot_take_the_event_answers_503_with_retry_after(
    container: Container, client: TestClient, connection: Connection, secret: str
) -> None:
    working = container.sessions
    container.sessions = create_session_factory(
        create_engine("sqlite:////nonexistent-directory/forcebridge.db")
    )
    try:
        response = deliver(client, connection.id, BODY, secret=secret, identifier="down")
    finally:
        container.sessions = working
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert stored(container) == (0, 0)
    # Jira retries the same delivery later: now it is stored.
    assert deliver(client, connection.id, BODY, secret=secret, identifier="down").status_code == 200


@pytest.mark.slow
def test_a_thousand_events_delivered_three_times_each_shuffled_have_exactly_a_thousand_effects(
    container: Container, client: TestClient, connection: Connection, secret: str
) -> None:
    events = 1000
    with container.session() as session:
        association_ids = []
        for number in range(events):
            association = Association(
                connection_id=connection.id,
                jira_issue_id=str(20000 + number),
                jira_issue_key=f"TEST-{number}",
                jira_project_id="10000",
                salesforce_object="Case",
                salesforce_id=f"500{number:015d}",
                auto_push=True,
            )
            session.add(association)
            session.flush()
            association_ids.append(association.id)
    bodies = [
        (str(uuid.uuid4()), json.dumps(issue_event(str(20000 + number))).encode())
        for number in range(events)
    ]
    deliveries = [
        (identifier, body, attempt) for identifier, body in bodies for attempt in range(3)
    ]
    random.Random(5).shuffle(deliveries)
    duplicates = 0
    for identifier, body, attempt in deliveries:
        response = deliver(
            client,
            connection.id,
            body,
            secret=secret,
            identifier=identifier,
            retry=attempt or None,
        )
        assert response.status_code == 200
        duplicates += response.json()["data"]["duplicate"]
    assert duplicates == 2 * events

    registry = HandlerRegistry()
    processing.register_handlers(registry)
    JobRunner(container, registry=registry, periodic_hooks=[]).run_due(
        kinds=[processing.PROCESS_EVENT_JOB]
    )
    # The effect of an event is the push it asks for: exactly one per association.
    with container.session() as session:
        pushed = list(
            session.scalars(select(Job.payload).where(Job.kind == processing.SYNC_PUSH_JOB))
        )
    assert sorted(payload["association_id"] for payload in pushed) == sorted(association_ids)
    assert stored(container)[0] == events


@pytest.mark.parametrize("connection_setting", ["allow_auto_push", "allow_modification"])
def test_no_push_is_enqueued_when_the_connection_turned_auto_push_off(
    container: Container,
    client: TestClient,
    connection: Connection,
    secret: str,
    connection_setting: str,
) -> None:
    with container.session() as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        setattr(row, connection_setting, False)
        session.add(_association_row(connection.id, "10001", auto_push=True))
    deliver(client, connection.id, issue_event("10001"), secret=secret, identifier="e1")
    outcome, kinds = _process(container)
    assert outcome == ["ignored:auto_push_off"]
    assert kinds == []


def _association_row(connection_id: str, issue_id: str, **flags: bool) -> Association:
    return Association(
        connection_id=connection_id,
        jira_issue_id=issue_id,
        jira_issue_key=f"TEST-{issue_id}",
        jira_project_id="10000",
        salesforce_object="Case",
        salesforce_id=f"500{uuid.uuid4().int % 10**15:015d}",
        **flags,
    )


def _process(container: Container) -> tuple[list[str | None], list[str]]:
    """Run the event-processing jobs; returns the events' outcomes and the kinds enqueued."""
    registry = HandlerRegistry()
    processing.register_handlers(registry)
    runner = JobRunner(container, registry=registry, periodic_hooks=[])
    runner.run_due()
    with container.session() as session:
        outcomes = list(
            session.scalars(select(WebhookEvent.outcome).order_by(WebhookEvent.received_at))
        )
        kinds = list(
            session.scalars(
                select(Job.kind)
                .where(Job.kind != processing.PROCESS_EVENT_JOB)
                .order_by(Job.sequence)
            )
        )
    return outcomes, kinds
