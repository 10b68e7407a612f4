"""The admin UI in a real browser (Debian's Chromium, driven by playwright).

One scenario walks an administrator's first day: first-run setup, sign-out and sign-in, adding a
connection to the sandboxes and testing it, binding a project and mapping a field, linking an issue
to a Case and pushing from the UI (the Case changes in the sandbox), finding the push in Activity,
creating an API token in the UI and calling the external API with it, then revoking it and seeing
the call refused. ForceBridge runs under uvicorn on 127.0.0.1 with the test container, so its
outbound calls reach the in-process sandboxes. Screenshots go to ``docs/screenshots`` when
``FORCEBRIDGE_WRITE_SCREENSHOTS=1`` (the README shows them), else to the test's tmp directory.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from conftest import backend_missing
from forcebridge.sandbox.testing import app_transport

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPOSITORY = Path(__file__).resolve().parents[2]
ADMIN = ("first-admin", "a long and memorable passphrase")

pytestmark = pytest.mark.browser


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server_url(app: Any) -> Iterator[str]:
    """ForceBridge served by uvicorn in a background thread, stopped after the test."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    if not CHROMIUM.exists():
        backend_missing(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        yield page
        context.close()
        browser.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    if os.environ.get("FORCEBRIDGE_WRITE_SCREENSHOTS") == "1":
        folder = REPOSITORY / "docs" / "screenshots"
    else:
        folder = tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _jira_summary(sandbox: Any, key: str) -> str:
    credentials = sandbox.jira.credentials
    with httpx2.Client(
        transport=app_transport(sandbox.jira.app),
        base_url="https://sandbox.atlassian.net",
        auth=(credentials["email"], credentials["api_token"]),
    ) as jira:
        response = jira.get(f"/rest/api/3/issue/{key}", params={"fields": "summary"})
        response.raise_for_status()
        return str(response.json()["fields"]["summary"])


def _flash(page: Any) -> str:
    return str(page.locator(".flashes").inner_text())


def test_an_admin_sets_up_syncs_and_uses_a_token_from_the_browser(
    server_url: str, browser_page: Any, screenshots: Path, sandbox: Any
) -> None:
    page = browser_page

    def shot(name: str) -> None:
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

    # First run: no admin exists, so the UI asks for the first one.
    page.goto(f"{server_url}/admin/")
    assert page.url.endswith("/admin/setup")
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password", exact=False).first.fill(ADMIN[1])
    page.get_by_label("Password again").fill(ADMIN[1])
    shot("setup")
    page.get_by_role("button", name="Create admin account").click()
    assert "Admin account first-admin created" in _flash(page)
    shot("dashboard-empty")

    # Sign out, then sign in again.
    page.get_by_role("button", name="Sign out").click()
    assert page.url.endswith("/admin/login")
    page.get_by_label("Username").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    shot("login")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("heading", name="Dashboard").is_visible()

    # Keyboard first: Tab reaches the skip link, which moves focus to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # Add a connection to both sandboxes with the wizard, then test it.
    jira, salesforce = sandbox.jira.credentials, sandbox.salesforce.credentials
    page.get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="Add your first connection").click()
    page.get_by_label("Connection name").fill("Sandbox")
    page.get_by_label("Site URL").fill("https://sandbox.atlassian.net")
    page.get_by_label("Atlassian account e-mail").fill(jira["email"])
    page.get_by_label("API token").fill(jira["api_token"])
    page.get_by_label("Login or My Domain URL").fill("https://sandbox.my.salesforce.com")
    page.get_by_label("Consumer key (client id)").fill(salesforce["client_id"])
    page.get_by_label("Consumer secret").fill(salesforce["client_secret"])
    shot("connection-wizard")
    page.get_by_role("button", name="Create connection").click()
    assert "Connection Sandbox created" in _flash(page)
    page.get_by_role("button", name="Test connection").click()
    assert "Connection test passed" in _flash(page)
    assert page.locator('[data-side="jira"] h3').inner_text() == "Jira: OK"
    assert page.locator('[data-side="salesforce"] h3').inner_text() == "Salesforce: OK"
    shot("connection")
    connection_url = page.url

    # Bind project TEST, map every issue type to Case, and map a field with the pickers.
    page.goto(f"{connection_url}/bindings")
    page.get_by_label("Project key or id").fill("TEST")
    page.get_by_role("button", name="Bind project").click()
    assert "Jira project TEST bound" in _flash(page)
    page.get_by_label("Salesforce object", exact=True).fill("Case")
    page.get_by_role("button", name="Add mapping").click()
    assert "mapped to Case" in _flash(page)
    entity = page.locator("section.entity")
    entity.locator("summary", has_text="summary").click()
    entity.get_by_role("button", name="Remove summary ↔ Subject").click()
    assert "Field mapping deleted" in _flash(page)
    entity = page.locator("section.entity")
    entity.locator("summary", has_text="Add a field mapping").click()
    entity.get_by_label("Jira field").fill("summary")
    entity.get_by_label("Salesforce field of Case").fill("Subject")
    entity.get_by_label("Direction").last.select_option("push")
    entity.get_by_role("button", name="Add field mapping").click()
    assert "Field mapping summary ↔ Subject added" in _flash(page)
    assert page.locator("section.entity summary", has_text="summary → Subject").count() == 1
    shot("mappings")

    # Link TEST-1 to a Case and push from the UI: the Case's Subject becomes the summary.
    case = next(iter(sandbox.salesforce.records.all("Case")))
    case_id = str(case["Id"])
    summary = _jira_summary(sandbox, "TEST-1")
    assert case["Subject"] != summary
    page.get_by_role("link", name="Associations").first.click()
    page.get_by_label("Issue key or id").fill("TEST-1")
    page.get_by_label("Record id").fill(case_id)
    page.get_by_role("button", name="Link").click()
    assert "TEST-1 linked to Case" in _flash(page)
    page.get_by_role("button", name="Push now (Jira → Salesforce)").click()
    assert "(1 success)" in _flash(page)
    assert sandbox.salesforce.records.get_live("Case", case_id)["Subject"] == summary
    assert page.locator('td[data-field="Subject"]').inner_text() == summary
    shot("association")

    # The push is in the audit trail.
    page.get_by_role("link", name="Activity").click()
    page.get_by_label("Direction").select_option("push")
    page.get_by_role("button", name="Filter").click()
    row = page.locator("tbody tr").first
    assert "manual" in row.inner_text() and "success" in row.inner_text()
    assert "Subject" in row.inner_text()
    shot("activity")

    # A token created in the UI works for the external API, until it is revoked.
    page.goto(f"{connection_url}/tokens")
    page.get_by_label("1 hour").check()
    page.get_by_label("Name").fill("browser test")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_test_id("new-token").input_value()
    assert page.get_by_label("Example call").input_value().endswith(f"'Authorization: JWT {token}'")
    shot("tokens")
    call = httpx2.get(
        f"{server_url}/external/api/associations",
        params={"jiraIssueId": "TEST-1"},
        headers={"Authorization": f"JWT {token}"},
    )
    assert call.status_code == 200, call.text
    assert case_id in call.text
    page.goto(f"{connection_url}/tokens")  # the token is never shown again
    assert page.get_by_test_id("new-token").count() == 0
    page.get_by_role("button", name=f"Revoke token ending {token[-4:]}").click()
    assert "revoked" in _flash(page)
    refused = httpx2.get(
        f"{server_url}/external/api/associations",
        params={"jiraIssueId": "TEST-1"},
        headers={"Authorization": f"JWT {token}"},
    )
    assert refused.status_code == 401

    page.get_by_role("link", name="Dashboard").click()
    assert "1" in page.locator(".tile").nth(1).inner_text()
    shot("dashboard")

    # A phone-sized screen gets the same pages, one column.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{server_url}/admin/connections")
    assert page.get_by_role("link", name="Sandbox").is_visible()
    shot("connections-phone")
