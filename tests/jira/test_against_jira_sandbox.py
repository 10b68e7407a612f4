"""JiraClient, JiraBasicAuth and JiraOAuth against the Jira sandbox, counting calls in its log."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from forcebridge.errors import NeedsAdminAction, NotFound, TransientExternalError
from forcebridge.http import build_client
from forcebridge.jira.adf import adf_to_text
from forcebridge.jira.auth import JiraBasicAuth, JiraOAuth
from forcebridge.jira.client import JiraClient
from forcebridge.jira.jql import format_jql
from forcebridge.sandbox.jira import JiraSandbox
from forcebridge.sandbox.testing import jira_transport
from forcebridge.settings import Settings

SITE = "https://sandbox.atlassian.net"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[JiraSandbox]:
    emulator = JiraSandbox()
    yield emulator
    emulator.close()


@pytest.fixture
def transport(sandbox: JiraSandbox) -> httpx2.BaseTransport:
    return jira_transport(sandbox)


@pytest.fixture
def operator(transport: httpx2.BaseTransport) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=SITE, transport=transport) as client:
        client.delete("/__sandbox/requests")
        client.delete("/__sandbox/faults")
        yield client


@pytest.fixture
def jira(
    sandbox: JiraSandbox, transport: httpx2.BaseTransport, operator: httpx2.Client
) -> JiraClient:
    credentials = sandbox.credentials
    auth = JiraBasicAuth(credentials["email"], credentials["api_token"])
    return JiraClient(httpx2.Client(base_url=SITE, transport=transport, auth=auth))


def counts(operator: httpx2.Client) -> dict[str, int]:
    return operator.get("/__sandbox/requests/counts").json()["by_endpoint"]


def fault(operator: httpx2.Client, **rule: Any) -> None:
    operator.post("/__sandbox/faults", json=rule).raise_for_status()


def create(jira: JiraClient, summary: str) -> dict[str, Any]:
    return jira.create_issue(
        {"project": {"key": "TEST"}, "issuetype": {"name": "Task"}, "summary": summary}
    )


def test_server_info_and_myself(jira: JiraClient, sandbox: JiraSandbox) -> None:
    assert jira.server_info()["deploymentType"] == "Cloud"
    assert jira.myself()["accountId"] == sandbox.credentials["account_id"]


def test_wrong_api_token_needs_admin_action(
    sandbox: JiraSandbox, transport: httpx2.BaseTransport
) -> None:
    auth = JiraBasicAuth(sandbox.credentials["email"], "wrong")
    client = JiraClient(httpx2.Client(base_url=SITE, transport=transport, auth=auth))
    with pytest.raises(NeedsAdminAction):
        client.myself()


def test_fields_are_fetched_once(jira: JiraClient, operator: httpx2.Client) -> None:
    assert any(field["id"] == "summary" for field in jira.fields())
    jira.fields()
    assert counts(operator) == {"GET /rest/api/3/field": 1}


def test_search_pages_with_next_page_tokens(jira: JiraClient, operator: httpx2.Client) -> None:
    jql = format_jql("project = {} ORDER BY key ASC", "TEST")
    issues = list(jira.search(jql, fields=["summary"], page_size=2))
    assert len(issues) >= 3
    assert all("summary" in issue["fields"] for issue in issues)
    pages = -(-len(issues) // 2)
    assert counts(operator) == {"POST /rest/api/3/search/jql": pages}


def test_search_finds_an_issue_by_a_summary_full_of_quotes(jira: JiraClient) -> None:
    summary = 'He said "stop" \\ and left'
    created = create(jira, summary)
    found = list(jira.search(format_jql("key = {}", created["key"]), fields=["summary"]))
    assert [issue["fields"]["summary"] for issue in found] == [summary]


def test_get_issue_resolves_a_key_to_its_numeric_id(jira: JiraClient) -> None:
    created = create(jira, "resolve me")
    issue = jira.get_issue(created["key"], fields=["summary"])
    assert issue["id"] == created["id"] and issue["id"].isdigit()
    assert jira.get_issue(created["id"], fields=["summary"])["key"] == created["key"]
    with pytest.raises(NotFound):
        jira.get_issue("TEST-99999")


def test_get_project(jira: JiraClient) -> None:
    assert jira.get_project("TEST")["id"] == "10000"
    with pytest.raises(NotFound):
        jira.get_project("NOPE")


def test_edit_and_transition(jira: JiraClient) -> None:
    created = create(jira, "before")
    jira.edit_issue(created["key"], {"summary": "after"})
    done = next(t for t in jira.transitions(created["key"]) if t["name"] == "Done")
    jira.transition(created["key"], done["id"])
    issue = jira.get_issue(created["key"], fields=["summary", "status"])
    assert issue["fields"]["summary"] == "after"
    assert issue["fields"]["status"]["name"] == "Done"


def test_comments_round_trip_plain_text_through_adf(jira: JiraClient) -> None:
    created = create(jira, "commented")
    text = "First line\nsecond line\n\nSee https://example.com/x."
    added = jira.add_comment(created["key"], text)
    jira.edit_comment(created["key"], added["id"], text + " (edited)")
    bodies = [adf_to_text(comment["body"]) for comment in jira.comments(created["key"])]
    assert bodies == [text + " (edited)"]


def test_attachment_upload_and_streamed_download(jira: JiraClient) -> None:
    created = create(jira, "with a file")
    payload = bytes(range(256)) * 400
    (attachment,) = jira.add_attachment(
        created["key"], "data.bin", io.BytesIO(payload), "application/octet-stream"
    )
    assert attachment["size"] == len(payload)
    assert b"".join(jira.download_attachment(attachment["content"])) == payload


def test_throttling_is_transient_with_retry_after(
    jira: JiraClient, operator: httpx2.Client
) -> None:
    fault(
        operator,
        method="GET",
        path="/myself",
        status=429,
        retry_after="5",
        headers={"RateLimit-Reason": "jira-burst-based"},
    )
    with pytest.raises(TransientExternalError) as caught:
        jira.myself()
    assert caught.value.retry_after == 5
    assert jira.rate_limit is not None and jira.rate_limit.reason == "jira-burst-based"


def test_dropped_connection_is_transient(jira: JiraClient, operator: httpx2.Client) -> None:
    fault(operator, method="GET", path="/myself", drop_connection=True)
    with pytest.raises(TransientExternalError):
        jira.myself()


def test_oauth_rotates_and_persists_refresh_tokens(
    sandbox: JiraSandbox, transport: httpx2.BaseTransport, operator: httpx2.Client
) -> None:
    credentials = sandbox.credentials
    stored: list[str] = []
    auth = JiraOAuth(
        token_url=f"{SITE}/oauth/token",
        client_id=credentials["oauth_client_id"],
        client_secret=credentials["oauth_client_secret"],
        refresh_token=credentials["oauth_refresh_token"],
        on_refresh_token_rotated=stored.append,
        http=httpx2.Client(transport=transport),
    )
    base_url = f"{SITE}/ex/jira/{credentials['cloud_id']}"
    client = JiraClient(httpx2.Client(base_url=base_url, transport=transport, auth=auth))
    assert client.myself()["accountId"] == credentials["account_id"]
    fault(operator, method="GET", path="/myself", status=401)
    assert client.myself()["accountId"] == credentials["account_id"]
    assert len(stored) == 2 and stored[-1] == auth.refresh_token
    assert counts(operator)["POST /oauth/token"] == 2


def test_client_works_through_the_guarded_metered_http_layer(
    sandbox: JiraSandbox, transport: httpx2.BaseTransport, settings: Settings
) -> None:
    credentials = sandbox.credentials
    http = build_client(
        settings=settings,
        service="jira",
        connection_id="connection-1",
        base_url=SITE,
        auth=JiraBasicAuth(credentials["email"], credentials["api_token"]),
        transport=transport,
    )
    jira = JiraClient(http)
    created = create(jira, "through build_client")
    (attachment,) = jira.add_attachment(created["key"], "a.txt", io.BytesIO(b"hello"), "text/plain")
    assert b"".join(jira.download_attachment(attachment["content"])) == b"hello"
