"""Daily API quota, Sforce-Limit-Info, the request log and injected faults."""

from __future__ import annotations

import httpx2
import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.salesforce import SalesforceSandbox
from forcebridge.sandbox.testing import salesforce_transport

from .conftest import API


def test_every_api_response_carries_sforce_limit_info(client: TestClient) -> None:
    first = client.get(f"{API}/limits")
    second = client.get(f"{API}/sobjects/Nope__c")

    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"


def test_limits_resource_reports_daily_api_requests(client: TestClient) -> None:
    client.get(f"{API}/sobjects")

    limits = client.get(f"{API}/limits/").json()

    assert limits["DailyApiRequests"] == {"Max": 100000, "Remaining": 100000 - 2}
    assert "DailyBulkApiBatches" in limits


def test_spent_quota_answers_403_request_limit_exceeded() -> None:
    sandbox = SalesforceSandbox(daily_api_limit=2, seed=False)
    try:
        with TestClient(
            sandbox.app, headers={"Authorization": f"Bearer {sandbox.credentials['access_token']}"}
        ) as client:
            statuses = [client.get(f"{API}/sobjects").status_code for _ in range(3)]
            refused = client.get(f"{API}/sobjects")
        assert statuses == [200, 200, 403]
        assert refused.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert refused.headers["Sforce-Limit-Info"] == "api-usage=2/2"
        assert "Retry-After" not in refused.headers
    finally:
        sandbox.close()


def test_operator_sets_usage_and_maximum(client: TestClient) -> None:
    assert client.put("/__sandbox/salesforce/limits", json={"used": 99, "max": 100}).json() == {
        "used": 99,
        "max": 100,
    }

    assert client.get(f"{API}/limits").status_code == 200
    assert client.get(f"{API}/limits").status_code == 403


def test_the_request_log_counts_calls_per_route_and_names_the_credential(
    client: TestClient, sandbox: SalesforceSandbox
) -> None:
    client.get(f"{API}/sobjects/Case/describe")
    client.get(f"{API}/sobjects/Case/describe/")

    counts = client.get("/__sandbox/requests/counts").json()["by_endpoint"]
    assert counts["GET /services/data/v{version}/sobjects/{sobject}/describe"] == 2
    entries = client.get("/__sandbox/requests").json()["requests"]
    assert entries[-1]["credential"] == f"token:{sandbox.credentials['access_token'][-6:]}"
    assert entries[-1]["path"].endswith("/describe/")


def test_injected_429_and_503_faults_reach_the_client_then_stop(client: TestClient) -> None:
    client.post(
        "/__sandbox/faults",
        json={
            "method": "GET",
            "path": "/sobjects/Case",
            "count": 1,
            "status": 429,
            "retry_after": "1",
        },
    )
    client.post("/__sandbox/faults", json={"path": "/query", "count": 1, "status": 503})

    throttled = client.get(f"{API}/sobjects/Case/describe")
    unavailable = client.get(f"{API}/query", params={"q": "SELECT Id FROM Case"})

    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert throttled.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert (
        unavailable.status_code == 503
        and unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    )
    assert client.get(f"{API}/sobjects/Case/describe").status_code == 200


def test_unknown_paths_and_methods_answer_in_salesforce_shape(client: TestClient) -> None:
    missing = client.get(f"{API}/nothing/here")
    wrong_method = client.put(f"{API}/sobjects/Case/500Hn0000000001IAA", json={})

    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    assert (
        wrong_method.status_code == 405
        and wrong_method.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    )


def test_a_dropped_connection_fault_reaches_an_httpx2_client(sandbox: SalesforceSandbox) -> None:
    headers = {"Authorization": f"Bearer {sandbox.credentials['access_token']}"}
    with httpx2.Client(
        transport=salesforce_transport(sandbox), base_url="http://sf", headers=headers
    ) as client:
        client.post("http://sf/__sandbox/faults", json={"path": "/limits", "drop_connection": True})

        with pytest.raises(httpx2.RemoteProtocolError):
            client.get(f"{API}/limits")
        assert client.get(f"{API}/limits").status_code == 200
