"""Push: a Jira issue's mapped fields to its associated Salesforce records.

Call counts come from the sandboxes' request logs and are exact: they are the promise the product
makes about the org's daily API quota.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from forcebridge.errors import Conflict, Forbidden, ForceBridgeError, NotFound
from forcebridge.sync.models import SyncAudit
from forcebridge.sync.push import push_issue
from sync.sync_scenario import SyncScenario

ISSUE_READ = "GET /rest/api/3/issue/{issueIdOrKey}"
COLLECTION_UPDATE = "PATCH /services/data/v{version}/composite/sobjects"


@pytest.fixture
def scenario(container: Any, sandbox: Any) -> SyncScenario:
    return SyncScenario.build(container, sandbox)


def push(scenario: SyncScenario, issue: str = "TEST-5", **options: Any) -> Any:
    return push_issue(scenario.container, scenario.connection.id, issue, **options)


def test_push_writes_the_issues_mapped_values_into_the_case(scenario: SyncScenario) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.associate("TEST-5", "Case", case_id)
    issue = scenario.issue("TEST-5")

    report = push(scenario)

    (result,) = report.results
    assert result.outcome == "success", result.to_wire()
    assert set(result.fields_written) == {"Subject", "Description", "Priority"}
    case = scenario.record("Case", case_id)
    assert case["Subject"] == issue["fields"]["summary"]
    assert case["Description"] == "Explain retries, backoff and duplicate deliveries."
    assert case["Priority"] == "Low"  # Jira "Lowest" through the default value map


def test_push_with_warm_caches_costs_one_jira_read_and_one_salesforce_write(
    scenario: SyncScenario,
) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.associate("TEST-5", "Case", case_id)
    push(scenario)  # warms the describe and field caches
    scenario.edit_issue_as_user("TEST-5", {"summary": "Retry policy, explained"})
    scenario.clear_logs()

    report = push(scenario)

    assert report.results[0].fields_written == ["Subject"]
    assert scenario.jira_calls() == {ISSUE_READ: 1}
    assert scenario.salesforce_data_calls() == {COLLECTION_UPDATE: 1}
    assert scenario.record("Case", case_id)["Subject"] == "Retry policy, explained"


def test_push_repeated_without_change_reads_once_and_writes_nothing(
    scenario: SyncScenario,
) -> None:
    scenario.associate("TEST-5", "Case", scenario.record_ids("Case")[0])
    push(scenario)
    scenario.clear_logs()

    report = push(scenario)

    assert report.results[0].outcome == "no_change"
    assert "Nothing changed" in report.message
    assert scenario.jira_calls() == {ISSUE_READ: 1}
    assert scenario.salesforce_data_calls() == {}


def test_push_to_450_cases_costs_one_jira_read_and_three_salesforce_calls(
    scenario: SyncScenario,
) -> None:
    from associations.builders import create_cases

    case_ids = create_cases(scenario.container, scenario.connection, 450)
    for case_id in case_ids:
        scenario.associate("TEST-1", "Case", case_id)
    push(scenario, "TEST-1", trigger="bulk")  # warm caches, first write of every record
    scenario.edit_issue_as_user("TEST-1", {"summary": "Login fails for SSO users"})
    scenario.clear_logs()

    report = push(scenario, "TEST-1", trigger="bulk")

    assert len(report.results) == 450
    assert all(result.fields_written == ["Subject"] for result in report.results)
    assert scenario.jira_calls() == {ISSUE_READ: 1}
    assert scenario.salesforce_data_calls() == {COLLECTION_UPDATE: 3}
    assert scenario.record("Case", case_ids[-1])["Subject"] == "Login fails for SSO users"


def test_push_reports_a_wrong_type_field_and_still_writes_the_others(
    scenario: SyncScenario,
) -> None:
    opportunity_id = scenario.record_ids("Opportunity")[0]
    scenario.add_mapping("Opportunity", jira_field="summary", salesforce_field="Amount")
    scenario.associate("TEST-5", "Opportunity", opportunity_id)
    amount_before = scenario.record("Opportunity", opportunity_id)["Amount"]

    (result,) = push(scenario).results

    assert result.outcome == "partial"
    assert "Name" in result.fields_written
    amount_problem = next(problem for problem in result.problems if problem.field == "Amount")
    assert amount_problem.message.startswith("Amount:")
    assert "number" in amount_problem.message
    opportunity = scenario.record("Opportunity", opportunity_id)
    assert opportunity["Amount"] == amount_before
    assert opportunity["Name"] == "Document the webhook retry policy"


def test_push_drops_a_field_salesforce_refuses_and_writes_the_rest(
    scenario: SyncScenario,
) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.associate("TEST-5", "Case", case_id)
    refusal = [
        {
            "id": case_id,
            "success": False,
            "errors": [
                {
                    "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "message": "Priority cannot be Low for this account",
                    "fields": ["Priority"],
                }
            ],
        }
    ]
    scenario.sandbox.salesforce.operator.add_fault(
        _fault(method="PATCH", path="composite/sobjects", status=200, body=refusal)
    )
    subject_before = scenario.record("Case", case_id)["Priority"]

    (result,) = push(scenario).results

    assert result.outcome == "partial"
    assert set(result.fields_written) == {"Subject", "Description"}
    assert "Priority cannot be Low" in result.problems[0].message
    case = scenario.record("Case", case_id)
    assert case["Priority"] == subject_before
    assert case["Subject"] == "Document the webhook retry policy"


def test_push_refuses_a_view_only_association_with_409(scenario: SyncScenario) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.associate("TEST-5", "Case", case_id, view_only=True)
    subject = scenario.record("Case", case_id)["Subject"]

    with pytest.raises(Conflict, match="view-only"):
        push(scenario, salesforce_object="Case", salesforce_id=case_id)

    assert scenario.record("Case", case_id)["Subject"] == subject


def test_push_to_all_skips_view_only_associations(scenario: SyncScenario) -> None:
    first, second = scenario.record_ids("Case")[:2]
    scenario.associate("TEST-5", "Case", first, view_only=True)
    scenario.associate("TEST-5", "Case", second)

    report = push(scenario)

    outcomes = {result.salesforce_id: result.outcome for result in report.results}
    assert outcomes == {first: "skipped", second: "success"}


def test_push_is_refused_when_the_connection_disallows_modification(
    scenario: SyncScenario,
) -> None:
    scenario.associate("TEST-5", "Case", scenario.record_ids("Case")[0])
    scenario.set_connection(allow_modification=False)
    scenario.clear_logs()

    with pytest.raises(Forbidden, match="Allow modification"):
        push(scenario)

    assert scenario.jira_calls() == {}
    assert scenario.salesforce_data_calls() == {}


def test_push_of_an_unassociated_issue_is_not_found(scenario: SyncScenario) -> None:
    with pytest.raises(NotFound, match="not associated"):
        push(scenario, "TEST-4")


def test_push_records_an_audit_row_with_before_and_after(scenario: SyncScenario) -> None:
    scenario.associate("TEST-5", "Case", scenario.record_ids("Case")[0])
    push(scenario)
    scenario.edit_issue_as_user("TEST-5", {"summary": "Second title"})

    push(scenario, trigger="manual")

    with scenario.container.session() as session:
        rows = session.scalars(select(SyncAudit).order_by(SyncAudit.started_at)).all()
    assert [(row.direction, row.outcome, row.trigger) for row in rows] == [
        ("push", "success", "api"),
        ("push", "success", "manual"),
    ]
    assert rows[1].fields == [
        {"field": "Subject", "before": "Document the webhook retry policy", "after": "Second title"}
    ]


def _fault(**options: Any) -> Any:
    from forcebridge.sandbox.operator import FaultRequest

    return FaultRequest(**options)


@pytest.mark.parametrize(
    ("policy", "replacement", "expected_priority", "problem"),
    [
        ("copy", None, "Low", None),
        ("set", "Medium", "Medium", None),
        ("empty", None, None, None),
        ("error", None, "High", "Priority: value 'Low' has no mapping"),
    ],
)
def test_unmapped_push_values_follow_the_policy(
    scenario: SyncScenario,
    policy: str,
    replacement: str | None,
    expected_priority: str | None,
    problem: str | None,
) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.edit_record_as_user("Case", case_id, {"Priority": "High"})
    scenario.associate("TEST-4", "Case", case_id)  # TEST-4 has priority Low
    scenario.update_mapping(
        "Priority",
        value_map={"push": {"Highest": "High"}},
        unmapped_push=policy,
        unmapped_push_value=replacement,
    )

    (result,) = push(scenario, "TEST-4").results

    assert scenario.record("Case", case_id)["Priority"] == expected_priority
    messages = [p.message for p in result.problems if p.field == "Priority"]
    if problem is None:
        assert messages == []
    else:
        assert messages and messages[0].startswith(problem)
        assert "Subject" in result.fields_written  # the other fields still go through


def test_a_failed_issue_read_is_raised_and_recorded_for_the_association(
    scenario: SyncScenario,
) -> None:
    scenario.associate("TEST-5", "Case", scenario.record_ids("Case")[0])
    scenario.sandbox.jira.operator.add_fault(
        _fault(method="GET", path=r"^/rest/api/3/issue/", status=403)
    )

    with pytest.raises(ForceBridgeError) as raised:
        push(scenario)

    with scenario.container.session() as session:
        audit = session.scalars(select(SyncAudit)).one()
    assert (audit.outcome, audit.error_class) == ("failed", type(raised.value).__name__)
    assert audit.message == raised.value.message
