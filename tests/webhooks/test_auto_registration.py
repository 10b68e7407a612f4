"""The Jira webhook follows the bound projects by itself: every edge that changes them (admin API,
admin UI, CLI) refreshes it after committing, without ever failing the change because of Jira."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from builders import JIRA_SANDBOX_URL, connection_payload, create_sandbox_connection
from forcebridge.connections.cli import register as register_connection_commands
from forcebridge.container import Container
from forcebridge.jobs.cli import register as register_job_commands
from forcebridge.jobs.models import WebhookSecret
from forcebridge.sandbox.operator import FaultRequest
from ui.forms import csrf_token, sign_in

WEBHOOK_PATH = re.compile(r"^/rest/webhooks/1\.0/webhook(/|$)")


def admin_webhooks(sandbox: Any) -> list[dict[str, Any]]:
    return [hook for hook in sandbox.jira.webhook_registry.all() if hook["kind"] == "admin"]


def webhook_calls(sandbox: Any, since: int) -> list[str]:
    """``METHOD path`` of every admin-webhook request the Jira sandbox received after ``since``."""
    return [
        f"{entry.method} {entry.path}"
        for entry in sandbox.jira.operator.requests(since=since)
        if WEBHOOK_PATH.match(entry.path)
    ]


def create_connection(api: TestClient, sandbox: Any, **options: Any) -> dict[str, Any]:
    response = api.post("/api/v1/connections", json=connection_payload(sandbox, **options))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bind(api: TestClient, connection_id: str, project: str) -> Any:
    return api.post(f"/api/v1/connections/{connection_id}/bindings", json={"jira_project": project})


def unbind(api: TestClient, connection_id: str, project: str) -> Any:
    bindings = api.get(f"/api/v1/connections/{connection_id}/bindings").json()["data"]
    [binding] = [b for b in bindings if b["jira_project_key"] == project]
    return api.delete(f"/api/v1/connections/{connection_id}/bindings/{binding['id']}")


def jira_oauth_payload(sandbox: Any) -> dict[str, Any]:
    jira = sandbox.jira.credentials
    payload = connection_payload(sandbox, name="OAuth")
    payload["jira"]["auth"] = {
        "type": "oauth",
        "client_id": jira["oauth_client_id"],
        "client_secret": jira["oauth_client_secret"],
        "refresh_token": jira["oauth_refresh_token"],
        "cloud_id": jira["cloud_id"],
        "token_url": f"{JIRA_SANDBOX_URL}/oauth/token",
        "api_url": JIRA_SANDBOX_URL,
    }
    return payload


# -- admin API ------------------------------------------------------------------------------------


def test_binding_a_project_registers_the_webhook_filtered_on_it(
    api: TestClient, sandbox: Any
) -> None:
    created = create_connection(api, sandbox)
    assert created["webhook"] is None  # nothing bound yet: nothing to register
    connection_id = created["data"]["id"]

    response = bind(api, connection_id, "TEST")

    assert response.status_code == 201, response.text
    webhook = response.json()["webhook"]
    assert webhook["status"] == "registered"
    assert webhook["jql"] == 'project in ("TEST")'
    [hook] = admin_webhooks(sandbox)
    assert str(hook["id"]) == webhook["jiraWebhookId"]
    assert hook["jql"] == 'project in ("TEST")'
    assert hook["url"] == f"http://127.0.0.1:8000/webhooks/jira/{connection_id}"
    assert hook["secret"]


def test_binding_a_second_project_updates_the_same_webhook_with_one_put(
    api: TestClient, sandbox: Any
) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    first = bind(api, connection_id, "TEST").json()["webhook"]
    mark = sandbox.jira.operator.last_sequence

    second = bind(api, connection_id, "SUP").json()["webhook"]

    assert second["status"] == "updated"
    assert second["jiraWebhookId"] == first["jiraWebhookId"]
    assert webhook_calls(sandbox, mark) == [
        f"PUT /rest/webhooks/1.0/webhook/{first['jiraWebhookId']}"
    ]
    [hook] = admin_webhooks(sandbox)
    assert hook["jql"] == 'project in ("SUP", "TEST")'


def test_an_unchanged_filter_costs_no_jira_webhook_call(api: TestClient, sandbox: Any) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    bind(api, connection_id, "TEST")
    mark = sandbox.jira.operator.last_sequence

    again = bind(api, connection_id, "TEST")
    updated = api.patch(
        f"/api/v1/connections/{connection_id}", json={"settings": {"default_view_only": True}}
    )

    assert again.status_code == 409
    assert updated.status_code == 200, updated.text
    assert updated.json()["webhook"] is None
    assert webhook_calls(sandbox, mark) == []


def test_unbinding_every_project_deletes_the_webhook_from_jira(
    api: TestClient, sandbox: Any, container: Container
) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    bind(api, connection_id, "TEST")
    webhook_id = bind(api, connection_id, "SUP").json()["webhook"]["jiraWebhookId"]

    narrowed = unbind(api, connection_id, "SUP").json()["webhook"]
    assert narrowed["status"] == "updated" and narrowed["jql"] == 'project in ("TEST")'
    mark = sandbox.jira.operator.last_sequence
    response = unbind(api, connection_id, "TEST")

    assert response.status_code == 200, response.text
    removed = response.json()["webhook"]
    assert removed["status"] == "removed" and removed["jiraWebhookId"] == webhook_id
    assert webhook_calls(sandbox, mark) == [f"DELETE /rest/webhooks/1.0/webhook/{webhook_id}"]
    assert admin_webhooks(sandbox) == []
    with container.session() as session:
        row = session.get(WebhookSecret, connection_id)
        assert row is not None and row.jira_webhook_id is None and row.registered_jql is None
    # Bound again later: a new webhook, not a write to the deleted id.
    assert bind(api, connection_id, "SUP").json()["webhook"]["status"] == "registered"


def test_deleting_the_connection_deletes_its_webhook(api: TestClient, sandbox: Any) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    bind(api, connection_id, "TEST")

    response = api.delete(f"/api/v1/connections/{connection_id}")

    assert response.status_code == 200, response.text
    assert response.json()["webhook"]["status"] == "removed"
    assert admin_webhooks(sandbox) == []


def test_a_connection_is_deleted_even_when_jira_refuses_to_delete_its_webhook(
    api: TestClient, sandbox: Any
) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    webhook_id = bind(api, connection_id, "TEST").json()["webhook"]["jiraWebhookId"]
    sandbox.jira.operator.add_fault(
        FaultRequest(method="DELETE", path="^/rest/webhooks/1.0/webhook/", status=503, count=10)
    )

    response = api.delete(f"/api/v1/connections/{connection_id}")

    assert response.status_code == 200, response.text
    webhook = response.json()["webhook"]
    assert webhook["status"] == "failed"
    # The connection is gone, so the steps name the webhook to delete by hand.
    assert any(f"(id {webhook_id})" in step for step in webhook["instructions"])
    assert api.get(f"/api/v1/connections/{connection_id}").status_code == 404


def test_jira_answering_503_never_fails_the_binding_and_says_how_to_retry(
    api: TestClient, sandbox: Any
) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    sandbox.jira.operator.add_fault(
        FaultRequest(method="POST", path="^/rest/webhooks/1.0/webhook$", status=503, count=10)
    )

    response = bind(api, connection_id, "TEST")

    assert response.status_code == 201, response.text
    webhook = response.json()["webhook"]
    assert webhook["status"] == "failed"
    assert webhook["reason"]
    assert any(
        f"forcebridge connection webhook {connection_id}" in s for s in webhook["instructions"]
    )
    assert len(api.get(f"/api/v1/connections/{connection_id}/bindings").json()["data"]) == 1
    assert admin_webhooks(sandbox) == []

    # Jira is back: the retry the answer names registers it.
    sandbox.jira.operator.clear_faults()
    retried = api.post(f"/api/v1/connections/{connection_id}/webhook")
    assert retried.status_code == 200, retried.text
    assert retried.json()["data"]["status"] == "registered"


def test_a_failed_registration_is_retried_by_the_next_change(api: TestClient, sandbox: Any) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    sandbox.jira.operator.add_fault(
        FaultRequest(method="POST", path="^/rest/webhooks/1.0/webhook$", status=503, count=10)
    )
    assert bind(api, connection_id, "TEST").json()["webhook"]["status"] == "failed"
    sandbox.jira.operator.clear_faults()

    updated = api.patch(f"/api/v1/connections/{connection_id}", json={"name": "Renamed"})

    assert updated.json()["webhook"]["status"] == "registered"
    assert len(admin_webhooks(sandbox)) == 1


def test_registration_waits_until_automatic_push_is_switched_on(
    api: TestClient, sandbox: Any
) -> None:
    created = create_connection(api, sandbox, settings={"allow_auto_push": False})
    connection_id = created["data"]["id"]
    mark = sandbox.jira.operator.last_sequence

    assert bind(api, connection_id, "TEST").json()["webhook"] is None
    assert webhook_calls(sandbox, mark) == []

    switched_on = api.patch(
        f"/api/v1/connections/{connection_id}", json={"settings": {"allow_auto_push": True}}
    )
    assert switched_on.json()["webhook"]["status"] == "registered"
    assert len(admin_webhooks(sandbox)) == 1


def test_oauth_connections_get_the_manual_steps_once_per_filter(
    api: TestClient, sandbox: Any
) -> None:
    response = api.post("/api/v1/connections", json=jira_oauth_payload(sandbox))
    assert response.status_code == 201, response.text
    connection_id = response.json()["data"]["id"]
    mark = sandbox.jira.operator.last_sequence

    first = bind(api, connection_id, "TEST").json()["webhook"]

    assert first["status"] == "manual"
    assert "OAuth" in first["reason"]
    steps = "\n".join(first["instructions"])
    assert first["url"] in steps and 'project in ("TEST")' in steps
    assert f"forcebridge connection webhook {connection_id} --show-secret" in steps
    assert webhook_calls(sandbox, mark) == [] and admin_webhooks(sandbox) == []
    # Not repeated while the filter stays the same; repeated with the new filter when it changes.
    renamed = api.patch(f"/api/v1/connections/{connection_id}", json={"name": "OAuth renamed"})
    assert renamed.json()["webhook"] is None
    second = bind(api, connection_id, "SUP").json()["webhook"]
    assert second["status"] == "manual"
    assert 'project in ("SUP", "TEST")' in "\n".join(second["instructions"])


def test_after_a_site_change_a_stored_id_that_is_not_ours_is_left_alone(
    api: TestClient, sandbox: Any, container: Container
) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    bind(api, connection_id, "TEST")
    foreign = sandbox.jira.webhook_registry.create_admin(
        {
            "name": "Other app",
            "url": "https://other.example/hook",
            "events": ["jira:issue_updated"],
        },
        "someone",
    )
    with container.session() as session:
        row = session.get(WebhookSecret, connection_id)
        assert row is not None
        # As if the id had been stored for the connection's previous Jira site.
        row.jira_webhook_id = str(foreign["id"])
        row.registered_site_url = "https://previous.atlassian.net"

    webhook = bind(api, connection_id, "SUP").json()["webhook"]

    assert webhook["status"] == "registered"
    assert webhook["jiraWebhookId"] != str(foreign["id"])
    untouched = sandbox.jira.webhook_registry.admin(foreign["id"])
    assert untouched["url"] == "https://other.example/hook" and untouched["name"] == "Other app"


# -- admin UI -------------------------------------------------------------------------------------


def _ui_bind(client: TestClient, connection_id: str, project: str) -> Any:
    page = client.get(f"/admin/connections/{connection_id}/bindings")
    return client.post(
        f"/admin/connections/{connection_id}/bindings",
        data={"csrf_token": csrf_token(page.text), "jira_project": project},
        follow_redirects=False,
    )


@pytest.fixture
def ui(api: TestClient) -> TestClient:
    """The app's client signed in to the admin UI (and still sending admin Basic credentials)."""
    assert sign_in(api).status_code == 303
    return api


