"""Automatic sync jobs never lose a write that failed for a passing reason: the engine reports a
refused write as a failed result (a manual push shows it), but a job raises it, so the runner
retries after the vendor's ``Retry-After`` and the change lands."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from forcebridge.container import Container
from forcebridge.jobs.models import DONE, QUEUED
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.sandbox.operator import FaultRequest
from polling.polling_world import SYNC_PUSH_JOB, PollingWorld
from sync.sync_scenario import SyncScenario


@pytest.fixture
def world(container: Container, sandbox: Any, clock: Any) -> PollingWorld:
    scenario = SyncScenario.build(container, sandbox, objects=("Case",))
    return PollingWorld(scenario, record_pulls=False)


def test_a_pull_job_whose_jira_edit_is_unavailable_is_retried_and_the_change_lands(
    world: PollingWorld, sandbox: Any, clock: Any
) -> None:
    case_id = world.create_as_user("Case", {"Subject": "Printer on fire"})["Id"]
    association_id = world.scenario.associate("TEST-1", "Case", case_id, auto_pull=True)
    world.scenario.edit_record_as_user("Case", case_id, {"Subject": "Printer still on fire"})
    sandbox.jira.operator.add_fault(
        FaultRequest(method="PUT", path=r"/issue/", status=503, retry_after="5")
    )

    world.run_job(SYNC_PULL_JOB, association_id)

    [(state, _)] = world.jobs(SYNC_PULL_JOB)
    assert state == QUEUED  # to be retried, not done with the write dropped
    clock.shift(timedelta(seconds=6))
    world.runner.run_due()
    assert world.jobs(SYNC_PULL_JOB)[0][0] == DONE
    assert world.scenario.issue("TEST-1")["fields"]["summary"] == "Printer still on fire"


def test_a_push_job_whose_salesforce_write_is_unavailable_is_retried_and_the_change_lands(
    world: PollingWorld, sandbox: Any, clock: Any
) -> None:
    case_id = world.create_as_user("Case", {"Subject": "Printer on fire"})["Id"]
    association_id = world.scenario.associate("TEST-1", "Case", case_id, auto_push=True)
    world.scenario.edit_issue_as_user("TEST-1", fields={"summary": "Printer still on fire"})
    sandbox.salesforce.operator.add_fault(
        FaultRequest(method="PATCH", path=r"/composite/sobjects$", status=503, retry_after="5")
    )

    world.run_job(SYNC_PUSH_JOB, association_id)

    [(state, _)] = world.jobs(SYNC_PUSH_JOB)
    assert state == QUEUED
    clock.shift(timedelta(seconds=6))
    world.runner.run_due()
    assert world.jobs(SYNC_PUSH_JOB)[0][0] == DONE
    assert world.scenario.record("Case", case_id)["Subject"] == "Printer still on fire"


def test_a_fan_out_write_that_is_unavailable_becomes_a_push_job_of_its_own(
    world: PollingWorld, sandbox: Any, clock: Any
) -> None:
    source_id, other_id = (
        world.create_as_user("Case", {"Subject": "Printer on fire"})["Id"] for _ in range(2)
    )
    source = world.scenario.associate("TEST-1", "Case", source_id, auto_pull=True)
    other = world.scenario.associate("TEST-1", "Case", other_id)  # no autoPush: fan-out only
    world.scenario.edit_record_as_user("Case", source_id, {"Subject": "Printer still on fire"})
    sandbox.salesforce.operator.add_fault(
        FaultRequest(method="PATCH", path=r"/composite/sobjects$", status=503, retry_after="5")
    )

    world.run_job(SYNC_PULL_JOB, source)

    assert world.jobs(SYNC_PULL_JOB)[0][0] == DONE  # its own write, to the issue, landed
    [(state, payload)] = world.jobs(SYNC_PUSH_JOB)
    assert (state, payload) == (QUEUED, {"association_id": other, "fan_out_from": source})
    clock.shift(timedelta(seconds=6))
    world.runner.run_due()
    assert world.jobs(SYNC_PUSH_JOB)[0][0] == DONE
    assert world.scenario.record("Case", other_id)["Subject"] == "Printer still on fire"
