"""Metadata for clients that discover before they write: users, priorities, statuses, issue
types, createmeta, editmeta and the paginated changelog."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox

from .test_contract import assert_matches_operation

ALICE = "712020:2b9e4c1d-6a7f-4e25-8c3b-1d0f9e7a6b02"


def test_user_lookup_by_account_id_and_search_by_email(client: TestClient, auth: dict) -> None:
    alice = client.get("/rest/api/3/user", params={"accountId": ALICE}, headers=auth)
    assert alice.json()["displayName"] == "Alice Agent"
    assert_matches_operation("/rest/api/3/user", "get", 200, alice.json())
    assert (
        client.get("/rest/api/3/user", params={"accountId": "nobody"}, headers=auth).status_code
        == 404
    )
    found = client.get("/rest/api/3/user/search", params={"query": "bob@sandbox"}, headers=auth)
    assert [user["displayName"] for user in found.json()] == ["Bob Builder"]
    assert_matches_operation("/rest/api/3/user/search", "get", 200, found.json())
    assert client.get("/rest/api/3/user/search", headers=auth).status_code == 400


def test_priority_status_and_issue_type_lists(client: TestClient, auth: dict) -> None:
    for path, names in [
        ("/rest/api/3/priority", ["Highest", "High", "Medium", "Low", "Lowest"]),
        ("/rest/api/3/status", ["To Do", "In Progress", "Done"]),
        ("/rest/api/3/issuetype", ["Task", "Bug", "Story"]),
    ]:
        response = client.get(path, headers=auth)
        assert [item["name"] for item in response.json()] == names
        assert_matches_operation(path, "get", 200, response.json())


def test_createmeta_lists_issue_types_and_their_fields_with_allowed_values(
    client: TestClient, auth: dict
) -> None:
    types = client.get("/rest/api/3/issue/createmeta/TEST/issuetypes", headers=auth)
    assert [t["name"] for t in types.json()["issueTypes"]] == ["Task", "Bug", "Story"]
    assert_matches_operation(
        "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes", "get", 200, types.json()
    )
    fields = client.get(
        "/rest/api/3/issue/createmeta/TEST/issuetypes/10002",
        params={"maxResults": 200},
        headers=auth,
    )
    by_id = {f["fieldId"]: f for f in fields.json()["fields"]}
    assert by_id["summary"]["required"] is True and by_id["description"]["required"] is False
    assert [v["value"] for v in by_id["customfield_10013"]["allowedValues"]] == [
        "Critical",
        "Major",
        "Minor",
    ]
    assert by_id["labels"]["operations"] == ["add", "set", "remove"]
    assert_matches_operation(
        "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}",
        "get",
        200,
        fields.json(),
    )
    assert (
        client.get("/rest/api/3/issue/createmeta/TEST/issuetypes/999", headers=auth).status_code
        == 404
    )


def test_editmeta_describes_editable_fields(client: TestClient, auth: dict) -> None:
    meta = client.get("/rest/api/3/issue/TEST-1/editmeta", headers=auth).json()
    assert "status" not in meta["fields"] and "customfield_10014" in meta["fields"]
    assert meta["fields"]["priority"]["defaultValue"]["name"] == "Medium"
    assert_matches_operation("/rest/api/3/issue/{issueIdOrKey}/editmeta", "get", 200, meta)


def test_changelog_pages_through_history(client: TestClient, auth: dict, jira: JiraSandbox) -> None:
    for summary in ("one", "two", "three"):
        client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": summary}}, headers=auth)
    page = client.get(
        "/rest/api/3/issue/TEST-1/changelog", params={"startAt": 1, "maxResults": 1}, headers=auth
    ).json()
    assert page["total"] == 3 and page["isLast"] is False
    assert page["values"][0]["items"][0]["toString"] == "two"
    assert_matches_operation("/rest/api/3/issue/{issueIdOrKey}/changelog", "get", 200, page)
