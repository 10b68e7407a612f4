"""Restoring from the Recycle Bin (an operator action: REST has no undelete), and the composite
limit of five query or collection subrequests.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient

from .conftest import API, create, query

OPERATOR = "/__sandbox/salesforce/records"


def query_all(client: TestClient, soql: str) -> list[dict[str, Any]]:
    response = client.get(f"{API}/queryAll", params={"q": soql})
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def test_undelete_restores_the_record_and_the_children_deleted_with_it(
    client: TestClient,
) -> None:
    case_id = create(client, "Case", Subject="Back from the bin")
    removed_earlier = create(client, "CaseComment", ParentId=case_id, CommentBody="old")
    kept = create(client, "CaseComment", ParentId=case_id, CommentBody="kept")
    assert client.delete(f"{API}/sobjects/CaseComment/{removed_earlier}").status_code == 204
    assert client.delete(f"{API}/sobjects/Case/{case_id}").status_code == 204
    deleted = query_all(
        client, f"SELECT SystemModstamp, IsDeleted FROM Case WHERE Id = '{case_id}'"
    )
    assert deleted[0]["IsDeleted"] is True

    restored = client.post(f"{OPERATOR}/Case/{case_id}/undelete")

    assert restored.status_code == 200, restored.text
    assert restored.json()["IsDeleted"] is False
    assert restored.json()["SystemModstamp"] > deleted[0]["SystemModstamp"]
    assert client.get(f"{API}/sobjects/Case/{case_id}").status_code == 200
    comments = query(client, f"SELECT Id FROM CaseComment WHERE ParentId = '{case_id}'")
    assert [row["Id"] for row in comments["records"]] == [kept]


def test_undelete_of_a_live_or_unknown_record_fails_like_salesforce(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Alive")
    live = client.post(f"{OPERATOR}/Case/{case_id}/undelete")
    assert live.status_code == 400
    assert live.json()[0]["errorCode"] == "UNDELETE_FAILED"
    unknown = client.post(f"{OPERATOR}/Case/500Hn00000ZZZZZIAA/undelete")
    assert unknown.status_code == 404


def test_composite_takes_at_most_five_query_or_collection_subrequests(client: TestClient) -> None:
    def subrequest(number: int) -> dict[str, str]:
        return {
            "method": "GET",
            "url": f"{API}/queryAll?q={quote('SELECT Id FROM Case LIMIT 1')}",
            "referenceId": f"q{number}",
        }

    five = client.post(
        f"{API}/composite", json={"compositeRequest": [subrequest(n) for n in range(5)]}
    )
    assert five.status_code == 200
    assert {item["httpStatusCode"] for item in five.json()["compositeResponse"]} == {200}

    six = client.post(
        f"{API}/composite", json={"compositeRequest": [subrequest(n) for n in range(6)]}
    )
    assert six.status_code == 400
    assert six.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