def test_binding_in_the_ui_shows_the_webhook_outcome_on_the_next_page(
    ui: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox, bind_projects=())

    answer = _ui_bind(ui, connection.id, "TEST")

    assert answer.status_code == 303
    assert "webhook=notice" not in answer.headers["location"]  # nothing for the admin to do
    page = ui.get(answer.headers["location"])
    assert "Jira webhook registered" in page.text
    assert len(admin_webhooks(sandbox)) == 1


def test_a_failed_registration_in_the_ui_shows_the_retry_and_register_now_works(
    ui: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox, bind_projects=())
    sandbox.jira.operator.add_fault(
        FaultRequest(method="POST", path="^/rest/webhooks/1.0/webhook$", status=503, count=10)
    )

    answer = _ui_bind(ui, connection.id, "TEST")

    assert answer.status_code == 303
    assert answer.headers["location"].endswith("?webhook=notice")
    page = ui.get(answer.headers["location"])
    assert "The Jira webhook could not be changed" in page.text
    assert f"forcebridge connection webhook {connection.id}" in page.text
    assert f'action="/admin/connections/{connection.id}/webhook"' in page.text  # Register now

    sandbox.jira.operator.clear_faults()
    registered = ui.post(
        f"/admin/connections/{connection.id}/webhook",
        data={"csrf_token": csrf_token(page.text)},
        follow_redirects=True,
    )
    assert registered.status_code == 200
    assert "Jira webhook registered" in registered.text
    assert len(admin_webhooks(sandbox)) == 1


