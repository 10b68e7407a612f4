"""The external API of the sync engine: SFJC's push as the seed script calls it, pull, push/pull of
all associations, creates and sync status — envelope, status codes and isolation."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from associations.builders import auth_headers, create_associable_connection, issue_token
from forcebridge.sandbox.operator import FaultRequest
from sync.sync_scenario import SyncScenario

# What the seed script sends with every call (it has no body on the push).
SEED_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


def seed_associate(client: TestClient, caller: Any, issue: str, case_id: str) -> Any:
    payload = {
        "jiraIssueId": issue,
        "son": "Case",
        "soid": case_id,
        "viewOnly": False,
        "autoPush": False,
        "autoPull": False,
    }
    return client.post(
        "/external/api/association", json=payload, headers={**SEED_HEADERS, **caller.headers}
    )


def seed_push(client: TestClient, caller: Any, project: str, issue: str, soid: str) -> Any:
    return client.post(
        f"/external/api/push/project/{project}/issue/{issue}/to/Case/{soid}",
        headers={**SEED_HEADERS, **caller.headers},
    )


def test_the_seed_scripts_flow_associates_pushes_and_the_case_shows_the_issue(
    client: TestClient, caller: Any, case_ids: list[str], test5: dict[str, Any], sandbox: Any
) -> None:
    soid_15 = case_ids[0][:15]  # SFJC scripts often carry 15-character ids
    project_id = test5["fields"]["project"]["id"]

    associated = seed_associate(client, caller, "TEST-5", soid_15)
    pushed = seed_push(client, caller, project_id, "TEST-5", soid_15)

    assert associated.status_code in (200, 201), associated.text
    assert pushed.status_code == 200, pushed.text
    body = pushed.json()
    assert body["success"] is True
    (result,) = body["data"]["results"]
    assert body["data"]["direction"] == "push"
    assert result["outcome"] == "success"
    assert set(result["fieldsWritten"]) == {"Subject", "Description", "Priority"}
    case = sandbox.salesforce.records.get_live("Case", case_ids[0])
    assert case["Subject"] == "Document the webhook retry policy"
    assert case["Priority"] == "Low"


def test_push_again_says_nothing_changed(
    client: TestClient, caller: Any, case_ids: list[str], test5: dict[str, Any]
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])
    seed_push(client, caller, "10000", "TEST-5", case_ids[0])

    again = seed_push(client, caller, "10000", test5["id"], case_ids[0])

    assert again.status_code == 200
    assert again.json()["data"]["results"][0]["outcome"] == "no_change"
    assert "Nothing changed" in again.json()["message"]


def test_push_with_a_project_key_is_a_400_that_asks_for_the_numeric_id(
    client: TestClient, caller: Any, case_ids: list[str]
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])

    response = seed_push(client, caller, "TEST", "TEST-5", case_ids[0])

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "numeric id" in response.json()["message"]


def test_push_with_the_wrong_project_or_no_association_is_404(
    client: TestClient, caller: Any, case_ids: list[str]
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])

    wrong_project = seed_push(client, caller, "99999", "TEST-5", case_ids[0])
    not_associated = seed_push(client, caller, "10000", "TEST-5", case_ids[1])

    assert wrong_project.status_code == 404
    assert not_associated.status_code == 404
    assert "not associated" in not_associated.json()["message"]


def test_pull_route_writes_the_case_into_the_issue(
    client: TestClient, container: Any, caller: Any, case_ids: list[str], sandbox: Any
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])
    seed_push(client, caller, "10000", "TEST-5", case_ids[0])
    scenario = SyncScenario(container, sandbox, caller.connection)
    scenario.edit_record_as_user("Case", case_ids[0], {"Subject": "Changed by an agent"})

    response = client.post(
        f"/external/api/pull/project/10000/issue/TEST-5/from/Case/{case_ids[0]}",
        headers=caller.headers,
    )

    assert response.status_code == 200, response.text
    result = response.json()["data"]["results"][0]
    assert "summary" in result["fieldsWritten"]
    assert scenario.issue("TEST-5")["fields"]["summary"] == "Changed by an agent"


def test_push_and_pull_of_all_associations(
    client: TestClient, caller: Any, case_ids: list[str]
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])
    seed_associate(client, caller, "TEST-5", case_ids[1])

    pushed = client.post("/external/api/push/issue/TEST-5", headers=caller.headers)
    pulled = client.post("/external/api/pull/issue/TEST-5", headers=caller.headers)

    assert pushed.status_code == 200 and pulled.status_code == 200
    assert {r["soid"] for r in pushed.json()["data"]["results"]} == set(case_ids[:2])
    assert pulled.json()["data"]["direction"] == "pull"


def test_a_view_only_association_answers_409(
    client: TestClient, caller: Any, case_ids: list[str]
) -> None:
    client.post(
        "/external/api/association",
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0], "viewOnly": True},
        headers=caller.headers,
    )

    response = seed_push(client, caller, "10000", "TEST-5", case_ids[0])

    assert response.status_code == 409
    assert "view-only" in response.json()["message"]


def test_a_vendor_failure_answers_with_its_status_and_the_envelope(
    client: TestClient, caller: Any, case_ids: list[str], sandbox: Any
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])
    sandbox.salesforce.operator.add_fault(
        FaultRequest(method="PATCH", path="composite/sobjects", status=503, count=10)
    )

    response = seed_push(client, caller, "10000", "TEST-5", case_ids[0])

    assert response.status_code in (502, 503)
    assert response.json()["success"] is False
    status = client.get(
        "/external/api/sync-status",
        params={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
        headers=caller.headers,
    ).json()["data"]
    assert status["lastError"]["class"] == "TransientExternalError"


def test_another_connections_token_sees_404(
    client: TestClient, container: Any, sandbox: Any, caller: Any, case_ids: list[str]
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])
    other = create_associable_connection(container, sandbox, name="Connection B")
    other_headers = auth_headers(issue_token(container, other.id))

    push = client.post(
        f"/external/api/push/project/10000/issue/TEST-5/to/Case/{case_ids[0]}",
        headers=other_headers,
    )
    status = client.get(
        "/external/api/sync-status",
        params={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
        headers=other_headers,
    )

    assert (push.status_code, status.status_code) == (404, 404)


def test_routes_need_a_token(client: TestClient, case_ids: list[str]) -> None:
    response = client.post(f"/external/api/push/project/10000/issue/TEST-5/to/Case/{case_ids[0]}")
    assert response.status_code == 401


def test_sync_status_shows_last_push_and_per_field_state(
    client: TestClient, caller: Any, case_ids: list[str]
) -> None:
    seed_associate(client, caller, "TEST-5", case_ids[0])
    seed_push(client, caller, "10000", "TEST-5", case_ids[0])

    response = client.get(
        "/external/api/sync-status",
        params={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
        headers=caller.headers,
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["lastPushAt"] is not None and data["lastPullAt"] is None
    assert data["lastError"] is None
    subject = next(f for f in data["fields"] if f["salesforceField"] == "Subject")
    assert subject["lastValue"] == "Document the webhook retry policy"
    assert subject["lastDirection"] == "push"
    assert data["recentAttempts"][0]["outcome"] == "success"


def test_create_jira_issue_route_creates_once_and_then_answers_200(
    client: TestClient, caller: Any, case_ids: list[str]
) -> None:
    body = {"son": "Case", "soid": case_ids[0], "projectId": "10000", "issueTypeId": "10001"}

    first = client.post("/external/api/create/jira-issue", json=body, headers=caller.headers)
    second = client.post("/external/api/create/jira-issue", json=body, headers=caller.headers)

    assert first.status_code == 201, first.text
    assert second.status_code == 200
    assert first.json()["data"]["association"]["id"] == second.json()["data"]["association"]["id"]
    assert second.json()["data"]["created"] is False


def test_create_salesforce_record_route(client: TestClient, caller: Any, sandbox: Any) -> None:
    response = client.post(
        "/external/api/create/salesforce-record",
        json={"jiraIssueId": "TEST-2", "son": "Case", "autoPush": True},
        headers=caller.headers,
    )

    assert response.status_code == 201, response.text
    association = response.json()["data"]["association"]
    assert association["autoPush"] is True
    case = sandbox.salesforce.records.get_live("Case", association["soid"])
    assert case["Subject"] == "Add export to CSV"


def test_create_routes_refuse_unknown_fields_and_bad_ids(client: TestClient, caller: Any) -> None:
    unknown = client.post(
        "/external/api/create/salesforce-record",
        json={"jiraIssueId": "TEST-2", "son": "Case", "extra": 1},
        headers=caller.headers,
    )
    bad_id = client.post(
        "/external/api/create/jira-issue",
        json={"son": "Case", "soid": "nope", "projectId": "10000", "issueTypeId": "10001"},
        headers=caller.headers,
    )
    assert (unknown.status_code, bad_id.status_code) == (422, 422)
