"""Fixtures shared by the whole suite.

- ``settings``: a fresh data directory and secret key per test; the database is SQLite in that
  directory, or, when ``FORCEBRIDGE_TEST_DATABASE=postgres``, a fresh schema in the PostgreSQL at
  ``FORCEBRIDGE_TEST_POSTGRES_URL`` (default 127.0.0.1:5432/test), dropped afterwards.
- ``sandbox``: both emulators in process (memory state).
- ``container``: ForceBridge's composition root with every outbound call to the sandbox hosts
  (``https://sandbox.atlassian.net``, ``https://sandbox.my.salesforce.com``) routed in process,
  so the URL guard, auth and clients run exactly as in production.
- ``app`` / ``client``: the FastAPI app and a TestClient on it.
- the job queue: SqliteHuey in the data directory, or, when ``FORCEBRIDGE_TEST_QUEUE=redis``,
  RedisHuey at ``FORCEBRIDGE_TEST_REDIS_URL`` (default 127.0.0.1:6379/0) for every test, worker
  subprocesses included: ``FORCEBRIDGE_REDIS_URL`` and a queue name of the test's own are set in
  the environment, and the test's keys are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.testing import jira_transport, salesforce_transport
from forcebridge.settings import Settings

JIRA_SANDBOX_URL = "https://sandbox.atlassian.net"
SALESFORCE_SANDBOX_URL = "https://sandbox.my.salesforce.com"
IN_CI = os.environ.get("CI") == "true"


def backend_missing(reason: str) -> None:
    """Under CI a missing backend fails the run; elsewhere the test is skipped with the reason."""
    if IN_CI:
        pytest.fail(f"required backend missing under CI: {reason}")
    pytest.skip(reason)


def _redis_url() -> str:
    return os.environ.get("FORCEBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(autouse=True)
def job_queue_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``sqlite`` (the default), or ``redis`` when ``FORCEBRIDGE_TEST_QUEUE=redis``.

    Tests share one Redis, so each gets a queue name of its own: huey prefixes every key with it.
    """
    if os.environ.get("FORCEBRIDGE_TEST_QUEUE") != "redis":
        yield "sqlite"
        return
    import redis

    url = _redis_url()
    server = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        server.ping()
    except redis.RedisError as error:
        backend_missing(f"Redis not reachable at {url}: {error}")
    queue_name = f"forcebridge-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("FORCEBRIDGE_REDIS_URL", url)
    monkeypatch.setenv("FORCEBRIDGE_QUEUE_NAME", queue_name)
    yield "redis"
    for key in server.scan_iter(match=f"*{queue_name}*", count=1000):
        server.delete(key)
    server.close()


def _postgres_url() -> str:
    return os.environ.get(
        "FORCEBRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if os.environ.get("FORCEBRIDGE_TEST_DATABASE") != "postgres":
        yield f"sqlite:///{tmp_path / 'forcebridge.db'}"
        return
    from sqlalchemy import create_engine, text

    base_url = _postgres_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(base_url)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # pragma: no cover - depends on the machine
        backend_missing(f"PostgreSQL not reachable at {base_url}: {error}")
    separator = "&" if "?" in base_url else "?"
    yield f"{base_url}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def secret_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, secret_key: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key=secret_key,
        instance_id="forcebridge-test",
        log_format="console",
    )


@dataclass
class InProcessSandbox:
    jira: object
    salesforce: object
    jira_url: str = JIRA_SANDBOX_URL
    salesforce_url: str = SALESFORCE_SANDBOX_URL

    def transport_override(self, service: str, base_url: str) -> httpx2.BaseTransport | None:
        """Routes the two sandbox hosts to the in-process emulators; others use the network."""
        host = httpx2.URL(base_url).host
        if host == httpx2.URL(self.jira_url).host:
            return jira_transport(self.jira)
        if host == httpx2.URL(self.salesforce_url).host:
            return salesforce_transport(self.salesforce)
        return None


@pytest.fixture
def sandbox() -> Iterator[InProcessSandbox]:
    from forcebridge.sandbox.jira import JiraSandbox
    from forcebridge.sandbox.salesforce import SalesforceSandbox

    jira = JiraSandbox()
    salesforce = SalesforceSandbox()
    yield InProcessSandbox(jira=jira, salesforce=salesforce)
    jira.close()
    salesforce.close()


@pytest.fixture
def container(settings: Settings, sandbox: InProcessSandbox) -> Iterator[object]:
    from forcebridge.container import build_container

    built = build_container(
        settings, apply_migrations=True, transport_override=sandbox.transport_override
    )
    yield built
    built.close()


@pytest.fixture
def app(container: object) -> object:
    from forcebridge.app import create_app

    return create_app(container=container)  # type: ignore[arg-type]


@pytest.fixture
def client(app: object) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:  # type: ignore[arg-type]
        yield test_client


@pytest.fixture
def clock() -> Iterator[object]:
    """Time ten minutes ahead, ticking: everything the sandbox seeded is older than "now", so a
    first poll (which starts at "now") sees only what the test changes. ``clock.shift(...)``
    passes a poll interval. (A module may define its own ``clock``.)"""
    import time_machine

    start = datetime.now(UTC) + timedelta(minutes=10)
    with time_machine.travel(start, tick=True) as traveller:
        yield traveller
