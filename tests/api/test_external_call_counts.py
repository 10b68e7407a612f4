"""Outbound calls per external API request, counted exactly through the sandboxes' request logs.

Salesforce orgs share one daily API quota among every integration, so these counts are the
contract (DESIGN.md §6): a bulk association checks its records with one ``IN (...)`` query per
object and 200 ids, describe is fetched once per object and cached, and reads
by numeric id or by a known key cost no call at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from associations.builders import create_cases


def _calls(operator: Any, method: str, fragment: str) -> int:
    return sum(
        count
        for endpoint, count in operator.counts().items()
        if endpoint.startswith(f"{method} ") and fragment in endpoint
    )


def _vendor_calls(operator: Any) -> int:
    """Every logged request except OAuth token grants (sign-in, not data access)."""
    return sum(count for endpoint, count in operator.counts().items() if "oauth2" not in endpoint)


@pytest.fixture
def clean_logs(sandbox):
    def clear() -> None:
        sandbox.jira.operator.clear_log()
        sandbox.salesforce.operator.clear_log()

    return clear


def test_bulk_associating_250_cases_checks_them_with_two_queries(
    client, container, sandbox, caller, clean_logs
):
    cases = create_cases(container, caller.connection, 250)
    clean_logs()

    response = client.post(
        "/external/api/associations",
        params={"jiraIssueId": "TEST-5"},
        headers=caller.headers,
        json={"associations": [{"son": "Case", "soid": case_id} for case_id in cases]},
    )

    assert response.status_code == 201
    assert response.json()["data"]["totalAssociations"] == 250
    salesforce, jira = sandbox.salesforce.operator, sandbox.jira.operator
    # ceil(250 / 200) = 2 queries, one describe for the key prefix, nothing else.
    assert _calls(salesforce, "GET", "/query") == 2
    assert _calls(salesforce, "GET", "/describe") == 1
    assert _vendor_calls(salesforce) == 3
    assert _calls(jira, "GET", "/issue/") == 1
    assert _vendor_calls(jira) == 1


def test_replacing_reuses_the_cached_describe_and_skipping_linked_records_queries_nothing(
    client, container, sandbox, caller, clean_logs
):
    cases = create_cases(container, caller.connection, 250)
    body = {"associations": [{"son": "Case", "soid": case_id} for case_id in cases]}
    client.post(
        "/external/api/associations",
        params={"jiraIssueId": "TEST-5"},
        headers=caller.headers,
        json=body,
    )
    clean_logs()

    replaced = client.post(
        "/external/api/associations",
        params={"jiraIssueId": "TEST-5", "replace": "true"},
        headers=caller.headers,
        json=body,
    )
    salesforce_after_replace = _vendor_calls(sandbox.salesforce.operator)
    clean_logs()
    kept = client.post(
        "/external/api/associations",
        params={"jiraIssueId": "TEST-5", "replace": "false"},
        headers=caller.headers,
        json=body,
    )

    assert (replaced.status_code, kept.status_code) == (201, 200)
    assert salesforce_after_replace == 2  # the two queries; describe came from the cache
    assert _vendor_calls(sandbox.salesforce.operator) == 0  # all 250 already linked
    assert _vendor_calls(sandbox.jira.operator) == 1


def test_single_association_costs_one_jira_and_two_salesforce_calls_then_one(
    client, sandbox, caller, case_ids, clean_logs
):
    clean_logs()
    first = client.post(
        "/external/api/association",
        headers=caller.headers,
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
    )
    first_salesforce = _vendor_calls(sandbox.salesforce.operator)
    clean_logs()
    second = client.post(
        "/external/api/association",
        headers=caller.headers,
        json={"jiraIssueId": "TEST-4", "son": "Case", "soid": case_ids[1]},
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert first_salesforce == 2  # describe + query
    assert _vendor_calls(sandbox.salesforce.operator) == 1  # query only
    assert _vendor_calls(sandbox.jira.operator) == 1


def test_existing_association_answers_409_without_checking_the_record_again(
    client, sandbox, caller, case_ids, clean_logs
):
    body = {"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]}
    client.post("/external/api/association", headers=caller.headers, json=body)
    clean_logs()

    again = client.post("/external/api/association", headers=caller.headers, json=body)

    assert again.status_code == 409
    assert _calls(sandbox.salesforce.operator, "GET", "/query") == 0


def test_reading_by_numeric_id_or_known_key_calls_neither_vendor(
    client, sandbox, caller, case_ids, clean_logs
):
    created = client.post(
        "/external/api/association",
        headers=caller.headers,
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
    ).json()["data"]
    clean_logs()

    for params in (
        {"jiraIssueId": created["jiraIssueId"]},
        {"jiraIssueId": "TEST-5"},
        {"son": "Case", "soid": case_ids[0]},
    ):
        response = client.get("/external/api/associations", params=params, headers=caller.headers)
        assert len(response.json()["data"]) == 1

    assert _vendor_calls(sandbox.jira.operator) == 0
    assert _vendor_calls(sandbox.salesforce.operator) == 0
