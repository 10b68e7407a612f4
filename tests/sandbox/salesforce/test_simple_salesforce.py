"""simple-salesforce, unmodified, against the emulator served by uvicorn over HTTPS on 127.0.0.1.

simple-salesforce hard-codes ``https://`` in every URL it builds, so the emulator is served with
the sandbox's local CA. ``trust_env`` is off because requests lets ``REQUESTS_CA_BUNDLE`` from
the environment override ``session.verify``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from forcebridge.sandbox.server import RunningSandbox
from forcebridge.sandbox.testing import running_sandbox

simple_salesforce = pytest.importorskip("simple_salesforce")


@pytest.fixture(scope="module")
def running() -> Iterator[RunningSandbox]:
    with running_sandbox() as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def salesforce(running: RunningSandbox) -> Iterator[Any]:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(running.ca_file)
    client = simple_salesforce.Salesforce(
        instance_url=running.salesforce_url,
        session_id=running.salesforce.credentials["access_token"],
        session=session,
        version="59.0",
    )
    yield client
    session.close()


def test_create_get_update_delete(salesforce: Any) -> None:
    created = salesforce.Case.create({"Subject": "From simple-salesforce", "Priority": "High"})
    case_id = created["id"]

    assert created["success"] is True
    assert salesforce.Case.get(case_id)["Subject"] == "From simple-salesforce"
    assert salesforce.Case.update(case_id, {"Status": "Working"}) == 204
    assert salesforce.Case.get(case_id[:15])["Status"] == "Working"
    assert salesforce.Case.delete(case_id) == 204
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound):
        salesforce.Case.get(case_id)


def test_upsert_and_get_by_custom_id(salesforce: Any) -> None:
    assert salesforce.Case.upsert("Jira_Issue_Key__c/SSF-1", {"Subject": "Upserted"}) == 201
    assert salesforce.Case.upsert("Jira_Issue_Key__c/SSF-1", {"Subject": "Upserted again"}) == 200

    assert (
        salesforce.Case.get_by_custom_id("Jira_Issue_Key__c", "SSF-1")["Subject"]
        == "Upserted again"
    )


def test_validation_errors_raise_malformed_request(salesforce: Any) -> None:
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest) as raised:
        salesforce.Case.create({"Priority": "Urgent"})

    assert raised.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_query_and_query_all_follow_paging(salesforce: Any) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"SSF paging {n}"} for n in range(200)]
    for _ in range(11):
        salesforce.restful(
            "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
        )
    soql = "SELECT Id, Name FROM Account WHERE Name LIKE 'SSF paging%'"

    first = salesforce.query(soql)
    everything = salesforce.query_all(soql)

    assert first["done"] is False and len(first["records"]) == 2000
    assert everything["totalSize"] == 2200 and len(everything["records"]) == 2200
    victim = everything["records"][0]["Id"]
    salesforce.Account.delete(victim)
    with_deleted = salesforce.query_all(
        f"SELECT Id, IsDeleted FROM Account WHERE Id = '{victim}'", include_deleted=True
    )
    assert with_deleted["records"][0]["IsDeleted"] is True


def test_describe_metadata_and_limits(salesforce: Any) -> None:
    assert {item["name"] for item in salesforce.describe()["sobjects"]} >= {"Case", "Jira_Issue__c"}
    assert salesforce.Case.describe()["keyPrefix"] == "500"
    assert salesforce.Case.metadata()["objectDescribe"]["name"] == "Case"
    assert salesforce.limits()["DailyApiRequests"]["Max"] == 100_000
    assert salesforce.api_usage["api-usage"].total == 100_000


def test_restful_composite_sobjects(salesforce: Any) -> None:
    results = salesforce.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Contact"}, "LastName": "Collections"},
                {"attributes": {"type": "Contact"}, "FirstName": "No last name"},
            ],
        },
    )

    assert [result["success"] for result in results] == [True, False]


def test_updated_and_deleted_helpers(salesforce: Any) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(minutes=5)
    end = datetime.now(UTC) + timedelta(minutes=5)
    case_id = salesforce.Case.create({"Subject": "Tracked"})["id"]

    assert case_id in salesforce.Case.updated(start, end)["ids"]
    salesforce.Case.delete(case_id)
    assert case_id in [item["id"] for item in salesforce.Case.deleted(start, end)["deletedRecords"]]
