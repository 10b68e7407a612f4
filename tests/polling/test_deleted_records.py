"""A record deleted in Salesforce: polling sees it through queryAll and flags (or unlinks) its
associations, automatic jobs leave flagged associations alone without a call, a restore clears
the flag, and a record gone for good (404 on the pull) is flagged instead of dead-lettered.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from associations.builders import auth_headers, issue_token
from builders import create_admin
from forcebridge.api.schemas import association_to_wire
from forcebridge.container import Container
from forcebridge.jobs.models import DONE
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.salesforce.ids import normalize_id
from polling.polling_world import COMPOSITE, SYNC_PUSH_JOB, PollingWorld
from sync.sync_scenario import SyncScenario

INTERVAL = timedelta(seconds=31)
SETUP_AGE = timedelta(minutes=5)
QUERY_ALL = "GET /services/data/v{version}/queryAll"
# A Case id of the right shape that the org does not hold: what a record emptied from the
# Recycle Bin (hard-deleted) looks like to every API, queryAll included.
PURGED_CASE_ID = normalize_id("500Hn0000PURGED", sobject="Case")


@pytest.fixture
def world(container: Container, sandbox: Any, clock: Any) -> PollingWorld:
    scenario = SyncScenario.build(container, sandbox, objects=("Case",))
    return PollingWorld(scenario, record_pulls=False)


def new_case(world: PollingWorld, clock: Any, **flags: bool) -> tuple[str, str]:
    """A Case a person created, associated with TEST-1; polled once (nothing to pull)."""
    case_id = world.create_as_user("Case", {"Subject": "Printer on fire"})["Id"]
    association_id = world.scenario.associate("TEST-1", "Case", case_id, **flags)
    clock.shift(SETUP_AGE)
    assert world.poll() == ({COMPOSITE: 1} if flags.get("auto_pull") else {})
    assert world.jobs(SYNC_PULL_JOB) == []
    return case_id, association_id


def test_a_deleted_case_flags_the_association_and_automatic_jobs_then_make_no_call(
    world: PollingWorld, clock: Any
) -> None:
    case_id, association_id = new_case(world, clock, auto_pull=True, auto_push=True)

    world.delete_as_user("Case", case_id)
    clock.shift(INTERVAL)
    assert world.poll() == {COMPOSITE: 1}

    association = world.association(association_id)
    assert association is not None and association.salesforce_deleted_at is not None
    assert association_to_wire(association)["salesforceDeletedAt"] == (
        association.salesforce_deleted_at.isoformat()
    )
    [(direction, outcome, trigger, message)] = world.audit(case_id)
    assert (direction, outcome, trigger) == ("delete", "flagged", "poll")
    assert message is not None and "Recycle Bin" in message and "TEST-1" in message
    assert world.jobs(SYNC_PULL_JOB) == []  # a deletion is not a change to pull

    for kind in (SYNC_PUSH_JOB, SYNC_PULL_JOB):
        salesforce_calls, jira_calls = world.run_job(kind, association_id)
        assert (salesforce_calls, jira_calls) == ({}, {})
    assert [state for state, _ in world.jobs(SYNC_PUSH_JOB) + world.jobs(SYNC_PULL_JOB)] == [
        DONE,
        DONE,
    ]

    clock.shift(INTERVAL)  # still deleted: polled (to see a restore), not flagged twice
    assert world.poll() == {COMPOSITE: 1}
    assert len(world.audit(case_id)) == 1


def test_a_pull_fans_out_to_the_issues_other_cases_but_not_to_a_deleted_one(
    world: PollingWorld, clock: Any
) -> None:
    source_id, live_id, deleted_id = (
        world.create_as_user("Case", {"Subject": "Printer on fire"})["Id"] for _ in range(3)
    )
    source_association = world.scenario.associate("TEST-1", "Case", source_id, auto_pull=True)
    world.scenario.associate("TEST-1", "Case", live_id)
    deleted_association = world.scenario.associate("TEST-1", "Case", deleted_id, auto_pull=True)
    clock.shift(SETUP_AGE)
    world.poll()
    world.delete_as_user("Case", deleted_id)
    clock.shift(INTERVAL)
    world.poll()
    flagged = world.association(deleted_association)
    assert flagged is not None and flagged.salesforce_deleted_at is not None
    world.scenario.edit_record_as_user("Case", source_id, {"Subject": "Printer still on fire"})

    world.run_job(SYNC_PULL_JOB, source_association)

    assert world.scenario.issue("TEST-1")["fields"]["summary"] == "Printer still on fire"
    assert world.scenario.record("Case", live_id)["Subject"] == "Printer still on fire"
    # No write was even tried: the deleted Case's only audit row is its flagging.
    assert [entry[:3] for entry in world.audit(deleted_id)] == [("delete", "flagged", "poll")]


def test_a_case_restored_from_the_recycle_bin_clears_the_flag_and_is_pulled(
    world: PollingWorld, clock: Any
) -> None:
    case_id, association_id = new_case(world, clock, auto_pull=True)
    world.delete_as_user("Case", case_id)
    clock.shift(INTERVAL)
    world.poll()

    world.undelete_as_user("Case", case_id)
    clock.shift(INTERVAL)
    calls = world.poll()

    association = world.association(association_id)
    assert association is not None and association.salesforce_deleted_at is None
    assert [entry[:3] for entry in world.audit(case_id)][:2] == [
        ("delete", "flagged", "poll"),
        ("undelete", "restored", "poll"),
    ]
    [(state, payload)] = world.jobs(SYNC_PULL_JOB)
    assert state == DONE and payload["association_id"] == association_id
    assert calls[COMPOSITE] == 1  # the poll; the rest is the pull itself


def test_the_unlink_setting_removes_the_association_with_an_audit_entry(
    world: PollingWorld, clock: Any
) -> None:
    world.scenario.set_connection(on_salesforce_delete="unlink")
    case_id, association_id = new_case(world, clock, auto_pull=True)

    world.delete_as_user("Case", case_id)
    clock.shift(INTERVAL)
    assert world.poll() == {COMPOSITE: 1}

    assert world.association(association_id) is None
    [(direction, outcome, trigger, message)] = world.audit(case_id)
    assert (direction, outcome, trigger) == ("delete", "unlinked", "poll")
    assert message is not None and "removed" in message
    clock.shift(INTERVAL)
    assert world.poll() == {}  # nothing left to poll


def test_a_pull_of_a_record_deleted_for_good_flags_the_association_instead_of_failing(
    world: PollingWorld, clock: Any
) -> None:
    association_id = world.scenario.associate("TEST-1", "Case", PURGED_CASE_ID, auto_pull=True)

    salesforce_calls, _ = world.run_job(SYNC_PULL_JOB, association_id)

    # The pull's record read finds no row; one queryAll read confirms the record is gone.
    assert salesforce_calls[QUERY_ALL] == 1
    [(state, _)] = world.jobs(SYNC_PULL_JOB)
    assert state == DONE  # handled: not retried, not dead-lettered
    association = world.association(association_id)
    assert association is not None and association.salesforce_deleted_at is not None
    assert [entry[:3] for entry in world.audit(PURGED_CASE_ID)][-1] == (
        "delete",
        "flagged",
        "poll",
    )
    assert "deleted for good" in (world.audit(PURGED_CASE_ID)[-1][3] or "")


def test_a_push_to_a_case_deleted_since_the_last_poll_flags_the_association(
    world: PollingWorld, clock: Any
) -> None:
    case_id, association_id = new_case(world, clock, auto_push=True)
    world.delete_as_user("Case", case_id)
    world.scenario.edit_issue_as_user("TEST-1", fields={"summary": "Printer still on fire"})

    salesforce_calls, _ = world.run_job(SYNC_PUSH_JOB, association_id)

    assert salesforce_calls[QUERY_ALL] == 1
    association = world.association(association_id)
    assert association is not None and association.salesforce_deleted_at is not None
    assert world.audit(case_id)[-1][:3] == ("delete", "flagged", "webhook")


def test_the_flag_shows_in_the_external_api_and_in_sync_status(
    world: PollingWorld, clock: Any, client: TestClient
) -> None:
    case_id, _ = new_case(world, clock, auto_pull=True)
    world.delete_as_user("Case", case_id)
    clock.shift(INTERVAL)
    world.poll()
    headers = auth_headers(issue_token(world.container, world.connection_id))

    listed = client.get(
        "/external/api/associations", params={"jiraIssueId": "TEST-1"}, headers=headers
    )
    status = client.get(
        "/external/api/sync-status",
        params={"jiraIssueId": "TEST-1", "son": "Case", "soid": case_id},
        headers=headers,
    )

    assert listed.status_code == 200, listed.text
    [shown] = [row for row in listed.json()["data"] if row["soid"] == case_id]
    assert shown["salesforceDeletedAt"] is not None
    assert status.status_code == 200, status.text
    assert status.json()["data"]["salesforceDeletedAt"] == shown["salesforceDeletedAt"]
    assert status.json()["data"]["recentAttempts"][0]["direction"] == "delete"


def test_the_admin_api_accepts_and_shows_on_salesforce_delete(
    world: PollingWorld, client: TestClient
) -> None:
    client.headers.update(create_admin(world.container))
    path = f"/api/v1/connections/{world.connection_id}"
    assert client.get(path).json()["data"]["settings"]["on_salesforce_delete"] == "flag"

    updated = client.patch(path, json={"settings": {"on_salesforce_delete": "unlink"}})
    refused = client.patch(path, json={"settings": {"on_salesforce_delete": "ignore"}})

    assert updated.status_code == 200, updated.text
    assert updated.json()["data"]["settings"]["on_salesforce_delete"] == "unlink"
    assert refused.status_code == 422
    assert client.get(path).json()["data"]["settings"]["on_salesforce_delete"] == "unlink"
