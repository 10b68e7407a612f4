"""Issues over REST v2 and v3: create, read, edit, delete, rich text, errors, moved keys."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox
from forcebridge.sandbox.jira.wire import ISSUE_NOT_FOUND, NOT_AUTHENTICATED

from .conftest import adf

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def create(client: TestClient, auth: dict, version: str = "3", **fields) -> dict:
    body = {
        "fields": {
            "project": {"key": "TEST"},
            "issuetype": {"name": "Task"},
            "summary": "New",
            **fields,
        }
    }
    response = client.post(f"/rest/api/{version}/issue", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def test_server_info_says_cloud_without_authentication(client: TestClient) -> None:
    response = client.get("/rest/api/2/serverInfo")
    assert response.status_code == 200
    assert response.json()["deploymentType"] == "Cloud"
    assert response.json()["versionNumbers"] == [1001, 0, 0]
    assert response.json()["baseUrl"] == "http://testserver"


def test_requests_without_credentials_get_jiras_exact_401(client: TestClient) -> None:
    response = client.get("/rest/api/3/issue/TEST-1")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert response.json() == {"errorMessages": [NOT_AUTHENTICATED], "errors": {}}


def test_wrong_api_token_is_rejected(client: TestClient, jira: JiraSandbox) -> None:
    import base64

    bad = base64.b64encode(f"{jira.credentials['email']}:nope".encode()).decode()
    assert (
        client.get("/rest/api/3/myself", headers={"Authorization": f"Basic {bad}"}).status_code
        == 401
    )


def test_myself_identifies_the_admin_and_responses_carry_the_account_header(
    client: TestClient, jira: JiraSandbox, auth: dict
) -> None:
    response = client.get("/rest/api/3/myself", headers=auth)
    assert response.json()["accountId"] == jira.credentials["account_id"]
    assert response.json()["emailAddress"] == jira.credentials["email"]
    assert response.headers["x-aaccountid"] == jira.credentials["account_id"]


def test_create_answers_201_with_numeric_string_id_key_and_absolute_self(
    client: TestClient, auth: dict
) -> None:
    created = create(client, auth)
    assert created["id"].isdigit()
    assert created["key"] == "TEST-6"
    assert created["self"] == f"http://testserver/rest/api/3/issue/{created['id']}"


def test_create_accepts_project_and_issuetype_by_id(client: TestClient, auth: dict) -> None:
    body = {"fields": {"project": {"id": "10001"}, "issuetype": {"id": "10002"}, "summary": "Bug"}}
    response = client.post("/rest/api/2/issue", json=body, headers=auth)
    assert response.status_code == 201
    assert response.json()["key"] == "SUP-1"


def test_create_without_summary_reports_the_field(client: TestClient, auth: dict) -> None:
    body = {"fields": {"project": {"key": "TEST"}, "issuetype": {"name": "Task"}}}
    response = client.post("/rest/api/3/issue", json=body, headers=auth)
    assert response.status_code == 400
    assert response.json() == {
        "errorMessages": [],
        "errors": {"summary": "You must specify a summary of the issue."},
    }


def test_create_with_unknown_project_and_field_reports_both(client: TestClient, auth: dict) -> None:
    body = {
        "fields": {
            "project": {"key": "NOPE"},
            "issuetype": {"name": "Task"},
            "summary": "x",
            "bogus": 1,
        }
    }
    errors = client.post("/rest/api/3/issue", json=body, headers=auth).json()["errors"]
    assert errors["project"] == "Specify a valid project ID or key"
    assert (
        errors["bogus"]
        == "Field 'bogus' cannot be set. It is not on the appropriate screen, or unknown."
    )


def test_v2_description_is_a_string_and_v3_the_same_text_as_adf(
    client: TestClient, auth: dict
) -> None:
    created = create(client, auth, version="2", description="line one\nline two\n\nnext paragraph")
    v2 = client.get(f"/rest/api/2/issue/{created['key']}", headers=auth).json()
    v3 = client.get(f"/rest/api/3/issue/{created['key']}", headers=auth).json()
    assert v2["fields"]["description"] == "line one\nline two\n\nnext paragraph"
    assert v3["fields"]["description"]["type"] == "doc"
    assert v3["fields"]["description"]["content"][0]["content"][1] == {"type": "hardBreak"}


def test_v3_rejects_a_plain_string_description(client: TestClient, auth: dict) -> None:
    response = client.put(
        "/rest/api/3/issue/TEST-1", json={"fields": {"description": "plain"}}, headers=auth
    )
    assert response.status_code == 400
    assert "Atlassian Document" in response.json()["errors"]["description"]


def test_v3_rejects_invalid_adf(client: TestClient, auth: dict) -> None:
    broken = {"type": "doc", "version": 1, "content": [{"type": "text", "text": "inline at top"}]}
    response = client.put(
        "/rest/api/3/issue/TEST-1", json={"fields": {"description": broken}}, headers=auth
    )
    assert response.status_code == 400
    empty_text = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}],
    }
    response = client.put(
        "/rest/api/3/issue/TEST-1", json={"fields": {"description": empty_text}}, headers=auth
    )
    assert response.status_code == 400


def test_get_issue_honours_the_fields_parameter_and_exclusions(
    client: TestClient, auth: dict
) -> None:
    only = client.get(
        "/rest/api/3/issue/TEST-1", params={"fields": "summary,status"}, headers=auth
    ).json()
    assert set(only["fields"]) == {"summary", "status"}
    without = client.get(
        "/rest/api/3/issue/TEST-1", params={"fields": ["*all", "-comment"]}, headers=auth
    ).json()
    assert "comment" not in without["fields"] and "summary" in without["fields"]


def test_get_issue_expands_names_rendered_fields_and_changelog(
    client: TestClient, auth: dict
) -> None:
    client.put("/rest/api/2/issue/TEST-1", json={"fields": {"summary": "Renamed"}}, headers=auth)
    issue = client.get(
        "/rest/api/2/issue/TEST-1",
        params={"expand": "names,renderedFields,changelog"},
        headers=auth,
    ).json()
    assert issue["names"]["customfield_10010"] == "Story Points"
    assert issue["renderedFields"]["description"].startswith("<p>")
    history = issue["changelog"]["histories"][-1]
    assert history["items"] == [
        {
            "field": "summary",
            "fieldtype": "jira",
            "fieldId": "summary",
            "from": None,
            "fromString": "Login page rejects valid passwords",
            "to": None,
            "toString": "Renamed",
        }
    ]


def test_timestamps_use_millis_and_an_offset_without_colon(client: TestClient, auth: dict) -> None:
    fields = client.get("/rest/api/3/issue/TEST-1", headers=auth).json()["fields"]
    assert TIMESTAMP.match(fields["created"]) and TIMESTAMP.match(fields["updated"])
    assert fields["created"] == "2026-01-17T12:34:00.000+0000"


def test_edit_answers_204_and_applies_fields_and_label_verbs(
    client: TestClient, auth: dict
) -> None:
    response = client.put(
        "/rest/api/3/issue/TEST-1",
        params={"notifyUsers": "false"},
        json={
            "fields": {"customfield_10010": 8},
            "update": {"labels": [{"add": "triaged"}, {"remove": "login"}]},
        },
        headers=auth,
    )
    assert response.status_code == 204
    fields = client.get("/rest/api/3/issue/TEST-1", headers=auth).json()["fields"]
    assert fields["labels"] == ["customer", "triaged"]
    assert fields["customfield_10010"] == 8


def test_edit_sets_custom_fields_of_every_type(
    client: TestClient, auth: dict, jira: JiraSandbox
) -> None:
    alice = "712020:2b9e4c1d-6a7f-4e25-8c3b-1d0f9e7a6b02"
    values = {
        "customfield_10011": "REF-9",
        "customfield_10012": adf("notes"),
        "customfield_10013": {"value": "Critical"},
        "customfield_10014": [{"value": "Web"}, {"id": "10201"}],
        "customfield_10015": "2026-03-01",
        "customfield_10016": "2026-03-01T10:00:00.000+0100",
        "customfield_10017": {"accountId": alice},
        "customfield_10018": ["vip"],
    }
    assert (
        client.put("/rest/api/3/issue/TEST-2", json={"fields": values}, headers=auth).status_code
        == 204
    )
    fields = client.get("/rest/api/3/issue/TEST-2", headers=auth).json()["fields"]
    assert fields["customfield_10013"]["value"] == "Critical"
    assert [o["value"] for o in fields["customfield_10014"]] == ["Web", "Mobile"]
    assert fields["customfield_10016"] == "2026-03-01T09:00:00.000+0000"
    assert fields["customfield_10017"]["accountId"] == alice
    assert fields["customfield_10012"] == adf("notes")
    v2 = client.get("/rest/api/2/issue/TEST-2", headers=auth).json()["fields"]
    assert v2["customfield_10012"] == "notes"


def test_edit_with_bad_custom_values_reports_each_field(client: TestClient, auth: dict) -> None:
    values = {
        "customfield_10010": "many",
        "customfield_10013": {"value": "Nope"},
        "customfield_10015": "31/12/2026",
    }
    response = client.put("/rest/api/3/issue/TEST-2", json={"fields": values}, headers=auth)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == set(values)


def test_edit_cannot_set_status_directly(client: TestClient, auth: dict) -> None:
    response = client.put(
        "/rest/api/3/issue/TEST-1", json={"fields": {"status": {"id": "3"}}}, headers=auth
    )
    assert response.status_code == 400
    assert "cannot be set" in response.json()["errors"]["status"]


def test_unknown_issue_gets_jiras_404_body(client: TestClient, auth: dict) -> None:
    for reference in ("TEST-999", "99999", "not a key"):
        response = client.get(f"/rest/api/3/issue/{reference}", headers=auth)
        assert response.status_code == 404
        assert response.json() == {"errorMessages": [ISSUE_NOT_FOUND], "errors": {}}


def test_issue_keys_are_case_insensitive(client: TestClient, auth: dict) -> None:
    assert client.get("/rest/api/3/issue/test-1", headers=auth).json()["key"] == "TEST-1"


def test_malformed_json_and_wrong_content_type_get_400_and_415(
    client: TestClient, auth: dict
) -> None:
    response = client.put(
        "/rest/api/3/issue/TEST-1",
        content=b"{nope",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json()["errorMessages"]
    response = client.put(
        "/rest/api/3/issue/TEST-1", content=b"x=1", headers={**auth, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415


def test_deeply_nested_json_is_a_400_not_a_crash(client: TestClient, auth: dict) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post(
        "/rest/api/3/issue", content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_oversized_json_body_gets_413(client: TestClient, auth: dict) -> None:
    body = b'{"fields": {"summary": "' + b"x" * (11 * 1024 * 1024) + b'"}}'
    response = client.put(
        "/rest/api/3/issue/TEST-1",
        content=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 413


def test_delete_answers_204_and_the_issue_is_gone(client: TestClient, auth: dict) -> None:
    assert client.delete("/rest/api/3/issue/TEST-3", headers=auth).status_code == 204
    assert client.get("/rest/api/3/issue/TEST-3", headers=auth).status_code == 404


def test_a_moved_issue_keeps_its_id_and_answers_to_its_old_key(
    client: TestClient, auth: dict
) -> None:
    moved = client.post("/__sandbox/jira/issues/TEST-1/edit", json={"move_to_project": "SUP"})
    assert moved.status_code == 200
    assert moved.json()["key"] == "SUP-1"
    by_old_key = client.get("/rest/api/3/issue/TEST-1", headers=auth).json()
    assert by_old_key["key"] == "SUP-1" and by_old_key["id"] == "10001"


def test_project_lookup_by_key_and_id_with_issue_types(client: TestClient, auth: dict) -> None:
    by_key = client.get("/rest/api/2/project/TEST", headers=auth).json()
    assert by_key["id"] == "10000"
    assert [t["name"] for t in by_key["issueTypes"]] == ["Task", "Bug", "Story"]
    assert client.get("/rest/api/2/project/10001", headers=auth).json()["key"] == "SUP"
    missing = client.get("/rest/api/2/project/NOPE", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == ["No project could be found with key 'NOPE'."]


def test_field_list_has_custom_fields_with_clause_names_and_schema(
    client: TestClient, auth: dict
) -> None:
    fields = {f["id"]: f for f in client.get("/rest/api/3/field", headers=auth).json()}
    story_points = fields["customfield_10010"]
    assert story_points["clauseNames"] == ["cf[10010]", "Story Points"]
    assert story_points["schema"]["custom"].endswith(":float")
    assert story_points["schema"]["customId"] == 10010
    assert fields["customfield_10014"]["schema"] == {
        "type": "array",
        "items": "option",
        "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multiselect",
        "customId": 10014,
    }


def test_bad_query_parameter_types_get_400(client: TestClient, auth: dict) -> None:
    response = client.get(
        "/rest/api/3/issue/TEST-1/comment", params={"startAt": "abc"}, headers=auth
    )
    assert response.status_code == 400
    assert response.json()["errorMessages"]


def test_unknown_routes_get_jiras_error_shape(client: TestClient, auth: dict) -> None:
    response = client.get("/rest/api/3/nothing-here", headers=auth)
    assert response.status_code == 404
    assert set(response.json()) == {"errorMessages", "errors"}


def test_create_applies_update_verbs_and_edit_can_return_the_issue(
    client: TestClient, auth: dict
) -> None:
    body = {
        "fields": {"project": {"key": "TEST"}, "issuetype": {"id": "10001"}, "summary": "verbs"},
        "update": {"labels": [{"add": "a"}, {"add": "b"}, {"remove": "a"}]},
    }
    key = client.post("/rest/api/3/issue", json=body, headers=auth).json()["key"]
    returned = client.put(
        f"/rest/api/3/issue/{key}",
        params={"returnIssue": "true"},
        json={
            "update": {
                "labels": [{"set": ["x", "y"]}],
                "customfield_10014": [{"add": {"value": "API"}}],
            }
        },
        headers=auth,
    )
    assert returned.status_code == 200
    assert returned.json()["fields"]["labels"] == ["x", "y"]
    assert [o["value"] for o in returned.json()["fields"]["customfield_10014"]] == ["API"]


def test_unsupported_update_verbs_and_labels_with_spaces_are_rejected(
    client: TestClient, auth: dict
) -> None:
    response = client.put(
        "/rest/api/3/issue/TEST-1", json={"update": {"summary": [{"add": "x"}]}}, headers=auth
    )
    assert response.status_code == 400 and "summary" in response.json()["errors"]
    response = client.put(
        "/rest/api/3/issue/TEST-1", json={"fields": {"labels": ["two words"]}}, headers=auth
    )
    assert (
        response.json()["errors"]["labels"]
        == "The label 'two words' contains spaces which is invalid."
    )


def test_navigable_fields_leave_out_the_comment_page(client: TestClient, auth: dict) -> None:
    fields = client.get(
        "/rest/api/3/issue/TEST-1", params={"fields": "*navigable"}, headers=auth
    ).json()["fields"]
    assert "summary" in fields and "comment" not in fields


def test_notify_users_must_be_a_boolean(client: TestClient, auth: dict) -> None:
    response = client.put(
        "/rest/api/3/issue/TEST-1",
        params={"notifyUsers": "maybe"},
        json={"fields": {"summary": "x"}},
        headers=auth,
    )
    assert response.status_code == 400
