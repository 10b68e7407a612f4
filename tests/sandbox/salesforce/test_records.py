"""sObject rows: create / read / update / delete, validation errors, upsert, change windows,
Files.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.salesforce import SalesforceSandbox

from .conftest import API, create, query


def error_of(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert isinstance(body, list), body
    return dict(body[0])


def test_create_answers_201_with_an_18_character_id_of_the_objects_prefix(
    client: TestClient,
) -> None:
    response = client.post(f"{API}/sobjects/Case/", json={"Subject": "Printer on fire"})

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True and body["errors"] == []
    assert len(body["id"]) == 18 and body["id"].startswith("500")


def test_read_returns_attributes_system_fields_and_defaults(
    client: TestClient, sandbox: SalesforceSandbox
) -> None:
    case_id = create(client, "Case", Subject="Defaults")

    record = client.get(f"{API}/sobjects/Case/{case_id}").json()

    assert record["attributes"] == {"type": "Case", "url": f"{API}/sobjects/Case/{case_id}"}
    assert record["Status"] == "New" and record["Priority"] == "Medium"
    assert record["IsDeleted"] is False and record["IsClosed"] is False
    assert record["CaseNumber"].isdigit()
    assert record["CreatedById"] == sandbox.integration_user_id
    assert record["OwnerId"] == sandbox.integration_user_id
    assert record["SystemModstamp"].endswith("+0000")


def test_read_with_fields_returns_only_those_fields(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Only some")

    record = client.get(
        f"{API}/sobjects/Case/{case_id}", params={"fields": "Subject,Status"}
    ).json()

    assert set(record) == {"attributes", "Subject", "Status"}


def test_a_15_character_id_reads_the_same_record(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Short id")

    assert client.get(f"{API}/sobjects/Case/{case_id[:15]}").json()["Id"] == case_id


def test_update_answers_204_and_moves_system_modstamp(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Before")
    before = client.get(f"{API}/sobjects/Case/{case_id}").json()

    response = client.patch(
        f"{API}/sobjects/Case/{case_id}", json={"Subject": "After", "Status": "Closed"}
    )

    assert response.status_code == 204 and response.content == b""
    after = client.get(f"{API}/sobjects/Case/{case_id}").json()
    assert after["Subject"] == "After" and after["IsClosed"] is True
    assert after["SystemModstamp"] > before["SystemModstamp"]
    assert after["LastModifiedDate"] > before["LastModifiedDate"]


def test_delete_answers_204_then_the_record_is_gone_but_visible_to_query_all(
    client: TestClient,
) -> None:
    case_id = create(client, "Case", Subject="Doomed")

    assert client.delete(f"{API}/sobjects/Case/{case_id}").status_code == 204

    assert client.get(f"{API}/sobjects/Case/{case_id}").status_code == 404
    assert (
        client.patch(f"{API}/sobjects/Case/{case_id}", json={"Subject": "x"}).json()[0]["errorCode"]
        == "ENTITY_IS_DELETED"
    )
    soql = f"SELECT Id, IsDeleted FROM Case WHERE Id = '{case_id}'"
    assert query(client, soql)["totalSize"] == 0
    deleted = client.get(f"{API}/queryAll", params={"q": soql}).json()
    assert deleted["records"][0]["IsDeleted"] is True


def test_deleting_a_case_also_deletes_its_comments(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Has comments")
    comment_id = create(client, "CaseComment", ParentId=case_id, CommentBody="hello")

    client.delete(f"{API}/sobjects/Case/{case_id}")

    assert client.get(f"{API}/sobjects/CaseComment/{comment_id}").status_code == 404


@pytest.mark.parametrize(
    ("fields", "status", "code", "bad_field"),
    [
        ({"Subject": "x", "Nope__c": 1}, 400, "INVALID_FIELD", "Nope__c"),
        ({"Subject": "x", "CaseNumber": "1"}, 400, "INVALID_FIELD_FOR_INSERT_UPDATE", "CaseNumber"),
        (
            {"Subject": "x", "Priority": "Urgent"},
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Priority",
        ),
        ({"Subject": "x" * 256}, 400, "STRING_TOO_LONG", "Subject"),
        ({"Subject": "x", "AccountId": "not-an-id"}, 400, "MALFORMED_ID", "AccountId"),
        (
            {"Subject": "x", "AccountId": "001Hn0000009999"},
            400,
            "INVALID_CROSS_REFERENCE_KEY",
            "AccountId",
        ),
        (
            {"Subject": "x", "AccountId": "500Hn0000000001"},
            400,
            "FIELD_INTEGRITY_EXCEPTION",
            "AccountId",
        ),
        ({"Subject": ["not", "text"]}, 400, "JSON_PARSER_ERROR", "Subject"),
    ],
)
def test_invalid_case_values_get_salesforce_error_codes(
    client: TestClient, fields: dict, status: int, code: str, bad_field: str
) -> None:
    response = client.post(f"{API}/sobjects/Case", json=fields)

    assert response.status_code == status
    error = error_of(response)
    assert error["errorCode"] == code
    assert bad_field in error["fields"]


def test_missing_required_fields_are_named(client: TestClient) -> None:
    response = client.post(f"{API}/sobjects/Contact", json={"FirstName": "Ada"})

    assert response.status_code == 400
    assert error_of(response) == {
        "message": "Required fields are missing: [LastName]",
        "errorCode": "REQUIRED_FIELD_MISSING",
        "fields": ["LastName"],
    }


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("Story_Points__c", "3.5", 3.5),
        ("Due_Date__c", "2027-02-03", "2027-02-03"),
        ("Last_Synced__c", "2027-02-03T10:00:00+02:00", "2027-02-03T08:00:00.000+0000"),
        ("Labels__c", "urgent;backend;urgent", "urgent;backend"),
        ("Is_Resolved__c", True, True),
        ("Summary__c", "", None),
    ],
)
def test_values_are_normalised_as_salesforce_stores_them(
    client: TestClient, field: str, value: object, stored: object
) -> None:
    issue_id = create(client, "Jira_Issue__c", Name="X-1", **{field: value})

    assert client.get(f"{API}/sobjects/Jira_Issue__c/{issue_id}").json()[field] == stored


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("Story_Points__c", "many", "JSON_PARSER_ERROR"),
        ("Story_Points__c", 1e9, "NUMBER_OUTSIDE_VALID_RANGE"),
        ("Due_Date__c", "2027-13-01", "JSON_PARSER_ERROR"),
        ("Assignee_Email__c", "not an email", "INVALID_EMAIL_ADDRESS"),
        ("Priority__c", "Blocker", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ("Is_Resolved__c", "maybe", "JSON_PARSER_ERROR"),
    ],
)
def test_type_errors_are_rejected(client: TestClient, field: str, value: object, code: str) -> None:
    response = client.post(f"{API}/sobjects/Jira_Issue__c", json={"Name": "X-2", field: value})

    assert response.status_code == 400
    assert error_of(response)["errorCode"] == code


@pytest.mark.parametrize("body", [b"{", b"[1,2]", b"", b'{"Subject": NaN}', b"\xff\xfe"])
def test_malformed_bodies_get_json_parser_error_not_500(client: TestClient, body: bytes) -> None:
    response = client.post(
        f"{API}/sobjects/Case", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert error_of(response)["errorCode"] == "JSON_PARSER_ERROR"


def test_ids_of_the_wrong_object_or_shape_are_refused(client: TestClient) -> None:
    account_id = create(client, "Account", Name="Wrong type")

    wrong_object = client.get(f"{API}/sobjects/Case/{account_id}")
    not_an_id = client.get(f"{API}/sobjects/Case/hello")
    unknown = client.get(f"{API}/sobjects/Case/500Hn00000zzzzz")

    assert (wrong_object.status_code, error_of(wrong_object)["errorCode"]) == (400, "MALFORMED_ID")
    assert (not_an_id.status_code, error_of(not_an_id)["errorCode"]) == (404, "NOT_FOUND")
    assert (unknown.status_code, error_of(unknown)["errorCode"]) == (404, "NOT_FOUND")


def test_upsert_by_external_id_creates_then_updates_then_reports_duplicates(
    client: TestClient,
) -> None:
    url = f"{API}/sobjects/Case/Jira_Issue_Key__c/SUP-42"

    created = client.patch(url, json={"Subject": "From Jira"})
    updated = client.patch(url, json={"Subject": "Edited in Jira"})

    assert created.status_code == 201 and created.json()["created"] is True
    assert updated.status_code == 200 and updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    record = client.get(url).json()
    assert record["Subject"] == "Edited in Jira" and record["Jira_Issue_Key__c"] == "SUP-42"


def test_upsert_on_an_api_version_before_46_answers_204_on_update(client: TestClient) -> None:
    url = "/services/data/v45.0/sobjects/Case/Jira_Issue_Key__c/SUP-43"
    client.patch(url, json={"Subject": "first"})

    assert client.patch(url, json={"Subject": "second"}).status_code == 204


def test_unique_external_ids_refuse_duplicates(client: TestClient) -> None:
    create(client, "Case", Subject="a", Jira_Issue_Key__c="SUP-7")

    response = client.post(
        f"{API}/sobjects/Case", json={"Subject": "b", "Jira_Issue_Key__c": "sup-7"}
    )

    assert error_of(response)["errorCode"] == "DUPLICATE_VALUE"


def test_upsert_with_a_field_that_is_not_an_external_id_is_not_found(client: TestClient) -> None:
    response = client.patch(f"{API}/sobjects/Case/Subject/hello", json={})

    assert response.status_code == 404


def test_updated_and_deleted_windows_list_changed_ids(client: TestClient) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = (datetime.now(UTC) + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kept = create(client, "Case", Subject="kept")
    removed = create(client, "Case", Subject="removed")
    client.delete(f"{API}/sobjects/Case/{removed}")

    updated = client.get(
        f"{API}/sobjects/Case/updated/", params={"start": start, "end": end}
    ).json()
    deleted = client.get(
        f"{API}/sobjects/Case/deleted/", params={"start": start, "end": end}
    ).json()

    assert kept in updated["ids"] and removed not in updated["ids"]
    assert [item["id"] for item in deleted["deletedRecords"]] == [removed]
    assert "latestDateCovered" in updated and "earliestDateAvailable" in deleted


def test_updated_window_older_than_30_days_is_refused(client: TestClient) -> None:
    start = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    response = client.get(f"{API}/sobjects/Case/updated", params={"start": start, "end": end})

    assert error_of(response)["errorCode"] == "INVALID_REPLICATION_DATE"


def test_content_version_with_first_publish_location_creates_document_and_link(
    client: TestClient,
) -> None:
    case_id = create(client, "Case", Subject="Has a file")
    data = b"%PDF-1.4 pretend"

    version_id = create(
        client,
        "ContentVersion",
        Title="report",
        PathOnClient="report.pdf",
        VersionData=base64.b64encode(data).decode(),
        FirstPublishLocationId=case_id,
    )

    version = client.get(f"{API}/sobjects/ContentVersion/{version_id}").json()
    assert version["VersionData"] == f"{API}/sobjects/ContentVersion/{version_id}/VersionData"
    assert version["FileType"] == "PDF" and version["ContentSize"] == len(data)
    download = client.get(f"{API}/sobjects/ContentVersion/{version_id}/VersionData")
    assert download.status_code == 200 and download.content == data
    links = query(
        client,
        "SELECT ContentDocumentId, ShareType FROM ContentDocumentLink WHERE LinkedEntityId = "
        f"'{case_id}'",
    )["records"]
    assert [link["ContentDocumentId"] for link in links] == [version["ContentDocumentId"]]


def test_content_version_accepts_a_multipart_upload(client: TestClient) -> None:
    data = bytes(range(256)) * 10

    response = client.post(
        f"{API}/sobjects/ContentVersion",
        files={
            "entity_content": (
                None,
                '{"Title": "blob", "PathOnClient": "blob.bin"}',
                "application/json",
            ),
            "VersionData": ("blob.bin", data, "application/octet-stream"),
        },
    )

    assert response.status_code == 201, response.text
    download = client.get(f"{API}/sobjects/ContentVersion/{response.json()['id']}/VersionData")
    assert download.content == data


def test_requests_without_a_valid_token_get_invalid_session_id(anonymous: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = anonymous.get(f"{API}/sobjects", headers=headers)

        assert response.status_code == 401
        assert response.json() == [
            {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
        ]


def test_the_legacy_oauth_authorization_scheme_is_accepted(
    anonymous: TestClient, sandbox: SalesforceSandbox
) -> None:
    response = anonymous.get(
        f"{API}/limits", headers={"Authorization": f"OAuth {sandbox.credentials['access_token']}"}
    )

    assert response.status_code == 200


def test_operator_edit_as_user_bumps_modstamp_and_is_made_by_the_agent(
    client: TestClient, sandbox: SalesforceSandbox
) -> None:
    case_id = create(client, "Case", Subject="Agent edits me")
    before = client.get(f"{API}/sobjects/Case/{case_id}").json()

    response = client.patch(
        f"/__sandbox/salesforce/records/Case/{case_id}", json={"Status": "Working"}
    )

    assert response.status_code == 200
    after = client.get(f"{API}/sobjects/Case/{case_id}").json()
    assert after["Status"] == "Working"
    assert after["LastModifiedById"] == sandbox.agent_user_id
    assert after["SystemModstamp"] > before["SystemModstamp"]


def test_reset_restores_the_seed_with_the_same_ids_and_keeps_credentials(
    client: TestClient, sandbox: SalesforceSandbox
) -> None:
    seeded = query(client, "SELECT Id, Subject FROM Case ORDER BY CaseNumber")["records"]
    token = sandbox.credentials["access_token"]
    create(client, "Case", Subject="Temporary")

    assert client.post("/__sandbox/reset").status_code == 204

    assert sandbox.credentials["access_token"] == token
    assert query(client, "SELECT Id, Subject FROM Case ORDER BY CaseNumber")["records"] == seeded


def test_state_survives_a_restart_when_a_state_path_is_given(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = SalesforceSandbox(state_path=tmp_path / "salesforce.db")
    headers = {"Authorization": f"Bearer {first.credentials['access_token']}"}
    with TestClient(first.app, headers=headers) as client:
        case_id = create(client, "Case", Subject="Persisted")
    credentials = dict(first.credentials)
    first.close()

    second = SalesforceSandbox(state_path=tmp_path / "salesforce.db")
    try:
        assert second.credentials["client_id"] == credentials["client_id"]
        with TestClient(second.app, headers=headers) as client:
            assert client.get(f"{API}/sobjects/Case/{case_id}").json()["Subject"] == "Persisted"
    finally:
        second.close()


def test_an_external_id_shared_by_several_records_answers_300_with_their_urls(
    client: TestClient,
) -> None:
    first = create(client, "Account", Name="Twin A", External_Id__c="TWIN")
    second = create(client, "Account", Name="Twin B", External_Id__c="twin")
    url = f"{API}/sobjects/Account/External_Id__c/TWIN"

    read = client.get(url)
    upsert = client.patch(url, json={"Name": "Which one?"})

    expected = [f"{API}/sobjects/Account/{first}", f"{API}/sobjects/Account/{second}"]
    assert (read.status_code, read.json()) == (300, expected)
    assert (upsert.status_code, upsert.json()) == (300, expected)
    assert client.get(f"{API}/sobjects/Account/{first}").json()["Name"] == "Twin A"
