"""Pull: a Salesforce record's mapped fields into its Jira issue, and the fan-out to the issue's
other records."""

from __future__ import annotations

from typing import Any

import pytest

from forcebridge.errors import Conflict, Forbidden
from forcebridge.sync.pull import pull_issue, pull_record
from forcebridge.sync.push import push_issue
from sync.sync_scenario import SyncScenario

SOQL_QUERY = "GET /services/data/v{version}/query"
ISSUE_EDIT = "PUT /rest/api/3/issue/{issueIdOrKey}"
TRANSITIONS_READ = "GET /rest/api/3/issue/{issueIdOrKey}/transitions"
TRANSITION = "POST /rest/api/3/issue/{issueIdOrKey}/transitions"
COLLECTION_UPDATE = "PATCH /services/data/v{version}/composite/sobjects"


@pytest.fixture
def scenario(container: Any, sandbox: Any) -> SyncScenario:
    return SyncScenario.build(container, sandbox)


def pull(scenario: SyncScenario, issue: str, sobject: str, record_id: str) -> Any:
    return pull_record(scenario.container, scenario.connection.id, issue, sobject, record_id)


def linked_and_synced(scenario: SyncScenario, issue: str = "TEST-5") -> str:
    """A Case linked to ``issue``, pushed then pulled once, so every field has a sync state."""
    case_id = scenario.record_ids("Case")[0]
    scenario.associate(issue, "Case", case_id)
    push_issue(scenario.container, scenario.connection.id, issue)
    pull(scenario, issue, "Case", case_id)
    return case_id


def test_pull_writes_the_records_changed_subject_with_one_read_and_one_edit(
    scenario: SyncScenario,
) -> None:
    case_id = linked_and_synced(scenario)
    scenario.edit_record_as_user("Case", case_id, {"Subject": "Customer wants retries documented"})
    scenario.clear_logs()

    (result,) = pull(scenario, "TEST-5", "Case", case_id).results

    assert result.fields_written == ["summary"]
    assert scenario.issue("TEST-5")["fields"]["summary"] == "Customer wants retries documented"
    scenario.sandbox.jira.operator.clear_log()  # the check above read the issue
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1}


def test_pull_costs_one_salesforce_read_and_one_jira_edit(scenario: SyncScenario) -> None:
    case_id = linked_and_synced(scenario)
    scenario.edit_record_as_user("Case", case_id, {"Subject": "New subject"})
    scenario.clear_logs()

    pull(scenario, "TEST-5", "Case", case_id)

    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1}
    assert scenario.jira_calls() == {ISSUE_EDIT: 1}


def test_pull_of_a_changed_status_transitions_the_issue(scenario: SyncScenario) -> None:
    case_id = linked_and_synced(scenario, "TEST-4")  # TEST-4 is "To Do"
    scenario.edit_record_as_user("Case", case_id, {"Status": "Working"})
    scenario.clear_logs()

    (result,) = pull(scenario, "TEST-4", "Case", case_id).results

    assert result.fields_written == ["status"]
    assert scenario.jira_calls() == {TRANSITIONS_READ: 1, TRANSITION: 1}
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1}
    assert scenario.issue("TEST-4")["fields"]["status"]["name"] == "In Progress"


def test_pull_reports_an_unreachable_status_with_a_hint(scenario: SyncScenario) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.associate("TEST-3", "Case", case_id)  # TEST-3 is "Done"; only Reopen leaves it
    scenario.edit_record_as_user("Case", case_id, {"Status": "New"})  # maps to "To Do"

    (result,) = pull(scenario, "TEST-3", "Case", case_id).results

    problem = next(problem for problem in result.problems if problem.field == "status")
    assert "'Done' to 'To Do'" in problem.message
    assert problem.hint is not None and "transition" in problem.hint
    assert scenario.issue("TEST-3")["fields"]["status"]["name"] == "Done"


def test_pull_fans_out_to_the_issues_other_records_but_not_back_to_the_source(
    scenario: SyncScenario,
) -> None:
    source, other = scenario.record_ids("Case")[:2]
    account = scenario.record_ids("Account")[0]
    for sobject, record_id in (("Case", source), ("Case", other), ("Account", account)):
        scenario.associate("TEST-5", sobject, record_id)
    push_issue(scenario.container, scenario.connection.id, "TEST-5")
    pull(scenario, "TEST-5", "Case", source)
    scenario.edit_record_as_user("Case", source, {"Subject": "Renamed in Salesforce"})
    scenario.clear_logs()

    report = pull(scenario, "TEST-5", "Case", source)

    written = {(r.salesforce_id, r.direction): r.fields_written for r in report.results}
    assert written == {
        (source, "pull"): ["summary"],
        (other, "push"): ["Subject"],
        (account, "push"): ["Name"],
    }
    assert scenario.record("Case", other)["Subject"] == "Renamed in Salesforce"
    assert scenario.record("Account", account)["Name"] == "Renamed in Salesforce"
    # one collection call per object; nothing written back to the source record
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1, COLLECTION_UPDATE: 2}


