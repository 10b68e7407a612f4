"""Salesforce change polling: which objects are polled, chunked ``IN`` queries (one composite
call per chunk), watermark and overlap dedupe, with exact Salesforce call counts from the
sandbox's request log.

time-machine moves both clocks (ours and the in-process sandbox's) so records created by the
test are "old" by the time polling starts, and edits after that are the changes to find.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from fastapi.testclient import TestClient

from builders import create_sandbox_connection
from forcebridge.container import Container
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.models import PollWatermark
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association, Connection
from forcebridge.polling import service as polling

RECORDS = 205  # two chunks: 200 + 5


@pytest.fixture
def connection(container: Container, sandbox: Any) -> Connection:
    return create_sandbox_connection(container, sandbox, objects=("Case", "Opportunity"))


@pytest.fixture
def salesforce(sandbox: Any) -> Iterator[TestClient]:
    with TestClient(sandbox.salesforce.app) as client:
        yield client


def create_cases(salesforce: TestClient, count: int) -> list[str]:
    ids = []
    for number in range(count):
        response = salesforce.post(
            "/__sandbox/salesforce/records/Case", json={"Subject": f"Case {number}"}
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def associate(
    container: Container, connection: Connection, sobject: str, record_id: str, **flags: bool
) -> str:
    with container.session() as session:
        association = Association(
            connection_id=connection.id,
            jira_issue_id=str(10001 + hash(record_id) % 1000),
            jira_issue_key="TEST-1",
            jira_project_id="10000",
            salesforce_object=sobject,
            salesforce_id=record_id,
            **flags,
        )
        session.add(association)
        session.flush()
        return association.id


class Poller:
    """Schedules and runs polls like a worker's sweeper; records the ``sync.pull`` jobs."""

    def __init__(self, container: Container, sandbox: Any, settings: JobSettings) -> None:
        self.container = container
        self.sandbox = sandbox
        self.settings = settings
        self.pulls: list[dict[str, Any]] = []
        registry = HandlerRegistry()
        polling.register_handlers(registry)
        registry.register(polling.SYNC_PULL_JOB, self._record_pull)
        self.runner = JobRunner(container, registry=registry, settings=settings)

    def _record_pull(self, context: JobContext) -> None:
        self.pulls.append(context.payload)

    def poll(self) -> dict[str, int]:
        """One sweep + run; returns the Salesforce calls it made, by endpoint."""
        before = dict(self.sandbox.salesforce.operator.counts())
        self.runner.sweep()
        self.runner.run_due()
        after = self.sandbox.salesforce.operator.counts()
        return {
            key: after[key] - before.get(key, 0)
            for key in after
            if after[key] != before.get(key, 0)
        }


COMPOSITE = "POST /services/data/v{version}/composite"


def test_polling_chunks_ids_advances_its_watermark_and_dedupes_the_overlap(
    container: Container, connection: Connection, sandbox: Any, salesforce: TestClient
) -> None:
    case_ids = create_cases(salesforce, RECORDS)
    associations = {
        record_id: associate(container, connection, "Case", record_id, auto_pull=True)
        for record_id in case_ids
    }
    opportunity = next(iter(sandbox.salesforce.records.all("Opportunity")))["Id"]
    associate(container, connection, "Opportunity", opportunity, auto_pull=False, auto_push=True)
    settings = JobSettings(poll_interval_seconds=30, poll_overlap_seconds=60)
    poller = Poller(container, sandbox, settings)
    start = datetime.now(UTC) + timedelta(minutes=10)

    with time_machine.travel(start, tick=True) as clock:
        first = poller.poll()
        # 205 ids → chunks of 200 and 5, one composite call each; Opportunity is not polled.
        assert first == {COMPOSITE: 2}
        assert poller.pulls == []  # nothing changed since polling started

        for record_id in case_ids[:3]:
            edited = salesforce.patch(
                f"/__sandbox/salesforce/records/Case/{record_id}", json={"Status": "Working"}
            )
            assert edited.status_code == 200, edited.text
        clock.shift(timedelta(seconds=31))
        second = poller.poll()
        assert second == {COMPOSITE: 2}
        assert sorted(pull["association_id"] for pull in poller.pulls) == sorted(
            associations[record_id] for record_id in case_ids[:3]
        )
        with container.session() as session:
            watermark = session.get(PollWatermark, (connection.id, "Case"))
            assert watermark is not None
            newest = max(
                polling.parse_salesforce_datetime(pull["modstamp"]) for pull in poller.pulls
            )
            assert watermark.watermark == newest

        clock.shift(timedelta(seconds=31))
        third = poller.poll()
        # The same three changes are read again through the 60 s overlap, and not pulled again.
        assert third == {COMPOSITE: 2}
        assert len(poller.pulls) == 3

        clock.shift(timedelta(seconds=10))
        assert poller.poll() == {}  # the interval has not passed: no call at all


def test_objects_without_auto_pull_associations_or_with_auto_pull_off_are_never_polled(
    container: Container, connection: Connection, sandbox: Any
) -> None:
    case_id = next(iter(sandbox.salesforce.records.all("Case")))["Id"]
    associate(container, connection, "Case", case_id, auto_pull=True)
    with container.session() as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        row.allow_auto_pull = False
    poller = Poller(container, sandbox, JobSettings())
    assert poller.poll() == {}
    with container.session() as session:
        assert polling.polled_objects(session) == []


def test_poll_batches_hold_at_most_200_ids_and_at_most_5_queries_each() -> None:
    ids = [f"500Hn{number:010d}IAA" for number in range(1000)]
    since = datetime(2026, 1, 1, tzinfo=UTC)
    batches = list(polling.poll_batches("Case", since, ids, flagged_ids={ids[3]}))
    assert len(batches) == 5
    assert all(len(batch) <= 5 for batch in batches)
    packed = [batch[polling.RECORDS_REFERENCE].count("'500Hn") for batch in batches]
    # The first chunk names its flagged record twice (IN list, and restore watch).
    assert packed == [201, 200, 200, 200, 200]
    assert batches[0][polling.RECORDS_REFERENCE] == (
        "SELECT Id, SystemModstamp, IsDeleted FROM Case WHERE Id IN ("
        + ", ".join(f"'{record_id}'" for record_id in ids[:200])
        + ") AND (SystemModstamp > 2026-01-01T00:00:00Z OR IsDeleted = true"
        + f" OR Id IN ('{ids[3]}'))"
    )
    assert batches[1][polling.COMMENTS_REFERENCE].startswith(
        "SELECT ParentId, SystemModstamp FROM CaseComment WHERE ParentId IN ('500Hn0000000200IAA'"
    )
    assert batches[1][polling.FILES_REFERENCE].endswith(
        "'500Hn0000000399IAA') AND SystemModstamp > 2026-01-01T00:00:00Z"
    )
    opportunities = list(polling.poll_batches("Opportunity", since, ids[:2], with_files=False))
    assert set(opportunities[0]) == {polling.RECORDS_REFERENCE, polling.COMMENTS_REFERENCE}
    assert "FROM FeedItem WHERE ParentId IN" in opportunities[0][polling.COMMENTS_REFERENCE]
