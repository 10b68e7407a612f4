"""A polling scenario over the in-process sandboxes: a connection with Case and Opportunity
mapped, a job runner that sweeps and runs like a worker, people's actions in Salesforce through
the sandbox operator ("as a user"), and the calls each step made from the request logs.

The tests run inside ``time_machine.travel(start, tick=True)`` with ``start`` ten minutes ahead,
so that the sandbox's records are older than the first poll; ``clock.shift`` passes the poll
interval.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from sqlalchemy import select

from forcebridge.container import Container
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.models import Job
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.service import enqueue
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from forcebridge.polling import service as polling
from forcebridge.sandbox.testing import app_transport
from forcebridge.sync import jobs as sync_jobs
from forcebridge.sync.models import SyncAudit
from forcebridge.webhooks.processing import SYNC_PUSH_JOB
from sync.sync_scenario import SyncScenario

OPERATOR = "/__sandbox/salesforce/records"
COMPOSITE = "POST /services/data/v{version}/composite"
POLL_SETTINGS = JobSettings(poll_interval_seconds=30, poll_overlap_seconds=60)


@dataclass
class PollingWorld:
    """``record_pulls=True``: ``sync.pull`` jobs are only recorded (what polling enqueued);
    otherwise the real sync handlers run them."""

    scenario: SyncScenario
    record_pulls: bool = True
    pulls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        registry = HandlerRegistry()
        polling.register_handlers(registry)
        if self.record_pulls:
            registry.register(polling.SYNC_PULL_JOB, self._record_pull)
        else:
            sync_jobs.register_handlers(registry)
        self.runner = JobRunner(self.container, registry=registry, settings=POLL_SETTINGS)

    @property
    def container(self) -> Container:
        return self.scenario.container

    @property
    def sandbox(self) -> Any:
        return self.scenario.sandbox

    @property
    def connection_id(self) -> str:
        return self.scenario.connection.id

    def _record_pull(self, context: JobContext) -> None:
        self.pulls.append(context.payload)

    # -- running ----------------------------------------------------------------------------

    def poll(self) -> dict[str, int]:
        """One sweep (schedules due polls) and every due job; the Salesforce data calls made."""
        before = self.scenario.salesforce_data_calls()
        self.runner.sweep()
        self.runner.run_due()
        return _difference(before, self.scenario.salesforce_data_calls())

    def run_job(self, kind: str, association_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Enqueue and run one automatic ``kind`` job; the (Salesforce, Jira) calls it made."""
        with self.container.session() as session:
            enqueue(
                session,
                kind,
                {"association_id": association_id},
                connection_id=self.connection_id,
                now=self.container.clock(),
            )
        salesforce_before = self.scenario.salesforce_data_calls()
        jira_before = self.scenario.jira_calls()
        self.runner.run_due()
        return (
            _difference(salesforce_before, self.scenario.salesforce_data_calls()),
            _difference(jira_before, self.scenario.jira_calls()),
        )

    # -- people's actions in Salesforce -----------------------------------------------------

    def create_as_user(self, sobject: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create a record as a person; the record as stored (with its SystemModstamp)."""
        with self._salesforce() as client:
            response = client.post(f"{OPERATOR}/{sobject}", json=dict(values))
        assert response.status_code == 201, response.text
        record_id = response.json()["id"]
        document = self.sandbox.salesforce.records.get(sobject, record_id)
        assert document is not None
        return dict(document)

    def attach_file_as_user(self, record_id: str, filename: str) -> dict[str, Any]:
        """Upload a File onto the record (one ContentVersion; Salesforce links it)."""
        self.create_as_user(
            "ContentVersion",
            {
                "Title": filename,
                "PathOnClient": filename,
                "VersionData": base64.b64encode(b"file body").decode(),
                "FirstPublishLocationId": record_id,
            },
        )
        links = [
            link
            for link in self.sandbox.salesforce.records.all("ContentDocumentLink")
            if link["LinkedEntityId"] == record_id
        ]
        assert len(links) == 1
        return dict(links[0])

    def delete_as_user(self, sobject: str, record_id: str) -> None:
        with self._salesforce() as client:
            response = client.delete(f"{OPERATOR}/{sobject}/{record_id}")
        assert response.status_code == 204, response.text

    def undelete_as_user(self, sobject: str, record_id: str) -> None:
        with self._salesforce() as client:
            response = client.post(f"{OPERATOR}/{sobject}/{record_id}/undelete")
        assert response.status_code == 200, response.text

    # -- what ForceBridge holds -------------------------------------------------------------

    def association(self, association_id: str) -> Association | None:
        with self.container.session() as session:
            association = session.get(Association, association_id)
            if association is not None:
                session.expunge(association)
            return association

    def audit(self, salesforce_id: str) -> list[tuple[str, str, str, str | None]]:
        """(direction, outcome, trigger, message) of the record's audit rows, oldest first."""
        with self.container.session() as session:
            rows = session.scalars(
                select(SyncAudit)
                .where(SyncAudit.salesforce_id == salesforce_id)
                .order_by(SyncAudit.started_at, SyncAudit.id)
            ).all()
            return [(row.direction, row.outcome, row.trigger, row.message) for row in rows]

    def jobs(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """(state, payload) of every job of ``kind``, oldest first."""
        with self.container.session() as session:
            rows = session.scalars(select(Job).where(Job.kind == kind).order_by(Job.sequence))
            return [(row.state, dict(row.payload)) for row in rows]

    def _salesforce(self) -> httpx2.Client:
        return httpx2.Client(
            transport=app_transport(self.sandbox.salesforce.app),
            base_url="https://sandbox.my.salesforce.com",
        )


def _difference(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {
        key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)
    }


__all__ = ["COMPOSITE", "PollingWorld", "SYNC_PUSH_JOB"]