# -- CLI ------------------------------------------------------------------------------------------


def test_the_cli_prints_the_webhook_outcome_when_a_connection_is_removed(
    api: TestClient, sandbox: Any, container: Container
) -> None:
    connection_id = create_connection(api, sandbox)["data"]["id"]
    bind(api, connection_id, "TEST")
    app = typer.Typer()
    register_connection_commands(app)
    register_job_commands(app)

    removed = CliRunner().invoke(
        app, ["connection", "remove", connection_id, "--yes", "--json"], obj=container
    )

    assert removed.exit_code == 0, removed.output
    answer = json.loads(removed.output.strip().splitlines()[-1])
    assert answer["deleted"] is True and answer["webhook"]["status"] == "removed"
    assert admin_webhooks(sandbox) == []


def test_the_connection_page_shows_the_manual_steps_and_a_register_now_button(
    ui: TestClient, sandbox: Any
) -> None:
    response = ui.post("/api/v1/connections", json=jira_oauth_payload(sandbox))
    connection_id = response.json()["data"]["id"]
    bind(ui, connection_id, "TEST")

    page = ui.get(f"/admin/connections/{connection_id}")

    assert page.status_code == 200
    assert 'data-webhook-status="manual"' in page.text
    assert "Set it up by hand in Jira" in page.text
    assert f"/webhooks/jira/{connection_id}" in page.text
    assert f'action="/admin/connections/{connection_id}/webhook"' in page.text
