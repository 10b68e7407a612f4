"""Fixtures for the Jira emulator's tests: an in-process sandbox, a client and a webhook receiver.

The webhook receiver is an ``httpx2.MockTransport`` that records every delivery and answers with
the statuses queued in ``receiver.responses`` (200 once the queue is empty).
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx2
import pytest
import uvicorn
from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox


@dataclass
class WebhookReceiver:
    requests: list[httpx2.Request] = field(default_factory=list)
    responses: list[int | Exception] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        with self.lock:
            self.requests.append(request)
            outcome = self.responses.pop(0) if self.responses else 200
        if isinstance(outcome, Exception):
            raise outcome
        return httpx2.Response(outcome)

    def transport(self) -> httpx2.MockTransport:
        return httpx2.MockTransport(self.handle)


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver()


@pytest.fixture
def jira(receiver: WebhookReceiver) -> Iterator[JiraSandbox]:
    sandbox = JiraSandbox(
        webhook_transport=receiver.transport(), webhook_retry_delays=(0.01, 0.02, 0.03)
    )
    yield sandbox
    sandbox.close()


@pytest.fixture
def client(jira: JiraSandbox) -> Iterator[TestClient]:
    with TestClient(jira.app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def server_url(jira: JiraSandbox) -> Iterator[str]:
    config = uvicorn.Config(jira.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="jira-sandbox-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def basic_auth(jira: JiraSandbox) -> dict[str, str]:
    pair = f"{jira.credentials['email']}:{jira.credentials['api_token']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


@pytest.fixture
def auth(jira: JiraSandbox) -> dict[str, str]:
    return basic_auth(jira)


def adf(text: str) -> dict:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }
