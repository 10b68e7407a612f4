"""sObject Collections and Composite: batches, per-record results, allOrNone rollback,
references.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from .conftest import API, create, query

COLLECTIONS = f"{API}/composite/sobjects"


def account(name: str) -> dict:
    return {"attributes": {"type": "Account"}, "Name": name}


def test_collection_create_returns_one_result_per_record_in_order(client: TestClient) -> None:
    response = client.post(
        COLLECTIONS,
        json={
            "allOrNone": False,
            "records": [account("One"), {"attributes": {"type": "Account"}}, account("Three")],
        },
    )

    assert response.status_code == 200
    results = response.json()
    assert [result["success"] for result in results] == [True, False, True]
    assert results[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    assert (
        query(client, "SELECT COUNT() FROM Account WHERE Name IN ('One', 'Three')")["totalSize"]
        == 2
    )


def test_collection_all_or_none_rolls_back_every_record(client: TestClient) -> None:
    response = client.post(
        COLLECTIONS,
        json={
            "allOrNone": True,
            "records": [account("Kept?"), {"attributes": {"type": "Account"}}],
        },
    )

    results = response.json()
    assert results[0] == {
        "id": None,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": (
                    "Record rolled back because not all records were valid and the "
                    "request was using AllOrNone header"
                ),
                "fields": [],
            }
        ],
    }
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert query(client, "SELECT COUNT() FROM Account WHERE Name = 'Kept?'")["totalSize"] == 0


def test_collection_update_all_or_none_restores_earlier_updates(client: TestClient) -> None:
    first = create(client, "Case", Subject="first")
    second = create(client, "Case", Subject="second")

    response = client.patch(
        COLLECTIONS,
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Case"}, "id": first, "Subject": "changed"},
                {"attributes": {"type": "Case"}, "id": second, "Priority": "Urgent"},
            ],
        },
    )

    assert [result["errors"][0]["statusCode"] for result in response.json()] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert client.get(f"{API}/sobjects/Case/{first}").json()["Subject"] == "first"


def test_collection_update_without_id_fails_that_record_only(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="a")

    results = client.patch(
        COLLECTIONS,
        json={
            "records": [
                {"attributes": {"type": "Case"}, "id": case_id, "Subject": "b"},
                {"attributes": {"type": "Case"}, "Subject": "c"},
            ]
        },
    ).json()

    assert results[0] == {"id": case_id, "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "MISSING_ARGUMENT"


def test_collection_delete_by_ids_reports_each_id(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="delete me")

    results = client.delete(
        COLLECTIONS, params={"ids": f"{case_id},001Hn0000000zzz,garbage"}
    ).json()

    assert results[0] == {"id": case_id, "success": True, "errors": []}
    assert results[1]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"


def test_collection_retrieve_returns_null_for_missing_ids(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="fetch me")

    by_get = client.get(
        f"{COLLECTIONS}/Case", params={"ids": f"{case_id},500Hn0000000zzz", "fields": "Subject"}
    ).json()
    by_post = client.post(
        f"{COLLECTIONS}/Case", json={"ids": [case_id], "fields": ["Subject", "Status"]}
    ).json()

    assert by_get[0]["Subject"] == "fetch me" and by_get[1] is None
    assert set(by_post[0]) == {"attributes", "Subject", "Status"}


def test_collection_upsert_by_external_id_reports_created(client: TestClient) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Case"}, "Jira_Issue_Key__c": "SUP-100", "Subject": "new"},
            {"attributes": {"type": "Case"}, "Jira_Issue_Key__c": "SUP-100", "Subject": "again"},
        ],
    }

    results = client.patch(f"{COLLECTIONS}/Case/Jira_Issue_Key__c", json=body).json()

    assert [result["created"] for result in results] == [True, False]
    assert results[0]["id"] == results[1]["id"]


def test_collections_refuse_more_than_200_records(client: TestClient) -> None:
    response = client.post(COLLECTIONS, json={"records": [account(f"A{n}") for n in range(201)]})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_collections_need_a_concrete_type(client: TestClient) -> None:
    response = client.post(COLLECTIONS, json={"records": [{"Name": "typeless"}]})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_TYPE"


def test_composite_resolves_references_between_subrequests(client: TestClient) -> None:
    response = client.post(
        f"{API}/composite",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "newAccount",
                    "body": {"Name": "Composite Inc"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Case",
                    "referenceId": "newCase",
                    "body": {"Subject": "Composite case", "AccountId": "@{newAccount.id}"},
                },
                {
                    "method": "GET",
                    "url": f"{API}/sobjects/Case/@{{newCase.id}}?fields=Subject,AccountId",
                    "referenceId": "readBack",
                },
                {
                    "method": "GET",
                    "url": f"{API}/query?q=SELECT+Id+FROM+Account+WHERE+Name+%3D+%27Composite+Inc%27",  # noqa: E501
                    "referenceId": "found",
                },
            ]
        },
    )

    assert response.status_code == 200
    parts = {part["referenceId"]: part for part in response.json()["compositeResponse"]}
    assert parts["newAccount"]["httpStatusCode"] == 201
    assert parts["newAccount"]["httpHeaders"]["Location"].endswith(
        parts["newAccount"]["body"]["id"]
    )
    assert parts["readBack"]["body"]["AccountId"] == parts["newAccount"]["body"]["id"]
    assert parts["found"]["body"]["totalSize"] == 1


def test_composite_all_or_none_rolls_back_and_halts_the_rest(client: TestClient) -> None:
    response = client.post(
        f"{API}/composite",
        json={
            "allOrNone": True,
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "good",
                    "body": {"Name": "Rolled back Inc"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Case",
                    "referenceId": "bad",
                    "body": {"Priority": "Urgent"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "never",
                    "body": {"Name": "Never Inc"},
                },
            ],
        },
    )

    parts = response.json()["compositeResponse"]
    assert [part["httpStatusCode"] for part in parts] == [400, 400, 400]
    assert parts[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert parts[1]["body"][0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert parts[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert (
        query(client, "SELECT COUNT() FROM Account WHERE Name IN ('Rolled back Inc', 'Never Inc')")[
            "totalSize"
        ]
        == 0
    )


def test_composite_without_all_or_none_fails_dependents_of_a_failed_request(
    client: TestClient,
) -> None:
    parts = client.post(
        f"{API}/composite",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Case",
                    "referenceId": "bad",
                    "body": {"Priority": "Urgent"},
                },
                {
                    "method": "GET",
                    "url": f"{API}/sobjects/Case/@{{bad.id}}",
                    "referenceId": "dependent",
                },
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "independent",
                    "body": {"Name": "Still here"},
                },
            ]
        },
    ).json()["compositeResponse"]

    assert [part["httpStatusCode"] for part in parts] == [400, 400, 201]
    assert parts[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"


def test_composite_refuses_more_than_25_subrequests_and_counts_as_one_call(
    client: TestClient,
) -> None:
    used_before = client.get("/__sandbox/salesforce/limits").json()["used"]
    request = {"method": "GET", "url": f"{API}/limits", "referenceId": "r0"}

    too_many = client.post(
        f"{API}/composite",
        json={"compositeRequest": [{**request, "referenceId": f"r{n}"} for n in range(26)]},
    )
    fine = client.post(
        f"{API}/composite",
        json={"compositeRequest": [{**request, "referenceId": f"r{n}"} for n in range(25)]},
    )

    assert too_many.status_code == 400
    assert fine.status_code == 200 and len(fine.json()["compositeResponse"]) == 25
    assert client.get("/__sandbox/salesforce/limits").json()["used"] == used_before + 2


def test_an_all_or_none_collection_inside_composite_undoes_only_its_own_records(
    client: TestClient,
) -> None:
    parts = client.post(
        f"{API}/composite",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{API}/sobjects/Account",
                    "referenceId": "before",
                    "body": {"Name": "Created before the batch"},
                },
                {
                    "method": "POST",
                    "url": f"{API}/composite/sobjects",
                    "referenceId": "batch",
                    "body": {
                        "allOrNone": True,
                        "records": [account("In batch"), {"attributes": {"type": "Account"}}],
                    },
                },
            ]
        },
    ).json()["compositeResponse"]

    assert [part["httpStatusCode"] for part in parts] == [201, 200]
    assert (
        query(client, "SELECT COUNT() FROM Account WHERE Name = 'Created before the batch'")[
            "totalSize"
        ]
        == 1
    )
    assert query(client, "SELECT COUNT() FROM Account WHERE Name = 'In batch'")["totalSize"] == 0
