"""SalesforceClient and SalesforceAuth against the Salesforce sandbox, counting calls in its log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from forcebridge.errors import NeedsAdminAction, NotFound, TransientExternalError
from forcebridge.http import build_client
from forcebridge.salesforce.auth import RefreshTokenGrant, SalesforceAuth
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.sandbox.salesforce import SalesforceSandbox
from forcebridge.sandbox.testing import salesforce_transport
from forcebridge.settings import Settings

LOGIN_URL = "https://sandbox.my.salesforce.com"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    emulator = SalesforceSandbox()
    yield emulator
    emulator.close()


@pytest.fixture
def transport(sandbox: SalesforceSandbox) -> httpx2.BaseTransport:
    return salesforce_transport(sandbox)


@pytest.fixture
def operator(transport: httpx2.BaseTransport) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=LOGIN_URL, transport=transport) as client:
        client.delete("/__sandbox/requests")
        client.delete("/__sandbox/faults")
        yield client


@pytest.fixture
def rotated() -> list[str]:
    return []


@pytest.fixture
def auth(
    sandbox: SalesforceSandbox, transport: httpx2.BaseTransport, rotated: list[str]
) -> SalesforceAuth:
    credentials = sandbox.credentials
    grant = RefreshTokenGrant(
        LOGIN_URL + "/services/oauth2/token",
        credentials["client_id"],
        credentials["client_secret"],
        credentials["refresh_token"],
        rotated.append,
    )
    return SalesforceAuth(grant, http=httpx2.Client(transport=transport))


@pytest.fixture
def instance_http(
    auth: SalesforceAuth, transport: httpx2.BaseTransport, operator: httpx2.Client
) -> httpx2.Client:
    instance_url = auth.sign_in()
    operator.delete("/__sandbox/requests")
    return httpx2.Client(base_url=instance_url, transport=transport, auth=auth)


@pytest.fixture
def salesforce(instance_http: httpx2.Client) -> SalesforceClient:
    return SalesforceClient(instance_http)


def counts(operator: httpx2.Client) -> dict[str, int]:
    return operator.get("/__sandbox/requests/counts").json()["by_endpoint"]


def fault(operator: httpx2.Client, **rule: Any) -> None:
    operator.post("/__sandbox/faults", json=rule).raise_for_status()


def case_ids(salesforce: SalesforceClient, limit: int) -> list[str]:
    return [row["Id"] for row in salesforce.query(f"SELECT Id FROM Case ORDER BY Id LIMIT {limit}")]


def create_cases(operator: httpx2.Client, instance_http: httpx2.Client, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 200):
        records = [
            {"attributes": {"type": "Case"}, "Subject": f"bulk {n}"}
            for n in range(start, min(count, start + 200))
        ]
        body = instance_http.post(
            "/services/data/v62.0/composite/sobjects",
            json={"allOrNone": True, "records": records},
        ).json()
        ids.extend(result["id"] for result in body)
    operator.delete("/__sandbox/requests")
    return ids


def test_sign_in_finds_the_instance_url(auth: SalesforceAuth) -> None:
    assert auth.sign_in() == LOGIN_URL


def test_describe_is_cached(salesforce: SalesforceClient, operator: httpx2.Client) -> None:
    assert salesforce.describe("Case")["keyPrefix"] == "500"
    salesforce.describe("Case")
    assert counts(operator) == {"GET /services/data/v{version}/sobjects/{sobject}/describe": 1}


def test_update_records_of_450_records_takes_3_calls(
    salesforce: SalesforceClient, operator: httpx2.Client, instance_http: httpx2.Client
) -> None:
    ids = create_cases(operator, instance_http, 450)
    results = salesforce.update_records(
        "Case", [{"Id": record_id, "Status": "Working"} for record_id in ids]
    )
    assert all(result["success"] for result in results)
    assert counts(operator) == {"PATCH /services/data/v{version}/composite/sobjects": 3}
    stored = salesforce.get_records("Case", ids, ["Status"])
    assert {record["Status"] for record in stored} == {"Working"}
    assert [record["Id"] for record in stored] == ids


def test_get_records_and_get_record_agree(salesforce: SalesforceClient) -> None:
    first, second = case_ids(salesforce, 2)
    records = salesforce.get_records("Case", [first[:15], second], ["Subject"])
    assert [record["Id"] for record in records] == [first, second]
    assert (
        salesforce.get_record("Case", first[:15], ["Subject"])["Subject"] == records[0]["Subject"]
    )


def test_missing_record_is_not_found(salesforce: SalesforceClient) -> None:
    existing = case_ids(salesforce, 1)[0]
    missing = existing[:5] + "ZZZZZZZZZZ"
    with pytest.raises(NotFound):
        salesforce.get_record("Case", missing)


def test_unknown_field_needs_admin_action(salesforce: SalesforceClient) -> None:
    with pytest.raises(NeedsAdminAction) as caught:
        list(salesforce.query("SELECT Id, No_Such_Field__c FROM Case"))
    assert caught.value.code == "INVALID_FIELD"


def test_api_usage_follows_sforce_limit_info(salesforce: SalesforceClient) -> None:
    salesforce.limits()
    first = salesforce.api_usage
    salesforce.limits()
    assert first is not None and salesforce.api_usage == (first[0] + 1, first[1])


def test_expired_session_signs_in_once_more_and_retries(
    salesforce: SalesforceClient, auth: SalesforceAuth, operator: httpx2.Client
) -> None:
    invalid_session = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    fault(operator, method="GET", path="/limits", status=401, body=invalid_session)
    assert "DailyApiRequests" in salesforce.limits()
    assert auth.sign_in_count == 2
    assert counts(operator)["POST /services/oauth2/token"] == 1


def test_daily_limit_is_transient_and_does_not_sign_in_again(
    salesforce: SalesforceClient, auth: SalesforceAuth, operator: httpx2.Client
) -> None:
    body = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    fault(operator, method="GET", path="/limits", status=403, body=body)
    with pytest.raises(TransientExternalError) as caught:
        salesforce.limits()
    assert caught.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert auth.sign_in_count == 1


def test_dropped_connection_is_transient(
    salesforce: SalesforceClient, operator: httpx2.Client
) -> None:
    fault(operator, method="GET", path="/limits", drop_connection=True)
    with pytest.raises(TransientExternalError):
        salesforce.limits()


def test_client_works_through_the_guarded_metered_http_layer(
    sandbox: SalesforceSandbox, transport: httpx2.BaseTransport, settings: Settings
) -> None:
    credentials = sandbox.credentials
    login_http = build_client(
        settings=settings,
        service="salesforce",
        connection_id="c1",
        base_url=LOGIN_URL,
        transport=transport,
    )
    grant = RefreshTokenGrant(
        LOGIN_URL + "/services/oauth2/token",
        credentials["client_id"],
        credentials["client_secret"],
        credentials["refresh_token"],
        lambda token: None,
    )
    auth = SalesforceAuth(grant, http=login_http)
    http = build_client(
        settings=settings,
        service="salesforce",
        connection_id="c1",
        base_url=auth.sign_in(),
        auth=auth,
        transport=transport,
    )
    salesforce = SalesforceClient(http)
    assert len(case_ids(salesforce, 3)) == 3
    assert salesforce.api_usage is not None
