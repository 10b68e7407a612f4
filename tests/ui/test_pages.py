"""The admin pages without a browser: what they show, and that every failure becomes a message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, text

from builders import create_sandbox_connection
from forcebridge.admin.ui.charts import horizontal_bars, stacked_bars
from forcebridge.container import Container
from forcebridge.models import ApiToken, Connection
from ui.forms import csrf_token


def test_empty_states_say_what_to_do(admin_client: TestClient) -> None:
    assert "Start by adding a connection" in admin_client.get("/admin/").text
    assert "Add your first connection" in admin_client.get("/admin/connections").text
    assert "Add a connection</a> first" in admin_client.get("/admin/associations").text
    activity = admin_client.get("/admin/activity").text
    assert "Syncs appear here after a push or pull" in activity
    assert "No failed job waits for you" in activity


def test_unknown_connection_is_a_not_found_page_not_json(admin_client: TestClient) -> None:
    response = admin_client.get("/admin/connections/0123456789abcdef0123456789abcdef")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No connection" in response.text or "not found" in response.text.lower()


def test_an_unknown_admin_address_is_an_html_page(admin_client: TestClient) -> None:
    response = admin_client.get("/admin/no/such/page")
    assert response.status_code == 404
    assert "There is no such page" in response.text


def test_a_service_error_from_a_form_is_shown_on_the_page_it_came_from(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox, bind_projects=())
    page_url = f"/admin/connections/{connection.id}/bindings"
    page = admin_client.get(page_url)
    response = admin_client.post(
        page_url,
        data={"csrf_token": csrf_token(page.text), "jira_project": "NOPE"},
        headers={"Referer": f"http://testserver{page_url}"},
    )
    assert response.status_code == 200
    assert response.url.path == page_url
    assert 'class="flash flash-error"' in response.text
    assert "NOPE" in response.text


def test_the_wizard_shows_problems_and_never_echoes_secrets(
    admin_client: TestClient, sandbox: Any
) -> None:
    page = admin_client.get("/admin/connections/new")
    response = admin_client.post(
        "/admin/connections/new",
        data={
            "csrf_token": csrf_token(page.text),
            "name": "Broken",
            "jira_url": "https://sandbox.atlassian.net",
            "jira_auth_type": "basic",
            "jira_email": "not-an-email",
            "jira_api_token": "super-secret-jira-token",
            "salesforce_url": "https://sandbox.my.salesforce.com",
            "salesforce_auth_type": "client_credentials",
            "salesforce_client_id": "id",
            "salesforce_client_secret": "super-secret-sf-secret",
        },
    )
    assert response.status_code == 422
    assert "The connection was not saved" in response.text
    assert "email" in response.text
    assert "super-secret" not in response.text
    assert 'value="Broken"' in response.text


def test_a_failed_connection_test_names_the_side_and_the_fix(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(
        container, sandbox, bind_projects=(), jira_api_token="wrong-token-0000"
    )
    page = admin_client.get(f"/admin/connections/{connection.id}")
    response = admin_client.post(
        f"/admin/connections/{connection.id}/test", data={"csrf_token": csrf_token(page.text)}
    )
    assert "Connection test failed on Jira" in response.text
    assert "Jira: failed (bad credentials)" in response.text
    assert "How to fix: Check the Jira e-mail and API token" in response.text
    assert "Salesforce: OK" in response.text


def test_editing_a_connection_keeps_secrets_left_empty(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    with container.session() as db:
        before = db.get(Connection, connection.id)
        assert before is not None
        stored_secrets = (before.jira_credentials, before.salesforce_credentials)
    page = admin_client.get(f"/admin/connections/{connection.id}/edit")
    form = {
        "csrf_token": csrf_token(page.text),
        "name": "Renamed",
        "jira_url": "https://sandbox.atlassian.net",
        "jira_auth_type": "basic",
        "jira_email": sandbox.jira.credentials["email"],
        "salesforce_url": "https://sandbox.my.salesforce.com",
        "salesforce_auth_type": "client_credentials",
        "salesforce_client_id": sandbox.salesforce.credentials["client_id"],
        "allow_modification": "on",
    }
    response = admin_client.post(f"/admin/connections/{connection.id}/edit", data=form)
    assert "Connection saved" in response.text
    with container.session() as db:
        after = db.get(Connection, connection.id)
        assert after is not None
        assert after.name == "Renamed"
        assert (after.jira_credentials, after.salesforce_credentials) == stored_secrets
        assert after.allow_auto_push is False  # an unchecked box is a choice too


def test_deleting_a_connection_needs_its_name(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    url = f"/admin/connections/{connection.id}/delete"
    token = csrf_token(admin_client.get(url).text)
    refused = admin_client.post(url, data={"csrf_token": token, "confirm_name": "sandbox"})
    assert "Type the connection&#39;s name exactly" in refused.text
    deleted = admin_client.post(url, data={"csrf_token": token, "confirm_name": "Sandbox"})
    assert "Connection Sandbox deleted" in deleted.text
    with container.session() as db:
        assert db.get(Connection, connection.id) is None


def test_a_token_is_shown_once_and_a_custom_lifespan_is_bounded(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    url = f"/admin/connections/{connection.id}/tokens"
    token = csrf_token(admin_client.get(url).text)
    too_short = admin_client.post(
        url,
        data={"csrf_token": token, "lifespan": "custom", "custom_amount": "5", "custom_unit": "m"},
        headers={"Referer": f"http://testserver{url}"},
    )
    assert "between 15 minutes and 365 days" in too_short.text
    created = admin_client.post(
        url,
        data={"csrf_token": token, "lifespan": "custom", "custom_amount": "2", "custom_unit": "h"},
    )
    assert created.status_code == 201
    assert "Copy it now: it is shown only once" in created.text
    with container.session() as db:
        row = db.scalar(select(ApiToken))
        assert row is not None
        assert row.expires_at - row.created_at == timedelta(hours=2)
        last_four = row.last_four
    again = admin_client.get(url).text
    assert "Your new token" not in again
    assert f"…{last_four}" in again


def test_revoke_all_revokes_every_token(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    url = f"/admin/connections/{connection.id}/tokens"
    token = csrf_token(admin_client.get(url).text)
    for lifespan in ("15m", "1d"):
        admin_client.post(url, data={"csrf_token": token, "lifespan": lifespan})
    response = admin_client.post(f"{url}/revoke-all", data={"csrf_token": token})
    assert "2 token(s) revoked" in response.text
    with container.session() as db:
        assert all(row.revoked_at is not None for row in db.scalars(select(ApiToken)))


def test_activity_degrades_to_an_empty_state_when_its_tables_are_missing(
    admin_client: TestClient, container: Container
) -> None:
    with container.engine.begin() as connection:
        connection.execute(text("DROP TABLE sync_audit"))
    page = admin_client.get("/admin/activity")
    assert page.status_code == 200
    assert "The audit trail is not available" in page.text
    assert admin_client.get("/admin/").status_code == 200


def test_static_files_are_served_by_name_only(admin_client: TestClient) -> None:
    assert admin_client.get("/admin/static/app.css").headers["content-type"].startswith("text/css")
    assert admin_client.get("/admin/static/..%2Frendering.py").status_code == 404
    assert admin_client.get("/admin/static/rendering.py").status_code == 404


def test_stacked_bars_scale_to_the_tallest_column() -> None:
    chart = stacked_bars("Syncs", ["a", "b"], {"ok": [2, 4], "failed": [0, 4]})
    assert chart.maximum == 8
    tallest = sum(bar.height for bar in chart.bars if bar.label == "b")
    assert tallest == chart.plot_height
    assert [bar.series for bar in chart.bars] == ["ok", "ok", "failed"]
    assert chart.summary == "Syncs: 6 ok, 4 failed"


def test_horizontal_bars_measure_use_against_the_limit() -> None:
    chart = horizontal_bars("Calls", [("org A", 50, 100), ("org B", 100, 100)])
    assert chart.bars[0].width * 2 == chart.bars[1].width
    assert "org A 50 of 100" in chart.summary
