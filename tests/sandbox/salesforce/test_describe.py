"""Metadata: describe is valid against Salesforce's published schema; versions and discovery."""

from __future__ import annotations

import jsonschema
import pytest
from fastapi.testclient import TestClient
from tests.vendor_specs import SALESFORCE_DESCRIBE_SCHEMA, load_spec

from forcebridge.sandbox.salesforce.schema import build_schema

from .conftest import API

DESCRIBE_SCHEMA = load_spec(SALESFORCE_DESCRIBE_SCHEMA)
OBJECTS = sorted(build_schema().objects)


@pytest.mark.parametrize("sobject", OBJECTS)
def test_describe_of_every_object_validates_against_the_describe_schema(
    client: TestClient, sobject: str
) -> None:
    response = client.get(f"{API}/sobjects/{sobject}/describe")

    assert response.status_code == 200
    jsonschema.validate(response.json(), DESCRIBE_SCHEMA)


def test_describe_shows_types_picklists_and_permissions(client: TestClient) -> None:
    described = client.get(f"{API}/sobjects/Case/describe").json()
    fields = {field["name"]: field for field in described["fields"]}

    assert described["keyPrefix"] == "500"
    assert fields["Status"]["type"] == "picklist"
    assert [value["value"] for value in fields["Status"]["picklistValues"]] == [
        "New",
        "Working",
        "Escalated",
        "Closed",
    ]
    assert fields["Status"]["restrictedPicklist"] is True
    assert fields["CaseNumber"]["updateable"] is False
    assert fields["CaseNumber"]["createable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Description"]["filterable"] is False
    assert fields["Jira_Issue_Key__c"]["externalId"] is True
    assert fields["Jira_Issue_Key__c"]["custom"] is True
    children = {child["relationshipName"]: child for child in described["childRelationships"]}
    assert children["CaseComments"]["childSObject"] == "CaseComment"
    assert children["CaseComments"]["field"] == "ParentId"


def test_custom_object_has_a_custom_key_prefix_and_custom_fields(client: TestClient) -> None:
    described = client.get(f"{API}/sobjects/Jira_Issue__c/describe").json()

    assert described["custom"] is True
    assert described["keyPrefix"] == "a0X"
    assert {"Issue_Key__c", "Case__c", "Labels__c"} <= {
        field["name"] for field in described["fields"]
    }


def test_describe_global_lists_every_object(client: TestClient) -> None:
    response = client.get(f"{API}/sobjects")

    assert response.status_code == 200
    assert {item["name"] for item in response.json()["sobjects"]} == set(OBJECTS)


def test_paths_work_with_and_without_a_trailing_slash(client: TestClient) -> None:
    for path in ("/sobjects", "/sobjects/Case", "/sobjects/Case/describe", "/limits"):
        assert client.get(f"{API}{path}").status_code == 200
        assert client.get(f"{API}{path}/").status_code == 200


def test_object_names_are_case_insensitive(client: TestClient) -> None:
    assert client.get(f"{API}/sobjects/case/describe").json()["name"] == "Case"


def test_version_list_needs_no_authentication(anonymous: TestClient) -> None:
    response = anonymous.get("/services/data/")

    assert response.status_code == 200
    versions = {item["version"]: item for item in response.json()}
    assert versions["59.0"] == {
        "label": "Winter '24",
        "url": "/services/data/v59.0",
        "version": "59.0",
    }
    assert "66.0" in versions


def test_unknown_version_and_unknown_object_are_not_found(client: TestClient) -> None:
    assert client.get("/services/data/v12.0/sobjects").status_code == 404
    response = client.get(f"{API}/sobjects/Nope__c/describe")
    assert response.status_code == 404
    assert response.json()[0]["errorCode"] == "NOT_FOUND"
