"""Bidirectional sync: per field, who changed since the last sync, and conflicts by policy."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from associations.builders import create_cases
from forcebridge.errors import Conflict as ConflictError
from forcebridge.sync.engine import sync_association
from forcebridge.sync.models import SyncAudit
from forcebridge.sync.pull import pull_record
from forcebridge.sync.push import push_issue
from sync.sync_scenario import SyncScenario

ISSUE_EDIT = "PUT /rest/api/3/issue/{issueIdOrKey}"


@pytest.fixture
def scenario(container: Any, sandbox: Any) -> SyncScenario:
    built = SyncScenario.build(container, sandbox, objects=("Case",))
    built.delete_mapping("Status")
    return built


def synced_pair(scenario: SyncScenario) -> tuple[str, str]:
    (case_id,) = create_cases(scenario.container, scenario.connection, 1)
    association_id = scenario.associate("TEST-5", "Case", case_id)
    push_issue(scenario.container, scenario.connection.id, "TEST-5")
    pull_record(scenario.container, scenario.connection.id, "TEST-5", "Case", case_id)
    return case_id, association_id


def edit_both(scenario: SyncScenario, case_id: str, *, salesforce_last: bool) -> None:
    """Change the summary on both sides, the later one more than a second after the other
    (Salesforce stamps SystemModstamp to the second)."""
    edits = [
        lambda: scenario.edit_issue_as_user("TEST-5", {"summary": "From Jira"}),
        lambda: scenario.edit_record_as_user("Case", case_id, {"Subject": "From Salesforce"}),
    ]
    first, second = edits if salesforce_last else reversed(edits)
    first()
    time.sleep(1.1)
    second()


def sync(scenario: SyncScenario, association_id: str) -> Any:
    (result,) = sync_association(scenario.container, scenario.connection.id, association_id).results
    return result


@pytest.mark.parametrize(
    ("policy", "salesforce_last", "winner"),
    [
        ("newest", True, "salesforce"),
        ("newest", False, "jira"),
        ("jira", True, "jira"),
        ("salesforce", False, "salesforce"),
    ],
)
def test_a_field_changed_on_both_sides_follows_its_conflict_policy(
    scenario: SyncScenario, policy: str, salesforce_last: bool, winner: str
) -> None:
    scenario.update_mapping("Subject", conflict_policy=policy)
    case_id, association_id = synced_pair(scenario)
    edit_both(scenario, case_id, salesforce_last=salesforce_last)

    result = sync(scenario, association_id)

    (conflict,) = result.conflicts
    assert (conflict.jira_field, conflict.policy, conflict.winner) == ("summary", policy, winner)
    expected = "From Jira" if winner == "jira" else "From Salesforce"
    assert scenario.issue("TEST-5")["fields"]["summary"] == expected
    assert scenario.record("Case", case_id)["Subject"] == expected
    with scenario.container.session() as session:
        audit = session.scalars(select(SyncAudit).where(SyncAudit.direction == "sync")).one()
    assert audit.conflicts[0]["winner"] == winner


def test_one_sided_changes_flow_each_way_in_one_sync(scenario: SyncScenario) -> None:
    case_id, association_id = synced_pair(scenario)
    scenario.edit_issue_as_user("TEST-5", {"summary": "Jira's new summary"})
    scenario.edit_record_as_user("Case", case_id, {"Priority": "High"})

    result = sync(scenario, association_id)

    assert result.conflicts == []
    assert set(result.fields_written) == {"Subject", "priority"}
    assert scenario.record("Case", case_id)["Subject"] == "Jira's new summary"
    assert scenario.issue("TEST-5")["fields"]["priority"]["name"] == "High"


def test_both_sides_changed_to_the_same_value_is_no_conflict_and_no_write(
    scenario: SyncScenario,
) -> None:
    case_id, association_id = synced_pair(scenario)
    scenario.edit_issue_as_user("TEST-5", {"summary": "Agreed title"})
    scenario.edit_record_as_user("Case", case_id, {"Subject": "Agreed title"})
    scenario.clear_logs()

    result = sync(scenario, association_id)

    assert result.conflicts == []
    assert result.outcome == "no_change"
    assert scenario.writes(scenario.jira_calls()) == 0
    assert scenario.writes(scenario.salesforce_data_calls()) == 0


def test_sync_costs_one_read_per_side_and_no_write_when_nothing_changed(
    scenario: SyncScenario,
) -> None:
    _, association_id = synced_pair(scenario)
    sync(scenario, association_id)
    scenario.clear_logs()

    result = sync(scenario, association_id)

    assert result.outcome == "no_change"
    assert scenario.jira_calls() == {"GET /rest/api/3/issue/{issueIdOrKey}": 1}
    assert scenario.salesforce_data_calls() == {"GET /services/data/v{version}/query": 1}


def test_sync_refuses_a_view_only_association(scenario: SyncScenario) -> None:
    (case_id,) = create_cases(scenario.container, scenario.connection, 1)
    association_id = scenario.associate("TEST-5", "Case", case_id, view_only=True)

    with pytest.raises(ConflictError, match="view-only"):
        sync(scenario, association_id)
