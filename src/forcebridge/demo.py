"""``forcebridge demo``: the sandbox and ForceBridge with a ready connection, in one command.

Starts both emulators over HTTPS (their CA kept in the data directory), points ForceBridge at
them (the sandbox hosts are the only loopback hosts the URL guard lets through, and only the
sandbox CA is trusted in addition to the system's), makes sure a demo connection exists with the
TEST project bound and Case/Opportunity/Account mapped, registers its webhook on the sandbox Jira
(so edits there reach ForceBridge and automatic push works), creates a demo admin and a fresh API
token, prints everything a newcomer needs (or one JSON object with ``--json``), then serves.
Re-running keeps the data: the connection (and its webhook) follow the new sandbox ports.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from forcebridge.admin.auth import create_admin_user
from forcebridge.connections.clients import clients_for
from forcebridge.connections.schemas import ConnectionCreate, ConnectionUpdate
from forcebridge.connections.service import create_connection, update_connection
from forcebridge.container import Container, build_container
from forcebridge.mappings.schemas import BindingCreate, EntityMappingCreate
from forcebridge.mappings.service import create_binding, create_entity_mapping
from forcebridge.models import AdminUser, Connection, EntityMapping, ProjectBinding
from forcebridge.sandbox.server import RunningSandbox, start_sandbox
from forcebridge.security.passwords import hash_password
from forcebridge.security.secrets import ensure_key_file
from forcebridge.settings import Settings
from forcebridge.tokens.service import create_token
from forcebridge.webhooks.registration import last_webhook_outcome, refresh_jira_webhook

DEMO_CONNECTION_NAME = "Demo sandbox"
DEMO_PROJECT_KEY = "TEST"
DEMO_ISSUE_KEY = "TEST-5"
DEMO_OBJECTS = ("Case", "Opportunity", "Account")
DEMO_ADMIN = "admin"
DEMO_TOKEN_LIFESPAN = timedelta(days=1)


@dataclass
class DemoEnvironment:
    settings: Settings
    container: Container
    sandbox: RunningSandbox
    summary: dict[str, Any]

    def stop(self) -> None:
        self.container.close()
        self.sandbox.stop()


def demo_settings(data_dir: Path, host: str, port: int, sandbox: RunningSandbox) -> Settings:
    """Settings that trust exactly the sandbox: its two host:port pairs and its CA."""
    key_file = ensure_key_file(data_dir / "secret.key")
    allowed = [_host_port(sandbox.jira_url), _host_port(sandbox.salesforce_url)]
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "host": host,
        "port": port,
        "public_base_url": f"http://{host}:{port}",
        "allowed_hosts": allowed,
        "ca_file": sandbox.ca_file,
    }
    if not os.environ.get("FORCEBRIDGE_SECRET_KEY"):
        values["secret_key_file"] = key_file
    return Settings(**values)


def start_demo(data_dir: Path, *, host: str = "127.0.0.1", port: int = 8000) -> DemoEnvironment:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sandbox = start_sandbox(host="127.0.0.1", data_dir=data_dir / "sandbox", tls=True)
    try:
        settings = demo_settings(data_dir, host, port, sandbox)
        container = build_container(settings, apply_migrations=True)
        connection = _ensure_connection(container, sandbox)
        project_id = _ensure_bindings(container, connection)
        webhook = _ensure_webhook(container, connection)
        admin_password = _reset_demo_admin(container)
        _token_row, token = create_token(container, connection.id, DEMO_TOKEN_LIFESPAN, "demo")
        case_id = _first_case_id(container, connection)
    except BaseException:
        sandbox.stop()
        raise
    base_url = settings.public_base_url
    summary = {
        "base_url": base_url,
        "token": token,
        "project_id": project_id,
        "issue_key": DEMO_ISSUE_KEY,
        "son": "Case",
        "soid": case_id,
        "connection_id": connection.id,
        "webhook": webhook,
        "admin_url": f"{base_url}/admin/",
        "admin_user": DEMO_ADMIN,
        "admin_password": admin_password,
        "docs_url": f"{base_url}/docs",
        "data_dir": str(data_dir),
        "sandbox": sandbox.describe(),
    }
    summary["example_call"] = example_call(summary)
    return DemoEnvironment(settings=settings, container=container, sandbox=sandbox, summary=summary)


def example_call(summary: dict[str, Any]) -> str:
    """A copy-paste curl that associates the demo issue with the demo Case (SFJC's call)."""
    body = json.dumps({"jiraIssueId": summary["issue_key"], "son": "Case", "soid": summary["soid"]})
    authorization = shlex.quote(f"Authorization: JWT {summary['token']}")
    return (
        f"curl -sS -X POST '{summary['base_url']}/external/api/association?allowUpsert=true' "
        f"-H 'Content-Type: application/json' -H {authorization} -d {shlex.quote(body)}"
    )


def _host_port(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def _connection_request(sandbox: RunningSandbox) -> dict[str, Any]:
    jira = sandbox.jira.credentials
    salesforce = sandbox.salesforce.credentials
    return {
        "jira": {
            "url": sandbox.jira_url,
            "auth": {"type": "basic", "email": jira["email"], "api_token": jira["api_token"]},
        },
        "salesforce": {
            "url": sandbox.salesforce_url,
            "auth": {
                "type": "refresh_token",
                "client_id": salesforce["client_id"],
                "client_secret": salesforce["client_secret"],
                "refresh_token": salesforce["refresh_token"],
            },
        },
    }


def _ensure_connection(container: Container, sandbox: RunningSandbox) -> Connection:
    request = _connection_request(sandbox)
    with container.session() as session:
        existing = session.scalars(
            select(Connection).where(Connection.name == DEMO_CONNECTION_NAME)
        ).first()
    if existing is None:
        return create_connection(
            container, ConnectionCreate.model_validate({"name": DEMO_CONNECTION_NAME, **request})
        )
    # The sandbox ports change between runs; credentials persist in its data directory.
    return update_connection(container, existing.id, ConnectionUpdate.model_validate(request))


def _ensure_bindings(container: Container, connection: Connection) -> str:
    with container.session() as session:
        binding = session.scalars(
            select(ProjectBinding).where(
                ProjectBinding.connection_id == connection.id,
                ProjectBinding.jira_project_key == DEMO_PROJECT_KEY,
            )
        ).first()
    if binding is None:
        binding = create_binding(
            container, connection.id, BindingCreate(jira_project=DEMO_PROJECT_KEY)
        )
    with container.session() as session:
        mapped = set(
            session.scalars(
                select(EntityMapping.salesforce_object).where(
                    EntityMapping.binding_id == binding.id
                )
            )
        )
    for salesforce_object in DEMO_OBJECTS:
        if salesforce_object not in mapped:
            create_entity_mapping(
                container,
                connection.id,
                binding.id,
                EntityMappingCreate(salesforce_object=salesforce_object),
            )
    return binding.jira_project_id


def _ensure_webhook(container: Container, connection: Connection) -> dict[str, Any] | None:
    """Registered (or moved to this run's ports) as any binding change would; None if unknown."""
    refreshed = refresh_jira_webhook(container, connection.id)
    if refreshed is not None:
        return refreshed.as_dict()
    return last_webhook_outcome(container, connection.id)  # already in place from a past run


def _reset_demo_admin(container: Container) -> str:
    """A fresh password each run (the old one cannot be shown again: only its hash is kept)."""
    password = secrets.token_urlsafe(12)
    with container.session() as session:
        admin = session.scalars(select(AdminUser).where(AdminUser.username == DEMO_ADMIN)).first()
        if admin is not None:
            admin.password_hash = hash_password(password)
            return password
    create_admin_user(container, DEMO_ADMIN, password)
    return password


def _first_case_id(container: Container, connection: Connection) -> str:
    with clients_for(container, connection) as clients:
        rows = list(clients.salesforce.query("SELECT Id FROM Case ORDER BY CreatedDate LIMIT 1"))
    return str(rows[0]["Id"])


def worker_environment(settings: Settings) -> dict[str, str]:
    """The settings a child worker process needs, as ``FORCEBRIDGE_*`` variables."""
    values = {
        "FORCEBRIDGE_DATA_DIR": str(settings.data_dir),
        "FORCEBRIDGE_ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
        "FORCEBRIDGE_PUBLIC_BASE_URL": settings.public_base_url,
    }
    if settings.ca_file is not None:
        values["FORCEBRIDGE_CA_FILE"] = str(settings.ca_file)
    if settings.secret_key_file is not None:
        values["FORCEBRIDGE_SECRET_KEY_FILE"] = str(settings.secret_key_file)
    return values


def _webhook_line(summary: dict[str, Any]) -> str:
    from rich.markup import escape

    webhook = summary.get("webhook") or {}
    if webhook.get("status") in ("registered", "updated"):
        return escape(f"id {webhook['jiraWebhookId']}, filtered on {webhook['jql']}")
    retry = f"forcebridge connection webhook {summary['connection_id']}"
    reason = webhook.get("reason") or "not registered"
    return f"[yellow]{escape(reason)}[/yellow] (retry: {escape(retry)})"


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.panel import Panel

    console = Console()
    sandbox = summary["sandbox"]
    lines = [
        f"[bold]ForceBridge[/bold]     {summary['base_url']}   (API docs: {summary['docs_url']})",
        f"[bold]Admin UI[/bold]        {summary['admin_url']}   "
        f"user [cyan]{summary['admin_user']}[/cyan] "
        f"password [cyan]{summary['admin_password']}[/cyan]",
        f"[bold]Jira sandbox[/bold]    {sandbox['jira']['url']}",
        f"[bold]Salesforce[/bold]      {sandbox['salesforce']['url']}   (CA: {sandbox['ca_file']})",
        f"[bold]Jira webhook[/bold]    {_webhook_line(summary)}",
        "",
        f"API token (shown once, valid 1 day): [green]{summary['token']}[/green]",
        f"Project id {summary['project_id']} · issue {summary['issue_key']} · "
        f"Case {summary['soid']}",
        "",
        "Associate the issue with the Case (SFJC's call), then push it:",
    ]
    console.print(Panel("\n".join(lines), title="ForceBridge demo", expand=False))
    console.print(summary["example_call"], soft_wrap=True, highlight=False, markup=False)
    push = (
        f"curl -sS -X POST '{summary['base_url']}/external/api/push/project/"
        f"{summary['project_id']}/issue/{summary['issue_key']}/to/Case/{summary['soid']}' "
        f"-H 'Authorization: JWT {summary['token']}'"
    )
    console.print(push, soft_wrap=True, highlight=False, markup=False)
    console.print("Press Ctrl-C to stop.")
