"""Webhook fixtures: a Jira sandbox whose deliveries reach this test's ForceBridge app, a
connection bound to project TEST, and helpers to sign and deliver bodies like Jira does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from builders import admin_headers, api, create_sandbox_connection
from conftest import InProcessSandbox
from forcebridge.container import Container
from forcebridge.models import Connection
from forcebridge.webhooks.secrets import current_secret, ensure_webhook_secret
from forcebridge.webhooks.signature import sign

__all__ = ["admin_headers", "api"]


class ForwardingTransport(httpx2.BaseTransport):
    """Delivers the Jira sandbox's webhook requests to a TestClient chosen after start-up
    (the app needs the sandbox to exist first, and the sandbox needs somewhere to deliver)."""

    def __init__(self) -> None:
        self.target: TestClient | None = None

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        if self.target is None:
            return httpx2.Response(503, content=b"receiver not ready")
        answer = self.target.request(
            request.method,
            request.url.raw_path.decode(),
            headers=dict(request.headers),
            content=request.read(),
        )
        return httpx2.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture
def delivery_transport() -> ForwardingTransport:
    return ForwardingTransport()


@pytest.fixture
def sandbox(delivery_transport: ForwardingTransport) -> Iterator[InProcessSandbox]:
    from forcebridge.sandbox.jira import JiraSandbox
    from forcebridge.sandbox.salesforce import SalesforceSandbox

    jira = JiraSandbox(webhook_transport=delivery_transport, webhook_retry_delays=(0.2, 0.5))
    salesforce = SalesforceSandbox()
    yield InProcessSandbox(jira=jira, salesforce=salesforce)
    jira.close()
    salesforce.close()


@pytest.fixture
def receiving_client(client: TestClient, delivery_transport: ForwardingTransport) -> TestClient:
    """The app's client, also receiving the sandbox's webhook deliveries."""
    delivery_transport.target = client
    return client


@pytest.fixture
def connection(container: Container, sandbox: InProcessSandbox) -> Connection:
    return create_sandbox_connection(container, sandbox, objects=("Case",))


@pytest.fixture
def secret(container: Container, connection: Connection) -> str:
    with container.session() as session:
        return current_secret(container, ensure_webhook_secret(container, session, connection.id))


def issue_event(
    issue_id: str, *, timestamp: int = 1_764_000_000_000, account_id: str = "alice", **extra: Any
) -> dict[str, Any]:
    """A ``jira:issue_updated`` body as Jira sends it (v2 representation, trimmed)."""
    return {
        "timestamp": timestamp,
        "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_updated",
        "user": {"accountId": account_id},
        "issue": {"id": issue_id, "key": f"TEST-{issue_id}", "fields": {"summary": "x"}},
        "changelog": {"id": "1", "items": [{"field": "summary", "fieldId": "summary"}]},
        **extra,
    }


def deliver(
    client: TestClient,
    connection_id: str,
    body: bytes | dict[str, Any],
    *,
    secret: str | None,
    identifier: str,
    signature: str | None = None,
    retry: int | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": identifier}
    if signature is not None:
        headers["X-Hub-Signature"] = signature
    elif secret is not None:
        headers["X-Hub-Signature"] = sign(secret, raw)
    if retry is not None:
        headers["X-Atlassian-Webhook-Retry"] = str(retry)
    return client.post(f"/webhooks/jira/{connection_id}", content=raw, headers=headers)
