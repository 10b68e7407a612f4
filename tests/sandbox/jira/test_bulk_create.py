"""``POST /rest/api/{2,3}/issue/bulk``: up to 50 issues a request, each created or refused on
its own, answered in Jira's ``CreatedIssues`` shape (201 when any was created, 400 when none).

The answers are checked against the vendored OpenAPI, and pycontribs' ``jira.create_issues``
(which pairs created issues with inputs by position) reads them as it reads Jira's.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox

from .conftest import adf
from .test_contract import assert_error_collection, assert_matches_operation

BULK = "/rest/api/3/issue/bulk"


def issue_fields(summary: str | None, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"project": {"key": "TEST"}, "issuetype": {"id": "10001"}, **extra}
    if summary is not None:
        fields["summary"] = summary
    return {"fields": fields}


def test_each_issue_is_created_or_refused_on_its_own(client: TestClient, auth: dict) -> None:
    body = {
        "issueUpdates": [
            issue_fields("First", description=adf("from the bulk create")),
            issue_fields(None),
            issue_fields("Third", labels=["forcebridge-marker"]),
        ]
    }

    response = client.post(BULK, json=body, headers=auth)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert_matches_operation(BULK, "post", 201, answer)
    first, third = answer["issues"]
    assert [error["failedElementNumber"] for error in answer["errors"]] == [1]
    (refused,) = answer["errors"]
    assert refused["status"] == 400
    assert "summary" in refused["elementErrors"]["errors"]
    assert first["self"].endswith(f"/rest/api/3/issue/{first['id']}")
    created = client.get(f"/rest/api/3/issue/{third['key']}", headers=auth).json()["fields"]
    assert created["summary"] == "Third"
    assert created["labels"] == ["forcebridge-marker"]
    found = client.post(
        "/rest/api/3/search/jql",
        json={"jql": 'labels in ("forcebridge-marker")', "fields": ["labels"]},
        headers=auth,
    ).json()["issues"]
    assert [issue["id"] for issue in found] == [third["id"]]


def test_a_request_refused_entirely_is_a_400_in_the_same_shape(
    client: TestClient, auth: dict, jira: JiraSandbox
) -> None:
    before = len(jira.issues.all())
    body = {"issueUpdates": [issue_fields(None), issue_fields("x", issuetype={"id": "999"})]}

    response = client.post(BULK, json=body, headers=auth)

    assert response.status_code == 400
    answer = response.json()
    assert_matches_operation(BULK, "post", 400, answer)
    assert answer["issues"] == []
    assert [error["failedElementNumber"] for error in answer["errors"]] == [0, 1]
    assert len(jira.issues.all()) == before


@pytest.mark.parametrize(
    "body",
    [
        {"issueUpdates": [issue_fields(f"Issue {n}") for n in range(51)]},
        {"issueUpdates": []},
        {"issues": [issue_fields("wrong member name")]},
        [issue_fields("not an object")],
    ],
    ids=["51-issues", "empty", "no-issueUpdates", "not-an-object"],
)
def test_a_malformed_or_too_large_request_creates_nothing(
    client: TestClient, auth: dict, jira: JiraSandbox, body: Any
) -> None:
    before = len(jira.issues.all())

    response = client.post(BULK, json=body, headers=auth)

    assert response.status_code == 400
    assert_error_collection(response.json())
    assert len(jira.issues.all()) == before


def test_rest_v2_takes_bulk_creates_too(client: TestClient, auth: dict) -> None:
    response = client.post(
        "/rest/api/2/issue/bulk",
        json={"issueUpdates": [issue_fields("v2", description="wiki *markup*")]},
        headers=auth,
    )

    assert response.status_code == 201, response.text
    assert [issue["key"].startswith("TEST-") for issue in response.json()["issues"]] == [True]


def test_the_jira_package_pairs_created_issues_with_their_inputs(
    server_url: str, jira: JiraSandbox
) -> None:
    jira_package = pytest.importorskip("jira")
    client = jira_package.JIRA(
        server=server_url,
        basic_auth=(jira.credentials["email"], jira.credentials["api_token"]),
        options={"rest_api_version": "3"},
        max_retries=0,
    )
    try:
        results = client.create_issues(
            [
                {"project": {"key": "TEST"}, "issuetype": {"id": "10001"}, "summary": "ok"},
                {"project": {"key": "TEST"}, "issuetype": {"id": "10001"}},
            ],
            prefetch=False,
        )
    finally:
        client.close()

    assert [result["status"] for result in results] == ["Success", "Error"]
    assert "summary" in results[1]["error"]
