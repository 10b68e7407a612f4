"""SalesforceClient against a tiny fake org (MockTransport): batching, caching, paging, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from forcebridge.errors import (
    ExternalServiceError,
    InvalidInput,
    NeedsAdminAction,
    NotFound,
    TransientExternalError,
    ValidationFailed,
)
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.ids import to_18

INSTANCE = "https://acme.my.salesforce.com"
API = "/services/data/v62.0"

Handler = Callable[[httpx2.Request], httpx2.Response]


def case_id(number: int) -> str:
    return to_18(f"500D{number:011d}")


class FakeOrg:
    """Routes ``(method, path)`` to handlers, counts calls, reports api usage on every response."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.routes: dict[tuple[str, str], Handler] = {}

    def on(
        self, method: str, path: str, handler: Handler | dict[str, Any] | list[Any] | int
    ) -> None:
        if isinstance(handler, int):
            status = handler
            self.routes[(method, path)] = lambda request: httpx2.Response(status)
        elif isinstance(handler, dict | list):
            body = handler
            self.routes[(method, path)] = lambda request: httpx2.Response(200, json=body)
        else:
            self.routes[(method, path)] = handler

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            response = httpx2.Response(
                404,
                json=[
                    {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
                ],
            )
        else:
            response = handler(request)
        response.headers["Sforce-Limit-Info"] = f"api-usage={len(self.requests)}/15000"
        return response

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def org() -> FakeOrg:
    return FakeOrg()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def salesforce(org: FakeOrg, clock: Clock) -> SalesforceClient:
    return SalesforceClient(
        httpx2.Client(base_url=INSTANCE, transport=httpx2.MockTransport(org)), clock=clock
    )


def body_of(request: httpx2.Request) -> Any:
    return json.loads(request.content)


def test_versions_and_limits(org: FakeOrg, salesforce: SalesforceClient) -> None:
    org.on("GET", "/services/data/", [{"version": "62.0", "url": f"{API}"}])
    org.on("GET", f"{API}/limits/", {"DailyApiRequests": {"Max": 15000, "Remaining": 14990}})
    assert salesforce.versions()[0]["version"] == "62.0"
    assert salesforce.limits()["DailyApiRequests"]["Max"] == 15000


def test_api_usage_is_read_from_every_response(org: FakeOrg, salesforce: SalesforceClient) -> None:
    org.on("GET", f"{API}/limits/", {})
    salesforce.limits()
    salesforce.limits()
    assert salesforce.api_usage == (2, 15000)


def test_api_usage_is_read_from_error_responses_too(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    with pytest.raises(ExternalServiceError):
        salesforce.limits()
    assert salesforce.api_usage == (1, 15000)


def test_describe_is_cached_until_the_ttl_expires(
    org: FakeOrg, salesforce: SalesforceClient, clock: Clock
) -> None:
    org.on(
        "GET", f"{API}/sobjects/Case/describe", {"name": "Case", "keyPrefix": "500", "fields": []}
    )
    assert salesforce.describe("Case")["keyPrefix"] == "500"
    calls_before = len(org.requests)
    salesforce.describe("Case")
    assert len(org.requests) - calls_before == 0
    clock.now += 301
    salesforce.describe("Case")
    assert org.count("GET", f"{API}/sobjects/Case/describe") == 2


def test_get_record_accepts_a_15_character_id_and_asks_for_fields(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    record_id = case_id(1)
    org.on("GET", f"{API}/sobjects/Case/{record_id}", {"Id": record_id, "Subject": "Hi"})
    assert salesforce.get_record("Case", record_id[:15], ["Subject", "Status"])["Subject"] == "Hi"
    assert org.requests[-1].url.params["fields"] == "Subject,Status"


def test_get_record_of_a_missing_record_is_not_found(salesforce: SalesforceClient) -> None:
    with pytest.raises(NotFound, match="Case"):
        salesforce.get_record("Case", case_id(9))


def test_get_record_checks_the_key_prefix_before_calling(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    with pytest.raises(ValidationFailed):
        salesforce.get_record("Case", "003D000000Abcde")
    assert org.requests == []


@pytest.mark.parametrize("bad", ["Case/../../limits", "Case?x", "", "1Case", "Case Comment"])
def test_bad_object_names_never_reach_salesforce(
    org: FakeOrg, salesforce: SalesforceClient, bad: str
) -> None:
    with pytest.raises(InvalidInput):
        salesforce.describe(bad)
    assert org.requests == []


def test_create_record_returns_the_new_id(org: FakeOrg, salesforce: SalesforceClient) -> None:
    org.on(
        "POST",
        f"{API}/sobjects/Case/",
        lambda r: httpx2.Response(201, json={"id": case_id(5), "success": True, "errors": []}),
    )
    assert salesforce.create_record("Case", {"Subject": "New"}) == case_id(5)
    assert body_of(org.requests[-1]) == {"Subject": "New"}


def test_update_record_patches_the_changed_fields(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    org.on("PATCH", f"{API}/sobjects/Case/{case_id(1)}", 204)
    salesforce.update_record("Case", case_id(1), {"Status": "Closed"})
    assert body_of(org.requests[-1]) == {"Status": "Closed"}


def test_update_records_sends_450_records_in_3_calls(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    def save(request: httpx2.Request) -> httpx2.Response:
        records = body_of(request)["records"]
        return httpx2.Response(
            200, json=[{"id": r["id"], "success": True, "errors": []} for r in records]
        )

    org.on("PATCH", f"{API}/composite/sobjects", save)
    records = [{"Id": case_id(n)[:15], "Status": "Closed"} for n in range(450)]
    results = salesforce.update_records("Case", records)
    assert org.count("PATCH", f"{API}/composite/sobjects") == 3
    assert [len(body_of(r)["records"]) for r in org.requests] == [200, 200, 50]
    assert [result["id"] for result in results] == [case_id(n) for n in range(450)]
    first = body_of(org.requests[0])
    assert first["allOrNone"] is False
    assert first["records"][0] == {
        "attributes": {"type": "Case"},
        "id": case_id(0),
        "Status": "Closed",
    }


def test_update_records_reports_per_record_failures_without_raising(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    failure = {
        "success": False,
        "errors": [
            {"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "No", "fields": []}
        ],
    }
    org.on(
        "PATCH",
        f"{API}/composite/sobjects",
        [{"id": case_id(1), "success": True, "errors": []}, failure],
    )
    results = salesforce.update_records("Case", [{"Id": case_id(1)}, {"Id": case_id(2)}])
    assert [r["success"] for r in results] == [True, False]


def test_update_records_needs_every_id(salesforce: SalesforceClient) -> None:
    with pytest.raises(InvalidInput):
        salesforce.update_records("Case", [{"Status": "Closed"}])


def test_get_records_retrieves_up_to_2000_ids_per_call_and_skips_nulls(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    def retrieve(request: httpx2.Request) -> httpx2.Response:
        body = body_of(request)
        return httpx2.Response(
            200, json=[{"Id": i, "Subject": "s"} if i != case_id(3) else None for i in body["ids"]]
        )

    org.on("POST", f"{API}/composite/sobjects/Case", retrieve)
    ids = [case_id(n)[:15] for n in range(2500)] + [case_id(0)]  # a duplicate in its other form
    records = salesforce.get_records("Case", ids, ["Subject"])
    assert len(records) == 2499
    assert org.count("POST", f"{API}/composite/sobjects/Case") == 2
    assert body_of(org.requests[0])["fields"] == ["Id", "Subject"]
    assert len(body_of(org.requests[0])["ids"]) == 2000


def test_query_follows_next_records_url(org: FakeOrg, salesforce: SalesforceClient) -> None:
    org.on(
        "GET",
        f"{API}/query",
        {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": f"{API}/query/01gXX-2",
            "records": [{"Id": "a"}, {"Id": "b"}],
        },
    )
    org.on("GET", f"{API}/query/01gXX-2", {"totalSize": 3, "done": True, "records": [{"Id": "c"}]})
    soql = "SELECT Id FROM Case WHERE Subject = 'x'"
    assert [r["Id"] for r in salesforce.query(soql)] == ["a", "b", "c"]
    assert org.requests[0].url.params["q"] == soql


def test_query_refuses_to_follow_a_foreign_next_records_url(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    org.on(
        "GET",
        f"{API}/query",
        {"done": False, "nextRecordsUrl": "https://evil.example/steal", "records": []},
    )
    with pytest.raises(ExternalServiceError, match="nextRecordsUrl"):
        list(salesforce.query("SELECT Id FROM Case"))


def test_unknown_field_in_a_query_needs_admin_action(
    org: FakeOrg, salesforce: SalesforceClient
) -> None:
    org.on(
        "GET",
        f"{API}/query",
        lambda r: httpx2.Response(
            400,
            json=[
                {
                    "errorCode": "INVALID_FIELD",
                    "message": "No such column 'Foo__c' on entity 'Case'",
                }
            ],
        ),
    )
    with pytest.raises(NeedsAdminAction, match="Foo__c"):
        list(salesforce.query("SELECT Foo__c FROM Case"))


def test_timeouts_are_transient() -> None:
    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    client = SalesforceClient(
        httpx2.Client(base_url=INSTANCE, transport=httpx2.MockTransport(slow))
    )
    with pytest.raises(TransientExternalError):
        client.limits()


def test_bad_api_versions_are_refused() -> None:
    with pytest.raises(InvalidInput):
        SalesforceClient(httpx2.Client(base_url=INSTANCE), api_version="62.0")
