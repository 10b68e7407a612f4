"""The real ``jira`` package (pycontribs/jira), unmodified, against the emulator over HTTP.

The emulator is served by uvicorn on 127.0.0.1 in a background thread (``server_url``); both
REST v2 (the package's default) and v3 are exercised.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from forcebridge.sandbox.jira import JiraSandbox
from jira import JIRA, JIRAError


@pytest.fixture(params=["2", "3"])
def client(request: pytest.FixtureRequest, jira: JiraSandbox, server_url: str) -> Iterator[JIRA]:
    connection = JIRA(
        server=server_url,
        basic_auth=(jira.credentials["email"], jira.credentials["api_token"]),
        options={"rest_api_version": request.param},
        max_retries=0,
    )
    yield connection
    connection.close()


def rich_text(client: JIRA, text: str) -> object:
    if client._options["rest_api_version"] == "3":
        return {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
        }
    return text


def test_server_info_marks_the_site_as_cloud(client: JIRA) -> None:
    assert client.server_info()["deploymentType"] == "Cloud"
    assert client._is_cloud


def test_create_get_update_and_delete_an_issue(client: JIRA) -> None:
    issue = client.create_issue(
        fields={
            "project": "TEST",
            "issuetype": {"name": "Bug"},
            "summary": "From the jira package",
            "description": rich_text(client, "details"),
            "labels": ["pkg"],
        }
    )
    assert issue.key.startswith("TEST-")
    fetched = client.issue(issue.key)
    assert fetched.fields.summary == "From the jira package"
    assert fetched.fields.labels == ["pkg"]
    fetched.update(fields={"summary": "Updated by the jira package"}, notify=False)
    assert client.issue(issue.key).fields.summary == "Updated by the jira package"
    fetched.delete()
    with pytest.raises(JIRAError) as missing:
        client.issue(issue.key)
    assert missing.value.status_code == 404


def test_comments(client: JIRA) -> None:
    comment = client.add_comment("TEST-1", rich_text(client, "A comment"))
    assert [c.id for c in client.comments("TEST-1")] == [comment.id]


def test_transition_by_name(client: JIRA) -> None:
    names = [t["name"] for t in client.transitions("TEST-1")]
    assert "Start Progress" in names
    client.transition_issue("TEST-1", "Start Progress")
    assert client.issue("TEST-1").fields.status.name == "In Progress"


def test_attachment(client: JIRA, tmp_path) -> None:
    path = tmp_path / "report.txt"
    path.write_bytes(b"attachment body")
    attachment = client.add_attachment("TEST-2", str(path))
    assert attachment.size == len(b"attachment body")
    assert attachment.get() == b"attachment body"


def test_search_pages_through_all_matches(client: JIRA) -> None:
    found = client.search_issues(
        "project = TEST ORDER BY key ASC", maxResults=False, fields="summary"
    )
    assert [issue.key for issue in found] == ["TEST-1", "TEST-2", "TEST-3", "TEST-4", "TEST-5"]
    assert found[0].fields.summary == "Login page rejects valid passwords"


def test_errors_surface_as_jira_errors(client: JIRA) -> None:
    with pytest.raises(JIRAError) as failed:
        client.search_issues("project = NOPE")
    assert failed.value.status_code == 400
    assert "does not exist for the field 'project'" in failed.value.text
