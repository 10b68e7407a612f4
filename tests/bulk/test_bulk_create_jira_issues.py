"""Bulk creation of Jira issues: one issue per record, each associated with it; asking again for
records that already have an issue in the project creates nothing.

A chunk reads its records with one ``WHERE Id IN (...)`` query and creates the issues with Jira's
bulk create, 50 a call; a chunk run again after a crash searches once for the markers of the
creates it had started and adopts the issues it finds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from associations.builders import auth_headers, issue_token
from forcebridge.bulk.service import create_jira_issues_chunk
from forcebridge.container import Container, build_container
from forcebridge.jira.client import MAX_BULK_CREATE
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sandbox.testing import app_transport
from forcebridge.settings import Settings
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


# -- batching: what a chunk costs, and a retry after a crash ---------------------------------

RECORDS = 120
BULK_CREATE = "POST /rest/api/3/issue/bulk"
SEARCH = "POST /rest/api/3/search/jql"
SOQL_QUERY = "GET /services/data/v{version}/query"


def new_cases(scenario: SyncScenario, count: int, subject: str = "Bulk case {n}") -> list[str]:
    salesforce = scenario._salesforce()
    return [
        normalize_id(
            salesforce.post(
                "/__sandbox/salesforce/records/Case", json={"Subject": subject.format(n=n)}
            ).json()["id"],
            sobject="Case",
        )
        for n in range(count)
    ]


def marked_issues(scenario: SyncScenario) -> list[dict[str, Any]]:
    """Every issue ForceBridge created (they carry a forcebridge-<marker> label)."""
    return [
        issue
        for issue in scenario.sandbox.jira.issues.all()
        if any(label.startswith("forcebridge-") for label in issue.get("labels") or [])
    ]


def run_chunk(container: Any, scenario: SyncScenario, case_ids: list[str]) -> Any:
    request = {"son": "Case", "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID}
    return create_jira_issues_chunk(container, scenario.connection.id, case_ids, request)


def test_bulk_create_of_120_records_makes_three_jira_create_calls(
    client, scenario, headers, runner
):
    case_ids = new_cases(scenario, RECORDS)
    scenario.clear_logs()
    body = {"son": "Case", "soids": case_ids, "projectId": PROJECT_ID, "issueTypeId": ISSUE_TYPE_ID}

    accepted = client.post("/external/api/jobs/create-jira-issues", json=body, headers=headers)
    runner.run_due()

    data = client.get(
        f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers
    ).json()["data"]
    assert (data["state"], data["done"], data["failed"]) == ("done", RECORDS, 0)
    jira = scenario.jira_calls()
    assert jira[BULK_CREATE] == math.ceil(RECORDS / MAX_BULK_CREATE)
    assert SEARCH not in jira and "POST /rest/api/3/issue" not in jira  # no retry, no single
    salesforce = scenario.salesforce_data_calls()
    assert salesforce[SOQL_QUERY] == 1  # the chunk's records, one IN read
    assert scenario.writes(salesforce) == 0
    with scenario.container.session() as session:
        links = list(session.scalars(select(Association)))
    assert sorted(link.salesforce_id for link in links) == sorted(case_ids)
    assert len({link.jira_issue_id for link in links}) == RECORDS
    last = max(links, key=lambda link: int(link.jira_issue_id))
    assert (
        scenario.issue(last.jira_issue_key)["fields"]["summary"]
        == scenario.record("Case", last.salesforce_id)["Subject"]
    )


class WorkerKilled(BaseException):
    """The worker process dying: nothing after this point runs, nothing uncommitted is kept."""


class KillAfterBulkCreates(httpx2.BaseTransport):
    """Forwards to the Jira sandbox; once the ``kill_after``-th bulk create has been answered
    (Jira created the issues), the worker dies before it can record them."""

    def __init__(self, app: Any, kill_after: int) -> None:
        self._inner = app_transport(app)
        self._kill_after = kill_after
        self.bulk_creates = 0

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        if request.method == "POST" and request.url.path.endswith("/issue/bulk"):
            self.bulk_creates += 1
            if self.bulk_creates == self._kill_after:
                response.read()
                raise WorkerKilled
        return response


@pytest.fixture
def dying_worker(settings: Settings, sandbox: Any) -> Iterator[Container]:
    """A second container on the same database whose worker dies after two bulk creates."""
    killer = KillAfterBulkCreates(sandbox.jira.app, kill_after=2)

    def route(service: str, base_url: str) -> httpx2.BaseTransport | None:
        if service == "jira":
            return killer
        return sandbox.transport_override(service, base_url)  # type: ignore[no-any-return]

    built = build_container(settings, transport_override=route)
    yield built
    built.close()


def test_a_retry_after_a_crash_mid_create_creates_nothing_twice(container, scenario, dying_worker):
    case_ids = new_cases(scenario, RECORDS)
    with pytest.raises(WorkerKilled):
        run_chunk(dying_worker, scenario, case_ids)
    # Jira holds 100 issues; only the first call's 50 were recorded before the worker died.
    assert len(marked_issues(scenario)) == 2 * MAX_BULK_CREATE
    scenario.clear_logs()

    done, failures = run_chunk(container, scenario, case_ids)

    assert (done, failures) == (RECORDS, [])
    jira = scenario.jira_calls()
    # one search for the 70 markers of the unrecorded creates: 50 are adopted, 20 created
    assert (jira[SEARCH], jira[BULK_CREATE]) == (1, 1)
    issues = marked_issues(scenario)
    assert len(issues) == RECORDS
    with scenario.container.session() as session:
        links = list(session.scalars(select(Association)))
    assert sorted(link.salesforce_id for link in links) == sorted(case_ids)
    assert {link.jira_issue_id for link in links} == {issue["id"] for issue in issues}
    scenario.clear_logs()

    assert run_chunk(container, scenario, case_ids) == (RECORDS, [])
    assert scenario.jira_calls() == {}  # every record is linked: nothing to do


def test_a_record_jira_refuses_or_that_is_gone_fails_alone(container, scenario):
    created, refused, gone = new_cases(scenario, 3)
    # A value map pointing at a priority this Jira does not have: only Jira can tell.
    scenario.update_mapping(
        "Priority", value_map={"pull": {"High": "High", "Medium": "Medium", "Low": "Blocker"}}
    )
    scenario.edit_record_as_user("Case", refused, {"Priority": "Low"})
    scenario._salesforce().delete(f"/__sandbox/salesforce/records/Case/{gone}")
    scenario.clear_logs()

    done, failures = run_chunk(container, scenario, [created, refused, gone])

    assert done == 1
    errors = {failure["soid"]: failure["error"] for failure in failures}
    assert set(errors) == {refused, gone}
    assert "priority" in errors[refused]
    assert "record deleted or not visible" in errors[gone]
    assert scenario.jira_calls()[BULK_CREATE] == 1
    with scenario.container.session() as session:
        assert [link.salesforce_id for link in session.scalars(select(Association))] == [created]


def test_when_jira_refuses_every_issue_of_a_call_each_record_says_why(container, scenario):
    case_ids = new_cases(scenario, 2)
    scenario.update_mapping("Priority", value_map={"pull": {"High": "Blocker"}})
    for case_id in case_ids:
        scenario.edit_record_as_user("Case", case_id, {"Priority": "High"})

    done, failures = run_chunk(container, scenario, case_ids)

    assert done == 0
    assert [failure["soid"] for failure in failures] == case_ids
    assert all("priority" in failure["error"] for failure in failures)
    with scenario.container.session() as session:
        assert list(session.scalars(select(Association))) == []
    assert marked_issues(scenario) == []
