"""Bulk creation of Jira issues: one issue per record, each associated with it; asking again for
records that already have an issue in the project creates nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from associations.builders import auth_headers, issue_token
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from sync.sync_scenario import SyncScenario

PROJECT_ID, ISSUE_TYPE_ID = "10000", "10001"


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


def test_each_record_gets_one_issue_even_when_asked_twice(client, scenario, headers, runner):
    case_ids = scenario.record_ids("Case")[:2]
    body = {"son": "Case", "soids": case_ids, "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID}

    for _ in range(2):
        accepted = client.post("/external/api/jobs/create-jira-issues", json=body, headers=headers)
        assert accepted.status_code == 201, accepted.text
        runner.run_due()

    with scenario.container.session() as session:
        links = list(session.scalars(select(Association)))
    assert sorted(link.salesforce_id for link in links) == sorted(case_ids)
    for link in links:
        issue = scenario.issue(link.jira_issue_key)
        assert issue["fields"]["summary"] == scenario.record("Case", link.salesforce_id)["Subject"]
    data = client.get(
        f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers
    ).json()["data"]
    assert (data["kind"], data["state"], data["done"], data["failed"]) == (
        "create_jira_issues",
        "done",
        2,
        0,
    )


@pytest.mark.parametrize(
    "body",
    [
        {"son": "Case", "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID},
        {"son": "Case", "soids": [], "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID},
        {"son": "Case", "soids": ["nope"], "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID},
        {"son": "Case", "soql": "DELETE x", "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID},
    ],
    ids=["neither", "empty", "bad-id", "not-select"],
)
def test_a_bad_create_request_is_refused(client, scenario, headers, body):
    response = client.post("/external/api/jobs/create-jira-issues", json=body, headers=headers)

    assert response.status_code in (400, 422), response.text
    assert response.json()["success"] is False
