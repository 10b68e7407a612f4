"""The quota guard: background sync pauses when the org's daily API usage (as Salesforce reports
it in ``Sforce-Limit-Info``) reaches 90%, is deferred rather than failed, leaves people's manual
pushes running, and resumes by itself. The sandbox's ``/limits`` operator route sets the usage;
time-machine freezes the clock so deferral times are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from fastapi.testclient import TestClient
from sqlalchemy import select

from builders import create_admin
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.models import DONE, QUEUED, Job
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.service import enqueue
from forcebridge.jobs.settings import JobSettings
from forcebridge.quota.service import QuotaSettings, quota_state, record_api_usage
from forcebridge.sync.engine import push_issue
from forcebridge.webhooks.processing import SYNC_PUSH_JOB, association_key
from sync.sync_scenario import SyncScenario

START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
RECHECK = timedelta(seconds=QuotaSettings().quota_recheck_seconds)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def scenario(container, sandbox, clock) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def case_id(scenario: SyncScenario) -> str:
    return scenario.record_ids("Case")[0]


@pytest.fixture
def association_id(scenario: SyncScenario, case_id: str) -> str:
    return scenario.associate("TEST-1", "Case", case_id, auto_push=True)


@pytest.fixture
def runner(container):
    registry = HandlerRegistry()
    registry.load(BUILTIN_HANDLER_MODULES)
    job_runner = JobRunner(
        container, registry=registry, settings=JobSettings(), worker_id="w", periodic_hooks=[]
    )
    yield job_runner
    job_runner.close()


def set_org_usage(sandbox, used: int, maximum: int = 100_000) -> None:
    with TestClient(sandbox.salesforce.app) as salesforce:
        response = salesforce.put(
            "/__sandbox/salesforce/limits", json={"used": used, "max": maximum}
        )
    assert response.status_code == 200, response.text


def enqueue_push(container, scenario: SyncScenario, association_id: str) -> str:
    with container.session() as session:
        return enqueue(
            session,
            SYNC_PUSH_JOB,
            {"association_id": association_id},
            connection_id=scenario.connection.id,
            coalesce_key=association_key(association_id),
        ).id


def jobs_of(container) -> list[Job]:
    with container.session() as session:
        return list(session.scalars(select(Job).order_by(Job.sequence)))


def test_usage_is_recorded_from_every_salesforce_answer(
    container, scenario, case_id, association_id
):
    set_org_usage(scenario.sandbox, 41_000)

    push_issue(
        container, scenario.connection.id, "TEST-1", salesforce_object="Case", salesforce_id=case_id
    )

    with container.session() as session:
        state = quota_state(session, scenario.connection.id, now=START)
    assert state.daily_limit == 100_000
    assert 41_000 < state.used < 41_100  # plus the push's own calls
    assert state.paused is False


def test_background_push_is_deferred_not_failed_at_ninety_percent(
    container, scenario, association_id, runner, clock
):
    set_org_usage(scenario.sandbox, 90_000)
    scenario.record_ids("Case")  # any call: Salesforce reports the usage with it
    scenario.edit_issue_as_user("TEST-1", {"summary": "Paused until the quota recovers"})
    first = enqueue_push(container, scenario, association_id)
    scenario.clear_logs()

    runner.run_due()

    assert scenario.salesforce_data_calls() == {}
    original, deferred = jobs_of(container)
    assert (original.id, original.state) == (first, DONE)
    assert deferred.state == QUEUED and deferred.attempts == 0
    assert deferred.run_after == START + RECHECK
    assert deferred.coalesce_key == association_key(association_id)


def test_manual_push_keeps_running_in_the_reserve(container, scenario, case_id, association_id):
    set_org_usage(scenario.sandbox, 95_000)
    scenario.record_ids("Case")
    scenario.edit_issue_as_user("TEST-1", {"summary": "A person asked for this push"})

    push_issue(
        container, scenario.connection.id, "TEST-1", salesforce_object="Case", salesforce_id=case_id
    )

    assert scenario.record("Case", case_id)["Subject"] == "A person asked for this push"
    with container.session() as session:
        assert quota_state(session, scenario.connection.id, now=START).paused


def test_background_work_resumes_by_itself_once_the_pause_expires(
    container, scenario, case_id, association_id, runner, clock
):
    set_org_usage(scenario.sandbox, 92_000)
    scenario.record_ids("Case")
    scenario.edit_issue_as_user("TEST-1", {"summary": "Synced after the pause"})
    enqueue_push(container, scenario, association_id)
    runner.run_due()
    assert scenario.record("Case", case_id)["Subject"] != "Synced after the pause"
    set_org_usage(scenario.sandbox, 20_000)  # the rolling 24-hour window freed calls

    clock.shift(RECHECK + timedelta(seconds=1))
    runner.run_due()

    assert scenario.record("Case", case_id)["Subject"] == "Synced after the pause"
    assert [job.state for job in jobs_of(container)] == [DONE, DONE]
    with container.session() as session:
        state = quota_state(session, scenario.connection.id, now=START + RECHECK * 2)
    assert state.paused is False and state.used is not None and state.used < 21_000


def test_the_admin_route_shows_the_pause(container, client, scenario):
    record_api_usage(container, scenario.connection.id, 91_000, 100_000)
    headers = create_admin(container)

    response = client.get(f"/api/v1/connections/{scenario.connection.id}/quota", headers=headers)

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["paused"] is True and data["share"] == 0.91 and data["pauseShare"] == 0.9
    assert data["resumesAt"] == (START + RECHECK).isoformat()
    unknown = client.get("/api/v1/connections/nope/quota", headers=headers)
    assert unknown.status_code == 404
    assert client.get(f"/api/v1/connections/{scenario.connection.id}/quota").status_code == 401
