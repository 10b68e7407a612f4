"""Jira's rate limits per RateLimit-Reason (reliability-security T-RL-1 shape, api-contracts §A.10):

- ``jira-burst-based`` holds that endpoint of that site (every job and process), nothing else;
- ``jira-per-issue-on-write`` holds writes to that issue only;
- the quota reasons hold the whole site until ``X-RateLimit-Reset``;
- a 503 with ``Retry-After`` holds its endpoint too;
- a held request is never sent; a held or throttled job waits without spending an attempt; a
  person's manual push gets a 429 with ``Retry-After``.

The sandbox's fault injection answers the 429s; its request log counts what reached "Jira". A
second in-process Jira at another host plays a second site. time-machine freezes the clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest
import time_machine
from sqlalchemy import event, select

from associations.builders import auth_headers, issue_token
from builders import connection_payload, create_admin, create_sandbox_connection
from conftest import InProcessSandbox
from forcebridge.connections.clients import clients_for
from forcebridge.connections.schemas import ConnectionCreate
from forcebridge.connections.service import create_connection
from forcebridge.container import Container, build_container
from forcebridge.errors import TransientExternalError, VendorThrottled
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.models import DEAD, DONE, QUEUED, Job
from forcebridge.jobs.retention import prune_periodically
from forcebridge.jobs.runner import THROTTLE_JITTER_CAP_SECONDS, JobRunner
from forcebridge.jobs.service import enqueue
from forcebridge.jobs.settings import JobSettings
from forcebridge.mappings.schemas import BindingCreate, EntityMappingCreate
from forcebridge.mappings.service import create_binding, create_entity_mapping
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.quota.jira_throttle import describe_request, normalise_site
from forcebridge.quota.models import JiraThrottle
from forcebridge.sandbox.jira import JiraSandbox
from forcebridge.sandbox.operator import FaultRequest
from forcebridge.sandbox.testing import jira_transport
from forcebridge.settings import Settings
from forcebridge.webhooks.processing import SYNC_PUSH_JOB, association_key
from sync.sync_scenario import SyncScenario

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OTHER_SITE = "https://other.atlassian.net"
ISSUE_PATH = re.compile(r"^/rest/api/3/issue/[^/]+$")


# -- two Jira sites ------------------------------------------------------------------------------


@pytest.fixture
def other_jira() -> Iterator[JiraSandbox]:
    jira = JiraSandbox()
    yield jira
    jira.close()


@pytest.fixture
def container(
    settings: Settings, sandbox: InProcessSandbox, other_jira: JiraSandbox
) -> Iterator[Container]:
    """The shared container, with one more Jira site routed in process (this module only)."""

    def route(service: str, base_url: str) -> httpx2.BaseTransport | None:
        if httpx2.URL(base_url).host == httpx2.URL(OTHER_SITE).host:
            return jira_transport(other_jira)
        return sandbox.transport_override(service, base_url)

    built = build_container(settings, apply_migrations=True, transport_override=route)
    yield built
    built.close()


@pytest.fixture
def clock() -> Iterator[Any]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def scenario(container: Container, sandbox: InProcessSandbox, clock: Any) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def other_scenario(
    container: Container, sandbox: InProcessSandbox, other_jira: JiraSandbox, clock: Any
) -> SyncScenario:
    """A second connection, to the same Salesforce org but another Jira site."""
    other_sandbox = InProcessSandbox(
        jira=other_jira, salesforce=sandbox.salesforce, jira_url=OTHER_SITE
    )
    payload = connection_payload(other_sandbox, name="Other site")
    payload["jira"]["url"] = OTHER_SITE
    connection = create_connection(container, ConnectionCreate.model_validate(payload))
    binding = create_binding(container, connection.id, BindingCreate(jira_project="TEST"))
    create_entity_mapping(
        container, connection.id, binding.id, EntityMappingCreate(salesforce_object="Case")
    )
    return SyncScenario(container, other_sandbox, connection)


@pytest.fixture
def runner(container: Container) -> Iterator[JobRunner]:
    registry = HandlerRegistry()
    registry.load(BUILTIN_HANDLER_MODULES)
    job_runner = JobRunner(
        container, registry=registry, settings=JobSettings(), worker_id="w", periodic_hooks=[]
    )
    yield job_runner
    job_runner.close()


# -- helpers ------------------------------------------------------------------------------------


def throttle_next(jira: JiraSandbox, *, method: str | None = None, path: str = ".*", **fault: Any):
    """The next matching request to ``jira`` gets the fault (a 429 unless ``status`` says)."""
    fault.setdefault("status", 429)
    jira.operator.add_fault(FaultRequest(method=method, path=path, **fault))


def requests_to(jira: JiraSandbox, method: str, path: re.Pattern[str]) -> int:
    return sum(
        1 for entry in jira.operator.requests() if entry.method == method and path.match(entry.path)
    )


def jira_requests(jira: JiraSandbox) -> int:
    return len(jira.operator.requests())


def linked(scenario: SyncScenario, issue_key: str, case: int = 0, **flags: bool) -> str:
    """Associate the issue with the ``case``-th Case of the org."""
    case_id = scenario.record_ids("Case")[case]
    return scenario.associate(issue_key, "Case", case_id, **flags)


def enqueue_sync(container: Container, kind: str, connection_id: str, association_id: str) -> str:
    with container.session() as session:
        return enqueue(
            session,
            kind,
            {"association_id": association_id},
            connection_id=connection_id,
            coalesce_key=association_key(association_id),
        ).id


def job(container: Container, job_id: str) -> Job:
    with container.session() as session:
        row = session.scalar(select(Job).where(Job.id == job_id))
        assert row is not None
        session.expunge(row)
        return row


def metric(container: Container, name: str, **labels: str) -> float:
    value = container.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


# -- the request's scope ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "endpoint", "issue"),
    [
        ("PUT", "/rest/api/3/issue/10001", "PUT /rest/api/3/issue/{issue}", "10001"),
        ("put", "/rest/api/3/issue/test-1", "PUT /rest/api/3/issue/{issue}", "TEST-1"),
        ("GET", "/rest/api/3/issue/TEST-1", "GET /rest/api/3/issue/{issue}", None),
        (
            "POST",
            "/rest/api/3/issue/TEST-1/comment",
            "POST /rest/api/3/issue/{issue}/comment",
            "TEST-1",
        ),
        (
            "PUT",
            "/rest/api/2/issue/10001/comment/10200?notifyUsers=false",
            "PUT /rest/api/2/issue/{issue}/comment/{id}",
            "10001",
        ),
        ("POST", "/rest/api/3/issue", "POST /rest/api/3/issue", None),
        ("GET", "/rest/api/3/project/TEST", "GET /rest/api/3/project/{project}", None),
        (
            "GET",
            "/rest/api/3/attachment/content/10500",
            "GET /rest/api/3/attachment/content/{id}",
            None,
        ),
    ],
)
def test_a_request_is_seen_as_its_endpoint_template_and_the_issue_it_writes(
    method: str, path: str, endpoint: str, issue: str | None
) -> None:
    request = describe_request(method, path)
    assert (request.endpoint, request.issue) == (endpoint, issue)


@pytest.mark.parametrize(
    ("base_url", "site"),
    [
        ("https://Acme.Atlassian.net/", "https://acme.atlassian.net"),
        ("https://acme.atlassian.net:443", "https://acme.atlassian.net"),
        (
            "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4-1e99-ef0ff456d421/",
            "https://api.atlassian.com/ex/jira/1324a887-45db-1bf4-1e99-ef0ff456d421",
        ),
    ],
)
def test_a_site_is_the_normalised_base_url(base_url: str, site: str) -> None:
    assert normalise_site(base_url) == site


# -- jira-burst-based: one endpoint of one site -------------------------------------------------


def test_a_burst_limit_holds_that_endpoint_of_that_site_and_nothing_else(
    container, sandbox, scenario, other_scenario, runner, clock, other_jira
):
    first = linked(scenario, "TEST-1", auto_push=True)
    second = linked(scenario, "TEST-2", auto_push=True)
    pulled = linked(scenario, "TEST-3", case=1, auto_pull=True)
    later = linked(scenario, "TEST-4", auto_push=True)
    elsewhere = linked(other_scenario, "TEST-1", auto_push=True)
    case_id = scenario.record_ids("Case")[1]
    scenario.edit_record_as_user("Case", case_id, {"Subject": "Pulled while GETs are held"})
    # A status the workflow cannot reach is checked with a GET of the issue: keep it out.
    scenario.delete_mapping("Status")
    jobs = {
        "throttled": enqueue_sync(container, SYNC_PUSH_JOB, scenario.connection.id, first),
        "held": enqueue_sync(container, SYNC_PUSH_JOB, scenario.connection.id, second),
        "other endpoint": enqueue_sync(container, SYNC_PULL_JOB, scenario.connection.id, pulled),
        "other site": enqueue_sync(
            container, SYNC_PUSH_JOB, other_scenario.connection.id, elsewhere
        ),
    }
    scenario.clear_logs()
    other_jira.operator.clear_log()
    throttle_next(
        sandbox.jira,
        method="GET",
        path=ISSUE_PATH.pattern,
        retry_after="7",
        headers={"RateLimit-Reason": "jira-burst-based"},
    )

    runner.run_due()

    assert requests_to(sandbox.jira, "GET", ISSUE_PATH) == 1  # the 429; the second job sent none
    assert requests_to(sandbox.jira, "PUT", ISSUE_PATH) == 1  # another endpoint went at once
    assert requests_to(other_jira, "GET", ISSUE_PATH) == 1  # another site went at once
    assert job(container, jobs["other endpoint"]).state == DONE
    assert job(container, jobs["other site"]).state == DONE
    for name in ("throttled", "held"):
        waiting = job(container, jobs[name])
        assert (waiting.state, waiting.attempts, waiting.last_error_kind) == (
            QUEUED,
            0,
            "throttled",
        )
        assert START + timedelta(seconds=7) <= waiting.run_after
        assert waiting.run_after <= START + timedelta(seconds=7 + 0.7)
    assert "not sent" in (job(container, jobs["held"]).last_error or "")
    assert (
        metric(
            container,
            "forcebridge_jira_throttles_recorded_total",
            reason="jira-burst-based",
            scope="endpoint",
        )
        == 1
    )
    assert metric(container, "forcebridge_jira_requests_held_total", scope="endpoint") == 1

    # Within the 7 s, a new job reading the same endpoint is held too, without a request.
    clock.shift(timedelta(seconds=3))
    late = enqueue_sync(container, SYNC_PUSH_JOB, scenario.connection.id, later)
    runner.run_due()
    assert requests_to(sandbox.jira, "GET", ISSUE_PATH) == 1
    assert job(container, late).attempts == 0

    clock.shift(timedelta(seconds=5))  # 8 s after the 429: past Retry-After and the jitter
    runner.run_due()

    assert all(job(container, job_id).state == DONE for job_id in [*jobs.values(), late])
    assert requests_to(sandbox.jira, "GET", ISSUE_PATH) == 4
    assert scenario.issue("TEST-3")["fields"]["summary"] == "Pulled while GETs are held"


def test_a_429_storm_is_retried_no_sooner_than_retry_after_and_spends_no_attempt(
    container, sandbox, scenario, runner, clock
):
    job_id = enqueue_sync(
        container,
        SYNC_PUSH_JOB,
        scenario.connection.id,
        linked(scenario, "TEST-1", auto_push=True),
    )
    scenario.clear_logs()
    throttle_next(
        sandbox.jira,
        method="GET",
        path=ISSUE_PATH.pattern,
        retry_after="7",
        count=3,
        headers={"RateLimit-Reason": "jira-burst-based"},
    )

    for _ in range(30):  # a worker sweeping every second for 30 s
        runner.run_due()
        clock.shift(timedelta(seconds=1))

    sent = [
        entry.time
        for entry in sandbox.jira.operator.requests()
        if entry.method == "GET" and ISSUE_PATH.match(entry.path)
    ]
    assert len(sent) == 4  # three 429s, then the read that succeeds
    assert all(later - earlier >= 7 for earlier, later in zip(sent, sent[1:], strict=False))
    finished = job(container, job_id)
    assert (finished.state, finished.attempts) == (DONE, 1)


def test_connections_to_one_site_share_its_throttles(container, sandbox, scenario, clock):
    second_connection = create_sandbox_connection(
        container, sandbox, name="Same site", bind_projects=(), objects=()
    )
    throttle_next(
        sandbox.jira,
        method="GET",
        path="/myself$",
        retry_after="30",
        headers={"X-Beta-RateLimit-Reason": "jira-burst-based"},
    )
    with clients_for(container, scenario.connection) as clients, pytest.raises(VendorThrottled):
        clients.jira.myself()
    sent = jira_requests(sandbox.jira)

    with clients_for(container, second_connection) as clients:
        with pytest.raises(VendorThrottled) as held:
            clients.jira.myself()
        clients.jira.server_info()  # another endpoint

    assert jira_requests(sandbox.jira) == sent + 1
    assert held.value.retry_after == 30
    assert "GET /rest/api/3/myself" in held.value.message


def test_a_throttle_recorded_by_another_process_holds_this_ones_requests(
    container, settings, sandbox, scenario, clock, monkeypatch
):
    monkeypatch.setenv("FORCEBRIDGE_JIRA_THROTTLE_CACHE_SECONDS", "0")
    # Another container on the same database: what another worker process sees.
    other_process = build_container(settings, transport_override=sandbox.transport_override)
    try:
        throttle_next(sandbox.jira, method="GET", path="/myself$", retry_after="30")
        with clients_for(other_process, scenario.connection) as theirs:
            pytest.raises(VendorThrottled, theirs.jira.myself)
    finally:
        other_process.close()
    sent = jira_requests(sandbox.jira)

    with clients_for(container, scenario.connection) as clients, pytest.raises(VendorThrottled):
        clients.jira.myself()

    assert jira_requests(sandbox.jira) == sent


def test_the_gate_does_not_read_the_database_for_every_request(
    container, sandbox, scenario, monkeypatch
):
    monkeypatch.setenv("FORCEBRIDGE_JIRA_THROTTLE_CACHE_SECONDS", "3600")
    with clients_for(container, scenario.connection) as clients:
        clients.jira.server_info()  # this process has read the site's throttles once
    statements: list[str] = []

    def remember(_connection, _cursor, statement, *_args):
        if "jira_throttles" in statement:
            statements.append(statement)

    event.listen(container.engine, "before_cursor_execute", remember)
    try:
        for _ in range(3):  # three jobs' worth of clients
            with clients_for(container, scenario.connection) as clients:
                for _ in range(10):
                    clients.jira.server_info()
    finally:
        event.remove(container.engine, "before_cursor_execute", remember)

    assert statements == []


# -- jira-per-issue-on-write: writes to one issue -----------------------------------------------


def test_a_per_issue_limit_holds_writes_to_that_issue_only(container, sandbox, scenario, clock):
    throttle_next(
        sandbox.jira,
        method="PUT",
        path="/issue/TEST-1$",
        retry_after="5",
        headers={"RateLimit-Reason": "jira-per-issue-on-write"},
    )
    with clients_for(container, scenario.connection) as clients:
        jira = clients.jira
        with pytest.raises(VendorThrottled) as throttled:
            jira.edit_issue("TEST-1", {"summary": "first"})
        assert throttled.value.status_code == 429 and throttled.value.retry_after == 5
        sent = jira_requests(sandbox.jira)

        with pytest.raises(VendorThrottled) as held:
            jira.edit_issue("TEST-1", {"summary": "second"})
        with pytest.raises(VendorThrottled):
            jira.add_comment("TEST-1", "another write to the same issue")
        assert jira_requests(sandbox.jira) == sent

        assert jira.get_issue("TEST-1", fields=["summary"])["key"] == "TEST-1"  # reads go
        jira.edit_issue("TEST-2", {"summary": "another issue"})  # writes elsewhere go
        assert jira_requests(sandbox.jira) == sent + 2

        clock.shift(timedelta(seconds=5))
        jira.edit_issue("TEST-1", {"summary": "after the limit"})

    assert "writes to issue TEST-1" in held.value.message
    assert "per-issue write limit" in held.value.message
    assert scenario.issue("TEST-1")["fields"]["summary"] == "after the limit"


# -- the quota reasons: the whole site until the reset ------------------------------------------


def test_a_quota_limit_defers_every_background_job_of_the_site_until_the_reset(
    container, sandbox, scenario, other_scenario, runner, clock, client, other_jira
):
    reset = START + timedelta(minutes=40)
    pushed = [linked(scenario, key, auto_push=True) for key in ("TEST-1", "TEST-2", "TEST-3")]
    pulled = linked(scenario, "TEST-4", case=1, auto_pull=True)
    later = linked(scenario, "TEST-5", auto_push=True)
    elsewhere = linked(other_scenario, "TEST-1", auto_push=True)
    case_id = scenario.record_ids("Case")[1]
    scenario.edit_record_as_user("Case", case_id, {"Subject": "Pulled after the reset"})
    site_jobs = [
        *(enqueue_sync(container, SYNC_PUSH_JOB, scenario.connection.id, a) for a in pushed),
        enqueue_sync(container, SYNC_PULL_JOB, scenario.connection.id, pulled),
    ]
    other_job = enqueue_sync(container, SYNC_PUSH_JOB, other_scenario.connection.id, elsewhere)
    scenario.clear_logs()
    throttle_next(
        sandbox.jira,
        retry_after="60",
        headers={
            "RateLimit-Reason": "jira-quota-tenant-based",
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ"),
        },
    )

    runner.run_due()

    assert jira_requests(sandbox.jira) == 1  # the 429; every other job held, none sent
    assert job(container, other_job).state == DONE
    for job_id in site_jobs:
        deferred = job(container, job_id)
        assert (deferred.state, deferred.attempts) == (QUEUED, 0)
        assert reset <= deferred.run_after <= reset + timedelta(seconds=THROTTLE_JITTER_CAP_SECONDS)
    # Held before they started (the quota guard), not at their first Jira request: the pull
    # job did not spend its Salesforce record read for nothing.
    assert metric(container, "forcebridge_jira_requests_held_total", scope="site") == 0
    assert "GET /services/data/v{version}/query" not in scenario.salesforce_data_calls()

    # The admin view shows the pause.
    admin_headers = create_admin(container)
    response = client.get(
        f"/api/v1/connections/{scenario.connection.id}/quota", headers=admin_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["jiraThrottles"] == [
        {
            "scope": "site",
            "key": "",
            "reason": "jira-quota-tenant-based",
            "status": 429,
            "until": reset.isoformat(),
        }
    ]

    # Half-way, the sweeper finds nothing due, and a new job is held without a request.
    clock.shift(timedelta(minutes=20))
    late = enqueue_sync(container, SYNC_PUSH_JOB, scenario.connection.id, later)
    assert runner.run_due() == 1
    assert jira_requests(sandbox.jira) == 1
    assert job(container, late).attempts == 0 and job(container, late).run_after >= reset

    clock.move_to(reset + timedelta(seconds=THROTTLE_JITTER_CAP_SECONDS + 1))
    runner.run_due()

    states = {job(container, job_id).state for job_id in [*site_jobs, late]}
    assert states == {DONE} and DEAD not in states
    assert scenario.issue("TEST-4")["fields"]["summary"] == "Pulled after the reset"
    assert all(job(container, job_id).attempts == 1 for job_id in site_jobs)
    response = client.get(
        f"/api/v1/connections/{scenario.connection.id}/quota", headers=admin_headers
    )
    assert response.json()["data"]["jiraThrottles"] == []
    with container.session() as session:
        assert session.scalars(select(JiraThrottle)).all() == []  # the reader deleted it


def test_a_manual_push_during_a_site_pause_gets_a_429_and_sends_nothing(
    container, sandbox, scenario, client, clock
):
    case_id = scenario.record_ids("Case")[0]
    linked(scenario, "TEST-1")
    issue = scenario.issue("TEST-1")
    throttle_next(
        sandbox.jira,
        method="GET",
        path="/myself$",
        retry_after="120",
        headers={"RateLimit-Reason": "jira-quota-global-based"},
    )
    with clients_for(container, scenario.connection) as clients, pytest.raises(VendorThrottled):
        clients.jira.myself()
    token = issue_token(container, scenario.connection.id)
    clock.shift(timedelta(seconds=20))
    scenario.clear_logs()

    response = client.post(
        f"/external/api/push/project/{issue['fields']['project']['id']}"
        f"/issue/{issue['id']}/to/Case/{case_id}",
        headers=auth_headers(token),
    )

    assert response.status_code == 429, response.text
    assert response.headers["Retry-After"] == "100"
    body = response.json()
    assert body["success"] is False
    assert "every request to https://sandbox.atlassian.net" in body["message"]
    assert "hourly quota" in body["message"]
    assert (START + timedelta(seconds=120)).isoformat() in body["message"]
    assert scenario.jira_calls() == {}


# -- 503 with Retry-After -----------------------------------------------------------------------


def test_a_503_with_retry_after_holds_its_endpoint_too(container, sandbox, scenario, clock):
    throttle_next(sandbox.jira, method="GET", path="/myself$", status=503, retry_after="20")
    with clients_for(container, scenario.connection) as clients:
        jira = clients.jira
        with pytest.raises(TransientExternalError) as unavailable:
            jira.myself()
        assert not isinstance(unavailable.value, VendorThrottled)  # an outage spends attempts
        sent = jira_requests(sandbox.jira)

        with pytest.raises(VendorThrottled) as held:
            jira.myself()
        jira.server_info()

        assert jira_requests(sandbox.jira) == sent + 1
        assert held.value.retry_after == 20
        assert "503" in held.value.message

        clock.shift(timedelta(seconds=20))
        assert jira.myself()["accountId"]


def test_a_503_without_retry_after_records_nothing(container, sandbox, scenario, clock):
    throttle_next(sandbox.jira, method="GET", path="/myself$", status=503)
    with clients_for(container, scenario.connection) as clients:
        with pytest.raises(TransientExternalError):
            clients.jira.myself()
        assert clients.jira.myself()["accountId"]


# -- housekeeping -------------------------------------------------------------------------------


def test_the_retention_hook_deletes_ended_throttles_of_every_site(
    container, sandbox, scenario, clock
):
    throttle_next(sandbox.jira, method="GET", path="/myself$", retry_after="30")
    with clients_for(container, scenario.connection) as clients, pytest.raises(VendorThrottled):
        clients.jira.myself()

    # Far later than any other test's prune: the hook runs at most once an hour per container.
    prune_periodically(container, JobSettings(), START + timedelta(days=30))

    with container.session() as session:
        assert session.scalars(select(JiraThrottle)).all() == []
