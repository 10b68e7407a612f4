"""Bulk pull as a job resource: a SOQL query (or an object and a condition) resolved to the
associations of the records it finds, each pulled into its issue, failures listed per item."""

from __future__ import annotations

import pytest

from associations.builders import auth_headers, issue_token
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from sync.sync_scenario import SyncScenario


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def headers(container, scenario) -> dict[str, str]:
    return auth_headers(issue_token(container, scenario.connection.id))


@pytest.fixture
def runner(container):
    registry = HandlerRegistry()
    registry.load(BUILTIN_HANDLER_MODULES)
    job_runner = JobRunner(
        container, registry=registry, settings=JobSettings(), worker_id="w", periodic_hooks=[]
    )
    yield job_runner
    job_runner.close()


@pytest.fixture
def linked(scenario: SyncScenario) -> dict[str, str]:
    """Three Cases, each linked to its own issue; only the first two are 'Escalated'."""
    case_ids = scenario.record_ids("Case")[:3]
    for number, (key, case_id) in enumerate(zip(("TEST-1", "TEST-2", "TEST-3"), case_ids)):
        scenario.edit_record_as_user(
            "Case", case_id, {"Subject": f"Escalated {number}" if number < 2 else "Quiet"}
        )
        scenario.associate(key, "Case", case_id)
    return dict(zip(("TEST-1", "TEST-2", "TEST-3"), case_ids))


@pytest.mark.parametrize(
    "body",
    [
        {"soql": "SELECT Id FROM Case WHERE Subject LIKE 'Escalated%'"},
        {"son": "Case", "where": "Subject LIKE 'Escalated%'"},
    ],
    ids=["soql", "son-and-where"],
)
def test_bulk_pull_brings_every_matching_record_into_its_issue(
    client, scenario, linked, headers, runner, body
):
    accepted = client.post("/external/api/jobs/pull", json=body, headers=headers)
    runner.run_due()

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"]["total"] == 2
    assert scenario.issue("TEST-1")["fields"]["summary"] == "Escalated 0"
    assert scenario.issue("TEST-2")["fields"]["summary"] == "Escalated 1"
    assert scenario.issue("TEST-3")["fields"]["summary"] != "Quiet"
    status = client.get(f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers)
    data = status.json()["data"]
    assert (data["kind"], data["state"], data["done"], data["failed"]) == ("pull", "done", 2, 0)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"soql": "DELETE FROM Case"},
        {"soql": "SELECT Id FROM Case", "son": "Case"},
        {"son": "Case; DROP"},
        {"soql": "SELECT Subject FROM Case"},
    ],
    ids=["empty", "not-select", "both", "bad-object", "no-id"],
)
def test_a_bad_pull_request_is_refused_without_a_job(client, scenario, linked, headers, body):
    response = client.post("/external/api/jobs/pull", json=body, headers=headers)

    assert response.status_code in (400, 422), response.text
    assert response.json()["success"] is False
