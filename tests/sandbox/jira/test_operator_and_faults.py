"""The operator API for Jira: faults, request log, reset, persistence across restarts."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox

from .conftest import basic_auth


def test_injected_429_carries_retry_after_and_jiras_body(client: TestClient, auth: dict) -> None:
    client.post(
        "/__sandbox/faults",
        json={"path": "/rest/api/3/issue/", "status": 429, "retry_after": "2", "count": 1},
    )
    limited = client.get("/rest/api/3/issue/TEST-1", headers=auth)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert limited.json()["errorMessages"]
    assert client.get("/rest/api/3/issue/TEST-1", headers=auth).status_code == 200


def test_injected_503_latency_and_malformed_body(client: TestClient, auth: dict) -> None:
    client.post("/__sandbox/faults", json={"method": "GET", "path": "myself", "status": 503})
    assert client.get("/rest/api/3/myself", headers=auth).status_code == 503
    client.post("/__sandbox/faults", json={"path": "myself", "latency_ms": 200})
    started = time.perf_counter()
    assert client.get("/rest/api/3/myself", headers=auth).status_code == 200
    assert time.perf_counter() - started >= 0.2
    client.post("/__sandbox/faults", json={"path": "myself", "malformed_body": True, "status": 200})
    assert client.get("/rest/api/3/myself", headers=auth).content == b'{"truncated": tru'


def test_request_log_names_credentials_and_counts_per_route(client: TestClient, auth: dict) -> None:
    client.get("/rest/api/3/issue/TEST-1", headers=auth)
    client.get("/rest/api/3/issue/TEST-2", headers=auth)
    client.get("/rest/api/3/issue/TEST-2", headers={"Authorization": "Bearer abcdefghijkl"})
    log = client.get("/__sandbox/requests").json()["requests"]
    assert [entry["credential"] for entry in log] == [
        "basic:admin@sandbox.forcebridge.test",
        "basic:admin@sandbox.forcebridge.test",
        "bearer:ghijkl",
    ]
    counts = client.get("/__sandbox/requests/counts").json()["by_endpoint"]
    assert counts == {"GET /rest/api/3/issue/{issueIdOrKey}": 3}


def test_reset_restores_the_seed_and_keeps_credentials(
    client: TestClient, auth: dict, jira: JiraSandbox
) -> None:
    token = jira.credentials["api_token"]
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "changed"}}, headers=auth)
    client.post(
        "/rest/webhooks/1.0/webhook",
        json={"name": "x", "url": "https://r.example", "events": ["jira:issue_updated"]},
        headers=auth,
    )
    assert client.post("/__sandbox/reset").status_code == 204
    assert jira.credentials["api_token"] == token
    fields = client.get("/rest/api/3/issue/TEST-1", headers=auth).json()["fields"]
    assert fields["summary"] == "Login page rejects valid passwords"
    assert client.get("/rest/webhooks/1.0/webhook", headers=auth).json() == []
    created = client.post(
        "/rest/api/3/issue",
        json={
            "fields": {"project": {"key": "TEST"}, "issuetype": {"name": "Task"}, "summary": "n"}
        },
        headers=auth,
    )
    assert created.json()["key"] == "TEST-6"


def test_state_and_credentials_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "jira.sqlite"
    first = JiraSandbox(state_path=state)
    with TestClient(first.app) as client:
        client.put(
            "/rest/api/2/issue/TEST-1",
            json={"fields": {"summary": "persisted"}},
            headers=basic_auth(first),
        )
        attachment = client.post(
            "/rest/api/2/issue/TEST-1/attachments",
            files={"file": ("a.txt", b"kept")},
            headers={**basic_auth(first), "X-Atlassian-Token": "no-check"},
        ).json()[0]
    credentials = dict(first.credentials)
    first.close()
    second = JiraSandbox(state_path=state)
    try:
        assert second.credentials == credentials
        with TestClient(second.app) as client:
            issue = client.get("/rest/api/2/issue/TEST-1", headers=basic_auth(second)).json()
            assert issue["fields"]["summary"] == "persisted"
            content = client.get(
                f"/rest/api/2/attachment/content/{attachment['id']}", headers=basic_auth(second)
            )
            assert content.content == b"kept"
            assert (
                client.get(
                    "/rest/api/2/search",
                    params={"jql": "project = TEST"},
                    headers=basic_auth(second),
                ).json()["total"]
                == 5
            )
    finally:
        second.close()


def test_workflow_can_be_replaced(client: TestClient, auth: dict) -> None:
    workflow = {
        "statuses": [
            {"id": "10000", "name": "To Do", "category": "new"},
            {"id": "10005", "name": "Waiting for customer", "category": "indeterminate"},
            {"id": "10001", "name": "Done", "category": "done"},
        ],
        "transitions": [
            {"id": "51", "name": "Ask customer", "from": ["10000"], "to": "10005"},
            {"id": "61", "name": "Close", "from": [], "to": "10001"},
        ],
        "initial_status_id": "10000",
    }
    assert client.put("/__sandbox/jira/workflow", json=workflow).status_code == 200
    names = [
        t["name"]
        for t in client.get("/rest/api/3/issue/TEST-1/transitions", headers=auth).json()[
            "transitions"
        ]
    ]
    assert names == ["Ask customer", "Close"]
    bad = {**workflow, "transitions": [{"id": "1", "name": "x", "from": [], "to": "404"}]}
    assert client.put("/__sandbox/jira/workflow", json=bad).status_code == 400


def test_seedless_sandbox_has_projects_but_no_issues(receiver) -> None:
    empty = JiraSandbox(seed=False)
    try:
        with TestClient(empty.app) as client:
            result = client.get(
                "/rest/api/2/search", params={"jql": "project = TEST"}, headers=basic_auth(empty)
            ).json()
            assert result["total"] == 0
    finally:
        empty.close()


def test_two_sandboxes_in_one_process_keep_separate_state_and_credentials() -> None:
    first, second = JiraSandbox(), JiraSandbox()
    try:
        assert first.credentials["api_token"] != second.credentials["api_token"]
        with TestClient(first.app) as one, TestClient(second.app) as two:
            one.put(
                "/rest/api/2/issue/TEST-1",
                json={"fields": {"summary": "only in the first"}},
                headers=basic_auth(first),
            )
            assert two.get("/rest/api/2/issue/TEST-1", headers=basic_auth(first)).status_code == 401
            summary = two.get("/rest/api/2/issue/TEST-1", headers=basic_auth(second)).json()[
                "fields"
            ]["summary"]
            assert summary == "Login page rejects valid passwords"
    finally:
        first.close()
        second.close()