def test_pull_reports_a_value_jira_cannot_take_and_writes_the_others(
    scenario: SyncScenario,
) -> None:
    case_id = linked_and_synced(scenario)
    scenario.add_mapping("Case", jira_field="duedate", salesforce_field="Subject", direction="pull")
    scenario.edit_record_as_user(
        "Case", case_id, {"Subject": "Not a date", "Description": "Pulled description"}
    )

    (result,) = pull(scenario, "TEST-5", "Case", case_id).results

    assert result.outcome == "partial"
    assert set(result.fields_written) == {"summary", "description"}
    (problem,) = result.problems
    assert problem.field == "duedate"
    issue = scenario.issue("TEST-5")["fields"]
    assert issue.get("duedate") is None
    assert issue["summary"] == "Not a date"


def test_pull_refuses_view_only_and_disallowed_modification(scenario: SyncScenario) -> None:
    first, second = scenario.record_ids("Case")[:2]
    scenario.associate("TEST-5", "Case", first, view_only=True)
    scenario.associate("TEST-5", "Case", second)

    with pytest.raises(Conflict, match="view-only"):
        pull(scenario, "TEST-5", "Case", first)
    scenario.set_connection(allow_modification=False)
    with pytest.raises(Forbidden, match="allow_modification"):
        pull(scenario, "TEST-5", "Case", second)


def test_pull_issue_pulls_every_association_and_skips_view_only(scenario: SyncScenario) -> None:
    first, second = scenario.record_ids("Case")[:2]
    scenario.associate("TEST-5", "Case", first, view_only=True)
    scenario.associate("TEST-5", "Case", second)

    report = pull_issue(scenario.container, scenario.connection.id, "TEST-5")

    outcomes = {r.salesforce_id: r.outcome for r in report.results if r.direction == "pull"}
    assert outcomes[first] == "skipped"
    assert outcomes[second] in ("success", "partial")


@pytest.mark.parametrize(
    ("policy", "replacement", "expected_priority", "problem"),
    [
        ("copy", None, "Medium", None),
        ("set", "Low", "Low", None),
        ("error", None, "High", "priority: value 'Medium' has no mapping"),
    ],
)
def test_unmapped_pull_values_follow_the_policy(
    scenario: SyncScenario,
    policy: str,
    replacement: str | None,
    expected_priority: str,
    problem: str | None,
) -> None:
    case_id = scenario.record_ids("Case")[0]
    scenario.associate("TEST-1", "Case", case_id)  # TEST-1 has priority High
    scenario.update_mapping(
        "Priority",
        value_map={"pull": {"High": "High"}},
        unmapped_pull=policy,
        unmapped_pull_value=replacement,
    )
    scenario.edit_record_as_user("Case", case_id, {"Priority": "Medium"})

    (result,) = pull(scenario, "TEST-1", "Case", case_id).results

    assert scenario.issue("TEST-1")["fields"]["priority"]["name"] == expected_priority
    messages = [p.message for p in result.problems if p.field == "priority"]
    if problem is None:
        assert messages == []
    else:
        assert messages and messages[0].startswith(problem)


def test_read_records_reads_many_records_in_one_query_and_leaves_out_missing_ones(
    scenario: SyncScenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forcebridge.salesforce.ids import normalize_id
    from forcebridge.sync import pull as pull_module
    from forcebridge.sync.context import SyncContext

    case_ids = scenario.record_ids("Case")[:4]
    missing = normalize_id(case_ids[0][:12] + "999", sobject="Case")  # valid id, no such Case
    with SyncContext(scenario.container, scenario.connection.id) as context:
        rules = context.rules_for("10000", None, "Case")
        context.describe("Case")
        scenario.clear_logs()
        records = pull_module.read_records(context, "Case", [*case_ids, missing], rules)
        assert sorted(records) == sorted(case_ids)
        assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1}
        # A query too long for one URL is halved (down to one id a query), never refused.
        monkeypatch.setattr(pull_module, "MAX_READ_QUERY_CHARACTERS", 1)
        scenario.clear_logs()
        split = pull_module.read_records(context, "Case", case_ids, rules)
    assert split.keys() == records.keys()
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: len(case_ids)}
