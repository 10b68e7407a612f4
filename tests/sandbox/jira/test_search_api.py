"""Search over JQL: /search/jql (token pages), approximate-count, legacy /search; evaluation."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox


def keys(client: TestClient, auth: dict, jql: str) -> list[str]:
    response = client.get(
        "/rest/api/3/search/jql",
        params={"jql": jql, "fields": "summary", "maxResults": 100},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    return [issue["key"] for issue in response.json()["issues"]]


def test_default_fields_are_id_only(client: TestClient, auth: dict) -> None:
    result = client.get(
        "/rest/api/3/search/jql", params={"jql": "project = TEST"}, headers=auth
    ).json()
    assert result["isLast"] is True and "nextPageToken" not in result
    assert all("fields" not in issue for issue in result["issues"])
    assert len(result["issues"]) == 5


def test_pages_follow_next_page_token_until_is_last(client: TestClient, auth: dict) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params = {"jql": "project = TEST ORDER BY key ASC", "maxResults": 2, "fields": "key"}
        if token:
            params["nextPageToken"] = token
        page = client.get("/rest/api/3/search/jql", params=params, headers=auth).json()
        pages += 1
        seen += [issue["key"] for issue in page["issues"]]
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            break
    assert pages == 3
    assert seen == ["TEST-1", "TEST-2", "TEST-3", "TEST-4", "TEST-5"]


def test_post_form_takes_fields_as_a_list(client: TestClient, auth: dict) -> None:
    body = {"jql": "key = TEST-2", "fields": ["summary", "status"], "expand": "names"}
    result = client.post("/rest/api/3/search/jql", json=body, headers=auth).json()
    assert set(result["issues"][0]["fields"]) == {"summary", "status"}
    assert result["names"] == {"summary": "Summary", "status": "Status"}


def test_bad_page_token_and_unbounded_jql_are_rejected(client: TestClient, auth: dict) -> None:
    bad = client.get(
        "/rest/api/3/search/jql",
        params={"jql": "project = TEST", "nextPageToken": "garbage"},
        headers=auth,
    )
    assert bad.status_code == 400
    unbounded = client.get(
        "/rest/api/3/search/jql", params={"jql": "order by key desc"}, headers=auth
    )
    assert unbounded.status_code == 400


def test_bad_jql_gets_jiras_error_shape(client: TestClient, auth: dict) -> None:
    response = client.get("/rest/api/3/search/jql", params={"jql": "project = "}, headers=auth)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {}
    assert body["errorMessages"][0].startswith("Error in the JQL Query: ")


def test_unknown_values_and_fields_are_reported(client: TestClient, auth: dict) -> None:
    response = client.get("/rest/api/3/search/jql", params={"jql": "project = VULN"}, headers=auth)
    assert response.json()["errorMessages"] == [
        "The value 'VULN' does not exist for the field 'project'."
    ]
    response = client.get("/rest/api/3/search/jql", params={"jql": "watchCount = 1"}, headers=auth)
    assert "Field 'watchCount' does not exist" in response.json()["errorMessages"][0]


def test_status_labels_and_in_lists(client: TestClient, auth: dict) -> None:
    assert keys(client, auth, 'project = TEST AND status = "In Progress" ORDER BY key') == [
        "TEST-2",
        "TEST-5",
    ]
    assert keys(client, auth, "labels in (login, docs) ORDER BY key") == ["TEST-1", "TEST-5"]
    assert keys(client, auth, "project = TEST AND labels is EMPTY") == ["TEST-3"]
    assert keys(client, auth, "project = TEST AND labels != customer ORDER BY key") == [
        "TEST-2",
        "TEST-4",
        "TEST-5",
    ]
    assert keys(client, auth, "status not in (Done, 'To Do') ORDER BY key desc") == [
        "TEST-5",
        "TEST-2",
    ]


def test_text_search_matches_words_in_summary_and_description(
    client: TestClient, auth: dict
) -> None:
    assert keys(client, auth, 'summary ~ "password"') == ["TEST-1"]
    assert keys(client, auth, 'text ~ "release"') == ["TEST-1"]
    assert keys(client, auth, 'description ~ "expor*"') == ["TEST-2"]
    assert keys(client, auth, 'project = TEST AND summary !~ "search" ORDER BY key') == [
        "TEST-1",
        "TEST-2",
        "TEST-3",
        "TEST-5",
    ]


def test_custom_fields_by_cf_id_and_by_name(client: TestClient, auth: dict) -> None:
    assert keys(client, auth, "cf[10010] >= 4") == ["TEST-2"]
    assert keys(client, auth, '"Story Points" < 4') == ["TEST-1"]
    assert keys(client, auth, "Severity = Major") == ["TEST-1"]
    assert keys(client, auth, '"Affected Products" = API') == ["TEST-2"]


def test_keys_ids_and_key_errors(client: TestClient, auth: dict) -> None:
    assert keys(client, auth, "issuekey = TEST-3") == ["TEST-3"]
    assert keys(client, auth, "id in (10001, 10002) ORDER BY id") == ["TEST-1", "TEST-2"]
    response = client.get("/rest/api/3/search/jql", params={"jql": "key = TEST-999"}, headers=auth)
    assert response.json()["errorMessages"] == [
        "An issue with key 'TEST-999' does not exist for field 'key'."
    ]


def test_dates_absolute_and_relative(client: TestClient, auth: dict, jira: JiraSandbox) -> None:
    assert keys(client, auth, 'created >= "2026-01-17 14:00" ORDER BY created') == [
        "TEST-3",
        "TEST-4",
        "TEST-5",
    ]
    assert keys(client, auth, 'created < "2026/01/17 13:00"') == ["TEST-1"]
    assert keys(client, auth, "project = TEST AND updated >= -5m") == []
    client.put("/rest/api/3/issue/TEST-4", json={"fields": {"summary": "touched"}}, headers=auth)
    assert keys(client, auth, "project = TEST AND updated >= -5m") == ["TEST-4"]
    bad = client.get(
        "/rest/api/3/search/jql", params={"jql": 'updated > "yesterday"'}, headers=auth
    )
    assert bad.status_code == 400 and "Date value 'yesterday'" in bad.json()["errorMessages"][0]


def test_assignee_by_account_email_current_user_and_empty(client: TestClient, auth: dict) -> None:
    assert keys(client, auth, "assignee = currentUser()") == ["TEST-5"]
    assert keys(client, auth, 'assignee = "alice@sandbox.forcebridge.test"') == ["TEST-1"]
    assert keys(client, auth, "project = TEST AND assignee is EMPTY ORDER BY key") == [
        "TEST-3",
        "TEST-4",
    ]


def test_order_by_priority_then_key(client: TestClient, auth: dict) -> None:
    assert keys(client, auth, "project = TEST ORDER BY priority ASC") == [
        "TEST-3",
        "TEST-1",
        "TEST-2",
        "TEST-4",
        "TEST-5",
    ]


def test_approximate_count(client: TestClient, auth: dict) -> None:
    response = client.post(
        "/rest/api/3/search/approximate-count",
        json={"jql": "project = TEST AND status = Done"},
        headers=auth,
    )
    assert response.json() == {"count": 1}


def test_legacy_search_pages_with_start_at_and_total(client: TestClient, auth: dict) -> None:
    result = client.get(
        "/rest/api/2/search",
        params={"jql": "project = TEST ORDER BY key", "startAt": 3, "maxResults": 10},
        headers=auth,
    ).json()
    assert result["total"] == 5 and result["startAt"] == 3
    assert [issue["key"] for issue in result["issues"]] == ["TEST-4", "TEST-5"]
    assert "summary" in result["issues"][0]["fields"]
