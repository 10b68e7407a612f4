"""Registering the webhook on the Jira sandbox, and real deliveries from it reaching pushes."""

from __future__ import annotations

import json
from typing import Any

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from forcebridge.connections.cli import register as register_connection_commands
from forcebridge.container import Container
from forcebridge.jobs.cli import register as register_job_commands
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.runner import JobRunner
from forcebridge.models import Association, Connection
from forcebridge.sandbox.jira import seed
from forcebridge.sandbox.operator import FaultRequest
from forcebridge.webhooks import processing
from forcebridge.webhooks.registration import register_jira_webhook


def admin_webhooks(sandbox: Any) -> list[dict[str, Any]]:
    return [hook for hook in sandbox.jira.webhook_registry.all() if hook["kind"] == "admin"]


def associate(container: Container, connection: Connection, issue_id: str = "10001") -> str:
    with container.session() as session:
        association = Association(
            connection_id=connection.id,
            jira_issue_id=issue_id,
            jira_issue_key="TEST-1",
            jira_project_id="10000",
            salesforce_object="Case",
            salesforce_id="500000000000001AAA",
            auto_push=True,
        )
        session.add(association)
        session.flush()
        return association.id


def run_jobs(container: Container) -> list[dict[str, Any]]:
    """Process events with the real handlers; returns the sync.push payloads enqueued."""
    pushes: list[dict[str, Any]] = []
    registry = HandlerRegistry()
    processing.register_handlers(registry)

    def record_push(context: JobContext) -> None:
        pushes.append(context.payload)

    registry.register(processing.SYNC_PUSH_JOB, record_push)
    JobRunner(container, registry=registry, periodic_hooks=[]).run_due()
    return pushes


def edit_in_jira(sandbox: Any, key: str, change: dict[str, Any]) -> None:
    with TestClient(sandbox.jira.app) as jira:
        response = jira.post(f"/__sandbox/jira/issues/{key}/edit", json=change)
        assert response.status_code == 200, response.text
    assert sandbox.jira.wait_for_deliveries(timeout=20)


def test_registration_creates_a_signed_webhook_filtered_on_the_bound_projects_then_updates_it(
    container: Container, connection: Connection, sandbox: Any
) -> None:
    first = register_jira_webhook(container, connection.id)
    assert first.status == "registered"
    assert first.jql == 'project in ("TEST")'
    assert first.url == f"http://127.0.0.1:8000/webhooks/jira/{connection.id}"
    [hook] = admin_webhooks(sandbox)
    assert hook["jql"] == 'project in ("TEST")'
    assert hook["url"] == first.url
    assert hook["secret"]  # Jira signs only webhooks that have a secret
    assert "jira:issue_updated" in hook["events"] and "comment_created" in hook["events"]

    second = register_jira_webhook(container, connection.id)
    assert second.status == "updated"
    assert second.jira_webhook_id == first.jira_webhook_id
    assert len(admin_webhooks(sandbox)) == 1


def test_without_the_permission_registration_answers_exact_manual_instructions(
    container: Container, connection: Connection, sandbox: Any
) -> None:
    sandbox.jira.operator.add_fault(
        FaultRequest(method="POST", path="^/rest/webhooks/1.0/webhook$", status=403)
    )
    result = register_jira_webhook(container, connection.id)
    assert result.status == "manual"
    assert admin_webhooks(sandbox) == []
    text = "\n".join(result.instructions)
    assert result.url in text and result.jql in text
    assert "--show-secret" in text
    assert "Issue: updated" in text


def test_an_edit_in_jira_is_delivered_signed_and_becomes_one_push_per_auto_push_association(
    container: Container, connection: Connection, sandbox: Any, receiving_client: TestClient
) -> None:
    association_id = associate(container, connection)
    register_jira_webhook(container, connection.id)

    edit_in_jira(sandbox, "TEST-1", {"fields": {"summary": "Printer on fire"}})
    edit_in_jira(sandbox, "TEST-1", {"comment": "Still burning"})

    deliveries = sandbox.jira.dispatcher.deliveries()
    assert deliveries and all(d["state"] == "delivered" for d in deliveries)
    pushes = run_jobs(container)
    # Both events reach the association; the burst coalesces into one push.
    assert [push["association_id"] for push in pushes] == [association_id]
    assert pushes[0]["jira_issue_id"] == "10001"


def test_changes_made_by_forcebridge_own_jira_account_are_not_pushed_back(
    container: Container, connection: Connection, sandbox: Any, receiving_client: TestClient
) -> None:
    associate(container, connection)
    register_jira_webhook(container, connection.id)
    edit_in_jira(
        sandbox,
        "TEST-1",
        {"as_account_id": seed.ADMIN_ACCOUNT_ID, "fields": {"summary": "Written by ForceBridge"}},
    )
    assert run_jobs(container) == []


def test_an_older_event_arriving_after_a_newer_one_is_ignored(
    container: Container, connection: Connection, secret: str, client: TestClient
) -> None:
    from webhooks.conftest import deliver, issue_event

    associate(container, connection)
    deliver(
        client, connection.id, issue_event("10001", timestamp=2000), secret=secret, identifier="new"
    )
    assert len(run_jobs(container)) == 1
    deliver(
        client, connection.id, issue_event("10001", timestamp=1000), secret=secret, identifier="old"
    )
    assert run_jobs(container) == []


def test_the_webhook_api_and_cli_register_and_show_the_secret(
    container: Container, connection: Connection, api: TestClient, secret: str
) -> None:
    response = api.post(f"/api/v1/connections/{connection.id}/webhook")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "registered"
    assert secret not in response.text  # the API never shows the secret

    app = typer.Typer()
    register_connection_commands(app)
    register_job_commands(app)
    runner = CliRunner()
    shown = runner.invoke(
        app, ["connection", "webhook", connection.name, "--show-secret"], obj=container
    )
    # Log lines may share the captured output in tests: the answer is the last line.
    assert shown.exit_code == 0 and shown.output.strip().splitlines()[-1] == secret
    updated = runner.invoke(app, ["connection", "webhook", connection.id, "--json"], obj=container)
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.output.strip().splitlines()[-1])["status"] == "updated"
