"""Loop freedom: nothing a sync writes comes back as a change, and repeated syncs converge.

Only both-way text fields are mapped here (Subject/summary, Description/description), so every
effective edit has exactly one target and the count of writes can be predicted exactly.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from associations.builders import create_cases
from forcebridge.sync.engine import sync_association
from forcebridge.sync.pull import pull_record
from forcebridge.sync.push import push_issue
from sync.sync_scenario import SyncScenario

ISSUE_EDIT = "PUT /rest/api/3/issue/{issueIdOrKey}"
COLLECTION_UPDATE = "PATCH /services/data/v{version}/composite/sobjects"


@pytest.fixture
def scenario(container: Any, sandbox: Any) -> SyncScenario:
    built = SyncScenario.build(container, sandbox, objects=("Case",))
    built.delete_mapping("Status")  # pull-only: the first pull would transition the issue
    built.delete_mapping("Priority")  # its value maps are not inverses of each other
    return built


def fresh_case(scenario: SyncScenario) -> str:
    """A Case without comments or files, so only field writes are counted."""
    (case_id,) = create_cases(scenario.container, scenario.connection, 1)
    return case_id


def writes(scenario: SyncScenario) -> int:
    return scenario.writes(scenario.jira_calls()) + scenario.writes(
        scenario.salesforce_data_calls()
    )


def adf(text: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


def test_push_then_pull_writes_nothing_more(scenario: SyncScenario) -> None:
    case_id = fresh_case(scenario)
    scenario.associate("TEST-1", "Case", case_id)
    push_issue(scenario.container, scenario.connection.id, "TEST-1")
    scenario.clear_logs()

    report = pull_record(scenario.container, scenario.connection.id, "TEST-1", "Case", case_id)

    assert report.results[0].outcome == "no_change", report.results[0].to_wire()
    assert writes(scenario) == 0


def test_pull_then_push_writes_nothing_more(scenario: SyncScenario) -> None:
    case_id = fresh_case(scenario)
    scenario.associate("TEST-1", "Case", case_id)
    pull_record(scenario.container, scenario.connection.id, "TEST-1", "Case", case_id)
    scenario.clear_logs()

    report = push_issue(scenario.container, scenario.connection.id, "TEST-1")

    assert report.results[0].outcome == "no_change"
    assert writes(scenario) == 0


def test_a_synced_edit_does_not_echo_back_either_way(scenario: SyncScenario) -> None:
    case_id = fresh_case(scenario)
    association_id = scenario.associate("TEST-1", "Case", case_id)
    push_issue(scenario.container, scenario.connection.id, "TEST-1")
    scenario.edit_issue_as_user("TEST-1", {"description": adf("Edited in Jira")})
    push_issue(scenario.container, scenario.connection.id, "TEST-1")
    scenario.edit_record_as_user("Case", case_id, {"Subject": "Edited in Salesforce"})
    pull_record(scenario.container, scenario.connection.id, "TEST-1", "Case", case_id)
    scenario.clear_logs()

    for _ in range(2):
        push_issue(scenario.container, scenario.connection.id, "TEST-1")
        pull_record(scenario.container, scenario.connection.id, "TEST-1", "Case", case_id)
        sync_association(scenario.container, scenario.connection.id, association_id)

    assert writes(scenario) == 0
    assert scenario.record("Case", case_id)["Description"] == "Edited in Jira"
    assert scenario.issue("TEST-1")["fields"]["summary"] == "Edited in Salesforce"


ASSOCIATIONS = 50
RANDOM_EDITS = 500


@pytest.mark.slow
def test_500_random_edits_across_50_associations_converge_with_one_write_per_effective_edit(
    scenario: SyncScenario,
) -> None:
    rng = random.Random(20261128)
    issue_keys = [f"TEST-{n}" for n in range(1, 6)]
    issue_keys += [
        scenario.create_issue_as_user(f"Generated issue {n}") for n in range(ASSOCIATIONS - 5)
    ]
    case_ids = create_cases(scenario.container, scenario.connection, ASSOCIATIONS)
    pairs = []
    for issue_key, case_id in zip(issue_keys, case_ids, strict=True):
        association_id = scenario.associate(issue_key, "Case", case_id)
        push_issue(scenario.container, scenario.connection.id, issue_key)
        pairs.append((issue_key, case_id, association_id))
    # What each side holds, per pair and field (the test's own model of the world).
    summaries = {key: scenario.issue(key)["fields"]["summary"] for key, _, _ in pairs}
    descriptions: dict[str, str | None] = {key: None for key, _, _ in pairs}
    for key, case_id, _ in pairs:
        descriptions[key] = scenario.record("Case", case_id)["Description"]
    words = ["alpha", "beta", "gamma", "delta"]
    scenario.clear_logs()

    effective_edits = 0
    for _ in range(RANDOM_EDITS):
        issue_key, case_id, association_id = rng.choice(pairs)
        field = rng.choice(["summary", "description"])
        value = f"{field} {rng.choice(words)}"
        current = summaries[issue_key] if field == "summary" else descriptions[issue_key]
        effective_edits += value != current
        if field == "summary":
            summaries[issue_key] = value
        else:
            descriptions[issue_key] = value
        use_bidirectional_sync = rng.random() < 0.3
        if rng.random() < 0.5:
            jira_value: Any = value if field == "summary" else adf(value)
            scenario.edit_issue_as_user(issue_key, {field: jira_value})
            if use_bidirectional_sync:
                sync_association(scenario.container, scenario.connection.id, association_id)
            else:
                push_issue(scenario.container, scenario.connection.id, issue_key)
        else:
            salesforce_field = "Subject" if field == "summary" else "Description"
            scenario.edit_record_as_user("Case", case_id, {salesforce_field: value})
            if use_bidirectional_sync:
                sync_association(scenario.container, scenario.connection.id, association_id)
            else:
                pull_record(scenario.container, scenario.connection.id, issue_key, "Case", case_id)

    assert writes(scenario) == effective_edits
    for issue_key, case_id, _ in pairs:
        issue = scenario.issue(issue_key)["fields"]
        case = scenario.record("Case", case_id)
        assert issue["summary"] == case["Subject"] == summaries[issue_key]
        assert case["Description"] == descriptions[issue_key]
