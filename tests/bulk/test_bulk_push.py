"""Bulk push as a job resource: a JQL resolved to associations, pushed in chunks of 200 with one
issue search and one sObject Collections write per chunk, progress readable by its connection
only, and a chunk run twice (a worker killed before recording it) writing nothing twice.
"""

from __future__ import annotations

import math

import pytest
from fastapi.testclient import TestClient

from associations.builders import auth_headers, issue_token
from forcebridge.bulk.service import CHUNK_SIZE, push_chunk
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from forcebridge.salesforce.ids import normalize_id
from sync.sync_scenario import SyncScenario

ASSOCIATIONS = 450
ISSUES = ("TEST-1", "TEST-2", "TEST-3")


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def association_ids(scenario: SyncScenario) -> list[str]:
    issues = [scenario.issue(key) for key in ISSUES]
    with TestClient(scenario.sandbox.salesforce.app) as salesforce:
        case_ids = [
            salesforce.post(
                "/__sandbox/salesforce/records/Case", json={"Subject": f"Case {n}"}
            ).json()["id"]
            for n in range(ASSOCIATIONS)
        ]
    ids = []
    with scenario.container.session() as session:
        for number, case_id in enumerate(case_ids):
            issue = issues[number % len(issues)]
            association = Association(
                connection_id=scenario.connection.id,
                jira_issue_id=issue["id"],
                jira_issue_key=issue["key"],
                jira_project_id=issue["fields"]["project"]["id"],
                salesforce_object="Case",
                salesforce_id=normalize_id(case_id, sobject="Case"),
            )
            session.add(association)
            session.flush()
            ids.append(association.id)
    return ids


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


def test_bulk_push_of_450_associations_writes_in_three_collection_calls(
    client, scenario, association_ids, headers, runner
):
    scenario.clear_logs()

    accepted = client.post(
        "/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers
    )
    runner.run_due()

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"]["total"] == ASSOCIATIONS
    writes = {
        route: count
        for route, count in scenario.salesforce_data_calls().items()
        if not route.startswith("GET ")
    }
    assert writes == {
        "PATCH /services/data/v{version}/composite/sobjects": math.ceil(ASSOCIATIONS / CHUNK_SIZE)
    }
    jira_searches = scenario.jira_calls()["POST /rest/api/3/search/jql"]
    assert jira_searches == 1 + math.ceil(ASSOCIATIONS / CHUNK_SIZE)  # resolve, then per chunk
    subject = scenario.issue("TEST-2")["fields"]["summary"]
    second_case = association_ids[1]
    with scenario.container.session() as session:
        case_id = session.get(Association, second_case).salesforce_id
    assert scenario.record("Case", case_id)["Subject"] == subject

    status = client.get(f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers)
    data = status.json()["data"]
    assert (data["state"], data["done"], data["failed"], data["remaining"]) == (
        "done",
        ASSOCIATIONS,
        0,
        0,
    )
    assert data["errors"] == [] and data["quota"]["paused"] is False


def test_a_chunk_run_again_after_a_crash_writes_nothing_twice(container, scenario, association_ids):
    chunk = association_ids[:CHUNK_SIZE]
    push_chunk(container, scenario.connection.id, chunk)
    scenario.clear_logs()

    done, failures = push_chunk(container, scenario.connection.id, chunk)

    assert (done, failures) == (CHUNK_SIZE, [])
    assert scenario.writes(scenario.salesforce_data_calls()) == 0


def test_another_connections_job_is_not_found(container, sandbox, client, scenario, headers):
    from associations.builders import create_associable_connection

    other = create_associable_connection(container, sandbox, name="Other", objects=("Case",))
    other_headers = auth_headers(issue_token(container, other.id))
    accepted = client.post(
        "/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers
    )

    response = client.get(
        f"/external/api/jobs/{accepted.json()['data']['id']}", headers=other_headers
    )

    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.mark.parametrize("body", [{}, {"jql": ""}, {"jql": 5}, {"jql": "x", "extra": 1}])
def test_a_bad_request_is_refused_without_a_job(client, scenario, headers, body):
    response = client.post("/external/api/jobs/push", json=body, headers=headers)

    assert response.status_code in (400, 422)
    assert response.json()["success"] is False


def test_the_cli_queues_a_bulk_push_and_follows_it_until_done(container, scenario, association_ids):
    import json

    import typer
    from typer.testing import CliRunner

    from e2e.harness import WorkerLoop
    from forcebridge.bulk.cli import register

    app = typer.Typer()
    register(app)
    worker = WorkerLoop(container, JobSettings())
    worker.start()
    try:
        result = CliRunner().invoke(
            app,
            [
                "bulk",
                "push",
                "--jql",
                "project = TEST",
                "--connection",
                scenario.connection.id,
                "--json",
                "--timeout",
                "60",
            ],
            obj=container,
        )
    finally:
        worker.stop()

    assert result.exit_code == 0, result.output
    view = json.loads(result.output[result.output.index("{") :])
    assert (view["state"], view["done"], view["remaining"]) == ("done", ASSOCIATIONS, 0)
