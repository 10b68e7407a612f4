"""Bindings, entity and field mappings through the admin API, and the lookups others use."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from builders import connection_payload
from forcebridge.mappings.service import binding_for_project, entity_mapping_for, mapped_objects


@pytest.fixture
def connection_id(api: TestClient, sandbox: Any) -> str:
    response = api.post("/api/v1/connections", json=connection_payload(sandbox))
    assert response.status_code == 201, response.text
    value: str = response.json()["data"]["id"]
    return value


@pytest.fixture
def binding(api: TestClient, connection_id: str) -> dict[str, Any]:
    response = api.post(
        f"/api/v1/connections/{connection_id}/bindings", json={"jira_project": "TEST"}
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _entities(connection_id: str, binding: dict[str, Any]) -> str:
    return f"/api/v1/connections/{connection_id}/bindings/{binding['id']}/entity-mappings"


def _by_jira_field(fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["jira_field"]: item for item in fields}


def test_binding_by_key_stores_the_projects_id_and_key(binding: dict[str, Any]) -> None:
    assert binding["jira_project_id"] == "10000"
    assert binding["jira_project_key"] == "TEST"
    assert binding["entity_mappings"] == 0


def test_binding_by_id_finds_the_same_project_and_a_second_is_409(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(
        f"/api/v1/connections/{connection_id}/bindings", json={"jira_project": "10000"}
    )

    assert response.status_code == 409


def test_binding_an_unknown_project_is_404(api: TestClient, connection_id: str) -> None:
    response = api.post(
        f"/api/v1/connections/{connection_id}/bindings", json={"jira_project": "NOPE"}
    )

    assert response.status_code == 404
    assert "NOPE" in response.json()["message"]


def test_binding_with_a_malformed_project_is_422(api: TestClient, connection_id: str) -> None:
    response = api.post(
        f"/api/v1/connections/{connection_id}/bindings", json={"jira_project": "../etc"}
    )

    assert response.status_code == 422


def test_case_mapping_without_fields_gets_the_defaults(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(_entities(connection_id, binding), json={"salesforce_object": "case"})

    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["salesforce_object"] == "Case"
    assert data["jira_issue_type_id"] is None
    fields = _by_jira_field(data["fields"])
    assert fields["summary"]["salesforce_field"] == "Subject"
    assert fields["description"]["salesforce_field"] == "Description"
    assert fields["priority"]["value_map"]["push"]["Highest"] == "High"
    assert fields["priority"]["value_map"]["push"]["Lowest"] == "Low"
    assert fields["status"]["direction"] == "pull"
    assert fields["status"]["value_map"]["pull"]["Closed"] == "Done"


@pytest.mark.parametrize(
    ("sobject", "expected"),
    [
        ("Opportunity", {"summary": "Name", "description": "Description"}),
        ("Account", {"summary": "Name"}),
    ],
)
def test_opportunity_and_account_defaults(
    api: TestClient,
    connection_id: str,
    binding: dict[str, Any],
    sobject: str,
    expected: dict[str, str],
) -> None:
    data = api.post(_entities(connection_id, binding), json={"salesforce_object": sobject}).json()[
        "data"
    ]

    fields = _by_jira_field(data["fields"])
    for jira_field, salesforce_field in expected.items():
        assert fields[jira_field]["salesforce_field"] == salesforce_field


def test_mapping_an_unknown_object_is_422(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(
        _entities(connection_id, binding), json={"salesforce_object": "Spaceship__c"}
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "salesforce_object"


def test_mapping_an_issue_type_by_name_stores_its_id(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(
        _entities(connection_id, binding),
        json={"salesforce_object": "Case", "jira_issue_type_id": "bug", "fields": []},
    )

    assert response.status_code == 201, response.text
    assert response.json()["data"]["jira_issue_type_id"].isdigit()


def test_unknown_issue_type_is_422_listing_the_projects_types(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(
        _entities(connection_id, binding),
        json={"salesforce_object": "Case", "jira_issue_type_id": "Epic-ish"},
    )

    assert response.status_code == 422
    assert "Task" in response.json()["message"]


def test_same_object_for_every_issue_type_twice_is_409(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    api.post(_entities(connection_id, binding), json={"salesforce_object": "Account"})

    response = api.post(_entities(connection_id, binding), json={"salesforce_object": "Account"})

    assert response.status_code == 409


def test_explicit_fields_are_checked_with_both_vendors(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(
        _entities(connection_id, binding),
        json={
            "salesforce_object": "Case",
            "fields": [
                {"jira_field": "summary", "salesforce_field": "Subject"},
                {"jira_field": "no_such_jira_field", "salesforce_field": "Subject"},
                {"jira_field": "description", "salesforce_field": "NoSuchField__c"},
            ],
        },
    )

    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {
        "fields.1.jira_field",
        "fields.2.salesforce_field",
    }
    assert api.get(_entities(connection_id, binding)).json()["data"] == []


def test_set_policy_needs_a_value(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    response = api.post(
        _entities(connection_id, binding),
        json={
            "salesforce_object": "Case",
            "fields": [
                {"jira_field": "summary", "salesforce_field": "Subject", "unmapped_push": "set"}
            ],
        },
    )

    assert response.status_code == 422


def test_field_mapping_add_update_delete(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    entity = api.post(
        _entities(connection_id, binding), json={"salesforce_object": "Account", "fields": []}
    ).json()["data"]
    fields_url = f"{_entities(connection_id, binding)}/{entity['id']}/fields"

    added = api.post(
        fields_url, json={"jira_field": "Summary", "salesforce_field": "name", "direction": "push"}
    )
    duplicate = api.post(fields_url, json={"jira_field": "summary", "salesforce_field": "Name"})
    field_id = added.json()["data"]["id"]
    updated = api.patch(
        f"{fields_url}/{field_id}",
        json={
            "direction": "both",
            "value_map": {"pull": {"Acme": "ACME"}},
            "conflict_policy": "salesforce",
        },
    )
    bad_update = api.patch(f"{fields_url}/{field_id}", json={"unmapped_pull": "set"})
    deleted = api.delete(f"{fields_url}/{field_id}")

    assert added.status_code == 201, added.text
    assert (added.json()["data"]["jira_field"], added.json()["data"]["salesforce_field"]) == (
        "summary",
        "Name",
    )
    assert duplicate.status_code == 409
    assert updated.json()["data"]["direction"] == "both"
    assert updated.json()["data"]["value_map"] == {"push": {}, "pull": {"Acme": "ACME"}}
    assert updated.json()["data"]["conflict_policy"] == "salesforce"
    assert bad_update.status_code == 422
    assert deleted.status_code == 200
    assert (
        api.get(f"{_entities(connection_id, binding)}/{entity['id']}").json()["data"]["fields"]
        == []
    )


def test_export_then_import_round_trips(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    api.post(_entities(connection_id, binding), json={"salesforce_object": "Case"})
    api.post(_entities(connection_id, binding), json={"salesforce_object": "Account"})
    url = f"/api/v1/connections/{connection_id}/bindings/{binding['id']}/mappings"
    exported = api.get(url).json()["data"]

    api.delete(
        f"/api/v1/connections/{connection_id}/bindings/{binding['id']}/entity-mappings/"
        + api.get(_entities(connection_id, binding)).json()["data"][0]["id"]
    )
    imported = api.put(url, json=exported)

    assert imported.status_code == 200, imported.text
    assert imported.json()["data"] == exported
    assert exported["jira_project"] == {"id": "10000", "key": "TEST"}
    assert [item["salesforce_object"] for item in exported["entity_mappings"]] == [
        "Account",
        "Case",
    ]


def test_invalid_import_changes_nothing(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    api.post(_entities(connection_id, binding), json={"salesforce_object": "Case"})
    url = f"/api/v1/connections/{connection_id}/bindings/{binding['id']}/mappings"
    before = api.get(url).json()["data"]
    document = {
        "entity_mappings": [
            {"salesforce_object": "Account", "fields": []},
            {"salesforce_object": "Spaceship__c", "fields": []},
        ]
    }

    response = api.put(url, json=document)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "entity_mappings.1.salesforce_object"
    assert api.get(url).json()["data"] == before


def test_other_connections_binding_is_404(
    api: TestClient, sandbox: Any, binding: dict[str, Any]
) -> None:
    other = api.post("/api/v1/connections", json=connection_payload(sandbox, name="Other")).json()[
        "data"
    ]["id"]

    assert api.get(f"/api/v1/connections/{other}/bindings/{binding['id']}").status_code == 404
    assert api.delete(f"/api/v1/connections/{other}/bindings/{binding['id']}").status_code == 404
    assert (
        api.get(f"/api/v1/connections/{other}/bindings/{binding['id']}/mappings").status_code == 404
    )


def test_lookups_prefer_the_issue_types_own_mapping(
    api: TestClient, container: Any, connection_id: str, binding: dict[str, Any]
) -> None:
    general = api.post(
        _entities(connection_id, binding), json={"salesforce_object": "Case"}
    ).json()["data"]
    bug = api.post(
        _entities(connection_id, binding),
        json={"salesforce_object": "Case", "jira_issue_type_id": "Bug", "fields": []},
    ).json()["data"]

    with container.session() as session:
        assert binding_for_project(session, connection_id, "10000").id == binding["id"]
        assert binding_for_project(session, connection_id, "99999") is None
        assert (
            entity_mapping_for(
                session, connection_id, "10000", bug["jira_issue_type_id"], "Case"
            ).id
            == bug["id"]
        )
        assert (
            entity_mapping_for(session, connection_id, "10000", "424242", "case").id
            == general["id"]
        )
        assert entity_mapping_for(session, connection_id, "10000", None, "Case").id == general["id"]
        assert entity_mapping_for(session, connection_id, "10000", None, "Account") is None
        assert mapped_objects(session, connection_id) == {"Case"}


def test_deleting_a_binding_removes_its_mappings(
    api: TestClient, container: Any, connection_id: str, binding: dict[str, Any]
) -> None:
    api.post(_entities(connection_id, binding), json={"salesforce_object": "Case"})

    assert (
        api.delete(f"/api/v1/connections/{connection_id}/bindings/{binding['id']}").status_code
        == 200
    )

    with container.session() as session:
        assert mapped_objects(session, connection_id) == set()
    assert api.get(f"/api/v1/connections/{connection_id}/bindings").json()["data"] == []


def test_one_field_pair_may_have_a_push_row_and_a_pull_row_but_no_overlap(
    api: TestClient, connection_id: str, binding: dict[str, Any]
) -> None:
    entity = api.post(
        _entities(connection_id, binding), json={"salesforce_object": "Account", "fields": []}
    ).json()["data"]
    fields_url = f"{_entities(connection_id, binding)}/{entity['id']}/fields"
    pair = {"jira_field": "summary", "salesforce_field": "Name"}

    push_row = api.post(fields_url, json={**pair, "direction": "push"})
    pull_row = api.post(
        fields_url,
        json={**pair, "direction": "pull", "value_map": {"pull": {"Acme": "ACME"}}},
    )
    both_row = api.post(fields_url, json={**pair, "direction": "both"})
    pull_turned_push = api.patch(
        f"{fields_url}/{pull_row.json()['data']['id']}", json={"direction": "push"}
    )

    assert push_row.status_code == 201, push_row.text
    assert pull_row.status_code == 201, pull_row.text
    assert both_row.status_code == 409
    assert pull_turned_push.status_code == 409
