# ruff: noqa: F811  (pytest fixtures imported from the main client test module)
"""SalesforceClient.composite_queries and query_all against the Salesforce sandbox: several queries
in one API call, deleted rows through queryAll, nextRecordsUrl followed, subrequest errors
classified like stand-alone calls.
"""

from __future__ import annotations

import httpx2
import pytest

from forcebridge.errors import InvalidInput, NeedsAdminAction, TransientExternalError
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.soql import format_soql

# The sandbox, the signed-in client and the request-log helpers of the client's main test module.
from salesforce.test_against_salesforce_sandbox import (  # noqa: F401
    auth,
    counts,
    create_cases,
    fault,
    instance_http,
    operator,
    rotated,
    salesforce,
    sandbox,
    transport,
)

COMPOSITE = "POST /services/data/v{version}/composite"
API = "/services/data/v62.0"


def test_three_queries_cost_one_call_and_query_all_returns_deleted_rows(
    salesforce: SalesforceClient, operator: httpx2.Client, instance_http: httpx2.Client
) -> None:
    kept, deleted = create_cases(operator, instance_http, 2)
    instance_http.delete(f"{API}/sobjects/Case/{deleted}").raise_for_status()
    instance_http.post(
        f"{API}/sobjects/CaseComment", json={"ParentId": kept, "CommentBody": "hello"}
    ).raise_for_status()
    operator.delete("/__sandbox/requests")
    ids = [kept, deleted]

    results = salesforce.composite_queries(
        {
            "records": format_soql("SELECT Id, IsDeleted FROM Case WHERE Id IN {}", ids),
            "live": format_soql("SELECT Id FROM Case WHERE Id IN {}", ids),
            "comments": format_soql("SELECT ParentId FROM CaseComment WHERE ParentId IN {}", ids),
        },
        include_deleted=("records",),
    )

    assert counts(operator) == {COMPOSITE: 1}
    assert {(row["Id"], row["IsDeleted"]) for row in results["records"]} == {
        (kept, False),
        (deleted, True),
    }
    assert [row["Id"] for row in results["live"]] == [kept]
    assert [row["ParentId"] for row in results["comments"]] == [kept]
    assert [
        row["Id"]
        for row in salesforce.query_all(format_soql("SELECT Id FROM Case WHERE Id = {}", deleted))
    ] == [deleted]


def test_a_result_with_more_batches_is_followed(
    salesforce: SalesforceClient, operator: httpx2.Client, instance_http: httpx2.Client
) -> None:
    ids = create_cases(operator, instance_http, 250)

    results = salesforce.composite_queries(
        {"records": format_soql("SELECT Id FROM Case WHERE Id IN {}", ids[:200])},
        batch_size=200,
    )
    assert len(results["records"]) == 200
    assert counts(operator) == {COMPOSITE: 1}

    operator.delete("/__sandbox/requests")
    everything = salesforce.composite_queries(
        {"records": "SELECT Id FROM Case"}, include_deleted=("records",), batch_size=200
    )
    assert set(ids) <= {row["Id"] for row in everything["records"]}
    assert counts(operator) == {
        COMPOSITE: 1,
        "GET /services/data/v{version}/queryAll/{locator}": 1,
    }


def test_a_failed_subrequest_raises_the_error_of_its_stand_alone_call(
    salesforce: SalesforceClient, operator: httpx2.Client
) -> None:
    with pytest.raises(NeedsAdminAction) as refused:
        salesforce.composite_queries(
            {"records": "SELECT Id FROM Case LIMIT 1", "broken": "SELECT Id FROM NoSuchThing"}
        )
    assert refused.value.code == "INVALID_TYPE"

    fault(operator, method="POST", path="/composite$", status=503)
    with pytest.raises(TransientExternalError):
        salesforce.composite_queries({"records": "SELECT Id FROM Case LIMIT 1"})


def test_more_than_five_queries_are_refused_before_any_call(
    salesforce: SalesforceClient, operator: httpx2.Client
) -> None:
    with pytest.raises(InvalidInput):
        salesforce.composite_queries({f"q{n}": "SELECT Id FROM Case" for n in range(6)})
    with pytest.raises(InvalidInput):
        salesforce.composite_queries({"not an id": "SELECT Id FROM Case"})
    assert counts(operator) == {}
