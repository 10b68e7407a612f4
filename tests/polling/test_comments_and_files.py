"""Polling sees new comments and files, which do not move their record's SystemModstamp, in the
same single Salesforce call per chunk of ids as the records themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from forcebridge.container import Container
from forcebridge.jobs.models import PolledChange
from forcebridge.polling.service import parse_salesforce_datetime
from polling.polling_world import COMPOSITE, PollingWorld
from sync.sync_scenario import SyncScenario

INTERVAL = timedelta(seconds=31)
# Passed after the test's own setup: what was created before is older than the first poll.
SETUP_AGE = timedelta(minutes=5)


@pytest.fixture
def world(container: Container, sandbox: Any, clock: Any) -> PollingWorld:
    return PollingWorld(SyncScenario.build(container, sandbox, objects=("Case", "Opportunity")))


def create_cases(world: PollingWorld, count: int) -> list[str]:
    return [world.create_as_user("Case", {"Subject": f"Case {n}"})["Id"] for n in range(count)]


def test_a_poll_of_200_cases_costs_one_call_with_files_on_and_with_files_off(
    world: PollingWorld, clock: Any
) -> None:
    for case_id in create_cases(world, 200):
        world.scenario.associate("TEST-1", "Case", case_id, auto_pull=True)
    clock.shift(SETUP_AGE)

    assert world.poll() == {COMPOSITE: 1}  # records + CaseComments + ContentDocumentLinks

    world.scenario.set_connection(sync_attachments=False)
    clock.shift(INTERVAL)
    assert world.poll() == {COMPOSITE: 1}  # records + CaseComments
    assert world.pulls == []


def add_case_comment(world: PollingWorld, case_id: str) -> dict[str, Any]:
    return world.create_as_user(
        "CaseComment", {"ParentId": case_id, "CommentBody": "Customer confirmed the fix."}
    )


def add_chatter_post(world: PollingWorld, record_id: str) -> dict[str, Any]:
    return world.create_as_user("FeedItem", {"ParentId": record_id, "Body": "Deal moved."})


def add_file(world: PollingWorld, record_id: str) -> dict[str, Any]:
    return world.attach_file_as_user(record_id, "floor-plan.txt")


@pytest.mark.parametrize(
    ("sobject", "add_child"),
    [
        pytest.param("Case", add_case_comment, id="CaseComment"),
        pytest.param("Opportunity", add_chatter_post, id="Chatter FeedItem"),
        pytest.param("Case", add_file, id="File"),
    ],
)
def test_a_new_comment_or_file_is_one_pull_and_the_overlap_does_not_pull_it_again(
    world: PollingWorld,
    clock: Any,
    sobject: str,
    add_child: Callable[[PollingWorld, str], dict[str, Any]],
) -> None:
    # A seeded record: it exists since before the first poll.
    record_id = next(iter(world.sandbox.salesforce.records.all(sobject)))["Id"]
    association_id = world.scenario.associate("TEST-1", sobject, record_id, auto_pull=True)
    clock.shift(SETUP_AGE)
    assert world.poll() == {COMPOSITE: 1}
    record_before = world.scenario.record(sobject, record_id)

    child = add_child(world, record_id)
    clock.shift(INTERVAL)

    # Salesforce does not move the parent's SystemModstamp for a new comment or file.
    assert (
        world.scenario.record(sobject, record_id)["SystemModstamp"]
        == (record_before["SystemModstamp"])
    )
    assert world.poll() == {COMPOSITE: 1}
    assert world.pulls == [
        {
            "association_id": association_id,
            "salesforce_id": record_id,
            "modstamp": parse_salesforce_datetime(child["SystemModstamp"]).isoformat(),
        }
    ]
    with world.container.session() as session:
        seen = session.get(
            PolledChange,
            (world.connection_id, record_id, parse_salesforce_datetime(child["SystemModstamp"])),
        )
        assert seen is not None

    clock.shift(INTERVAL)  # still inside the 60 s overlap: read again, not pulled again
    assert world.poll() == {COMPOSITE: 1}
    assert len(world.pulls) == 1
