"""A whole ForceBridge over real sockets: both sandboxes over HTTPS, the app served by uvicorn on
a free loopback port, and a worker loop running jobs in a thread.

Nothing is routed in process: ForceBridge reaches the sandboxes through the URL guard (their two
``host:port`` pairs allowed) and TLS (their CA trusted), and the Jira sandbox delivers signed
webhooks to ForceBridge's public URL, as Jira Cloud would.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx2
import uvicorn

from forcebridge.app import create_app
from forcebridge.associations.service import FlagChoice, RecordReference, associate
from forcebridge.connections.schemas import ConnectionCreate
from forcebridge.connections.service import create_connection
from forcebridge.container import Container, build_container
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.mappings.schemas import BindingCreate, EntityMappingCreate
from forcebridge.mappings.service import create_binding, create_entity_mapping
from forcebridge.models import Connection
from forcebridge.sandbox.server import RunningSandbox
from forcebridge.sandbox.testing import running_sandbox, sandbox_client
from forcebridge.settings import Settings

JIRA_OPERATOR = "/__sandbox/jira"
SALESFORCE_OPERATOR = "/__sandbox/salesforce"
WAIT_SECONDS = 25.0

_Value = TypeVar("_Value")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    read: Callable[[], _Value],
    accept: Callable[[_Value], bool],
    *,
    timeout: float = WAIT_SECONDS,
    what: str = "condition",
) -> _Value:
    """Poll ``read()`` until ``accept`` says yes; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = read()
    while not accept(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}: {value!r}")
        time.sleep(0.1)
        value = read()
    return value


class ServedApp:
    """ForceBridge's app under uvicorn in a thread, stopped by :meth:`stop`."""

    def __init__(self, container: Container, port: int) -> None:
        config = uvicorn.Config(
            create_app(container=container),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="none",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="e2e-uvicorn", daemon=True)

    def start(self) -> None:
        self._thread.start()
        wait_for(lambda: self._server.started, bool, timeout=10, what="uvicorn to start")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


class WorkerLoop:
    """A worker in a thread: sweeps (schedules polls, finds due jobs) and runs them, every
    ``interval`` seconds. The same JobRunner the ``forcebridge worker`` process drives."""

    def __init__(self, container: Container, settings: JobSettings, interval: float = 0.1) -> None:
        registry = HandlerRegistry()
        registry.load(BUILTIN_HANDLER_MODULES)
        self.runner = JobRunner(container, registry=registry, settings=settings, worker_id="e2e")
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="e2e-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.runner.stopping.set()
        self._thread.join(timeout=30)
        self.runner.close()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.runner.sweep(everything=True)
            self.runner.run_due()


@dataclass
class LiveWorld:
    sandbox: RunningSandbox
    container: Container
    connection: Connection
    base_url: str
    worker: WorkerLoop

    # -- people's edits, through the sandboxes' operator routes over HTTPS ------------------

    def jira(self) -> httpx2.Client:
        credentials = self.sandbox.jira.credentials
        return sandbox_client(
            self.sandbox, "jira", auth=(credentials["email"], credentials["api_token"])
        )

    def salesforce(self) -> httpx2.Client:
        return sandbox_client(self.sandbox, "salesforce")

    def edit_issue_as_user(self, key: str, **body: Any) -> None:
        with self.jira() as jira:
            response = jira.post(f"{JIRA_OPERATOR}/issues/{key}/edit", json=body)
        assert response.status_code == 200, response.text

    def create_case_as_user(self, subject: str) -> str:
        with self.salesforce() as salesforce:
            response = salesforce.post(
                f"{SALESFORCE_OPERATOR}/records/Case", json={"Subject": subject}
            )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def edit_case_as_user(self, case_id: str, values: dict[str, Any]) -> None:
        with self.salesforce() as salesforce:
            response = salesforce.patch(
                f"{SALESFORCE_OPERATOR}/records/Case/{case_id}", json=values
            )
        assert response.status_code < 300, response.text

    # -- what each side holds ---------------------------------------------------------------

    def case(self, case_id: str) -> dict[str, Any]:
        document = self.sandbox.salesforce.records.get_live("Case", case_id)
        assert document is not None
        return dict(document)

    def children_of(self, sobject: str, record_id: str) -> list[dict[str, Any]]:
        parent = "LinkedEntityId" if sobject == "ContentDocumentLink" else "ParentId"
        return [
            dict(row)
            for row in self.sandbox.salesforce.records.all(sobject)
            if row.get(parent) == record_id
        ]

    def issue(self, key: str) -> dict[str, Any]:
        with self.jira() as jira:
            response = jira.get(f"/rest/api/3/issue/{key}")
        response.raise_for_status()
        issue: dict[str, Any] = response.json()
        return issue

    def associate(
        self, issue_key: str, case_id: str, *, auto_push: bool = True, auto_pull: bool = True
    ) -> str:
        flags = FlagChoice(auto_push=auto_push, auto_pull=auto_pull)
        result = associate(
            self.container, self.connection.id, issue_key, RecordReference("Case", case_id, flags)
        )
        return result.association.id


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def connect_to_sandbox(container: Container, sandbox: RunningSandbox) -> Connection:
    """A connection to both served sandboxes, TEST bound, Case mapped, through the services."""
    jira, salesforce = sandbox.jira.credentials, sandbox.salesforce.credentials
    connection = create_connection(
        container,
        ConnectionCreate.model_validate(
            {
                "name": "Live sandbox",
                "jira": {
                    "url": sandbox.jira_url,
                    "auth": {
                        "type": "basic",
                        "email": jira["email"],
                        "api_token": jira["api_token"],
                    },
                },
                "salesforce": {
                    "url": sandbox.salesforce_url,
                    "auth": {
                        "type": "client_credentials",
                        "client_id": salesforce["client_id"],
                        "client_secret": salesforce["client_secret"],
                    },
                },
            }
        ),
    )
    binding = create_binding(container, connection.id, BindingCreate(jira_project="TEST"))
    create_entity_mapping(
        container, connection.id, binding.id, EntityMappingCreate(salesforce_object="Case")
    )
    return connection


@contextmanager
def live_world(
    tmp_path: Path,
    database_url: str,
    secret_key: str,
    *,
    job_settings: JobSettings | None = None,
    **sandbox_options: Any,
) -> Iterator[LiveWorld]:
    """Sandbox, app, worker and a connection, all torn down (in reverse) when the block ends."""
    job_settings = job_settings or JobSettings(
        poll_interval_seconds=0.5, sweep_interval_seconds=0.2, job_backoff_base_seconds=0.2
    )
    with running_sandbox(tmp_path / "sandbox", tls=True, **sandbox_options) as sandbox:
        port = free_port()
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            secret_key=secret_key,
            instance_id="forcebridge-e2e",
            log_format="console",
            public_base_url=f"http://127.0.0.1:{port}",
            allowed_hosts=[_host_port(sandbox.jira_url), _host_port(sandbox.salesforce_url)],
            ca_file=sandbox.ca_file,
        )
        container = build_container(settings, apply_migrations=True)
        served = ServedApp(container, port)
        worker = WorkerLoop(container, job_settings)
        try:
            connection = connect_to_sandbox(container, sandbox)
            served.start()
            worker.start()
            yield LiveWorld(
                sandbox=sandbox,
                container=container,
                connection=connection,
                base_url=settings.public_base_url,
                worker=worker,
            )
        finally:
            worker.stop()
            served.stop()
            container.close()
