"""Outbound events: a connection's URL is called after each automatic sync, signed the Standard
Webhooks way, retried when the receiver fails, never sent to a URL the outbound guard refuses."""

from __future__ import annotations

import json
import time

import httpx2
import pytest
from sqlalchemy import select

from builders import create_admin
from forcebridge.errors import ValidationFailed
from forcebridge.events.service import DELIVER_EVENT_JOB, set_event_url, sign
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.models import DONE, QUEUED, Job
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.service import enqueue
from forcebridge.jobs.settings import JobSettings
from forcebridge.webhooks.processing import SYNC_PUSH_JOB, association_key
from sync.sync_scenario import SyncScenario

RECEIVER = "https://hooks.example.com/forcebridge"


class Receiver:
    """The user's endpoint: records deliveries and answers ``status``."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.status = 204

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(self.status)


@pytest.fixture(autouse=True)
def receiver_host_allowed(container) -> None:
    """Event URLs pass the outbound guard like vendor URLs: an admin allows the user's host."""
    container.settings.allowed_hosts = [*container.settings.allowed_hosts, "hooks.example.com"]


@pytest.fixture
def receiver(container, sandbox) -> Receiver:
    recording = Receiver()
    sandbox_routes = container.transport_override

    def routes(service: str, base_url: str):
        if httpx2.URL(base_url).host == "hooks.example.com":
            return httpx2.MockTransport(recording)
        return sandbox_routes(service, base_url)

    container.transport_override = routes
    return recording


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def association_id(scenario: SyncScenario) -> str:
    return scenario.associate("TEST-1", "Case", scenario.record_ids("Case")[0], auto_push=True)


@pytest.fixture
def runner(container):
    registry = HandlerRegistry()
    registry.load(BUILTIN_HANDLER_MODULES)
    job_runner = JobRunner(
        container,
        registry=registry,
        settings=JobSettings(job_backoff_base_seconds=0.001, job_backoff_cap_seconds=0.001),
        worker_id="w",
        periodic_hooks=[],
    )
    yield job_runner
    job_runner.close()


def push_job(container, scenario, association_id) -> None:
    with container.session() as session:
        enqueue(
            session,
            SYNC_PUSH_JOB,
            {"association_id": association_id},
            connection_id=scenario.connection.id,
            coalesce_key=association_key(association_id),
        )


def test_the_signature_matches_the_standard_webhooks_reference_vector():
    assert (
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_successful_sync_is_announced_with_a_verifiable_signature(
    container, scenario, association_id, receiver, runner
):
    secret = set_event_url(container, scenario.connection.id, RECEIVER)
    scenario.edit_issue_as_user("TEST-1", {"summary": "Announce me"})
    push_job(container, scenario, association_id)

    runner.run_due()

    [request] = receiver.requests
    body = request.read()
    event = json.loads(body)
    assert event["type"] == "sync.succeeded"
    assert event["data"]["associationId"] == association_id
    assert request.headers["webhook-signature"] == sign(
        secret, request.headers["webhook-id"], int(request.headers["webhook-timestamp"]), body
    )


def test_a_receiver_failure_is_retried_with_the_same_message_id(
    container, scenario, association_id, receiver, runner
):
    set_event_url(container, scenario.connection.id, RECEIVER)
    receiver.status = 503
    push_job(container, scenario, association_id)
    runner.run_due(kinds=[SYNC_PUSH_JOB])
    runner.run_due(kinds=[DELIVER_EVENT_JOB], max_jobs=1)  # one failed attempt
    receiver.status = 200
    time.sleep(0.01)  # past the (shortened) backoff

    runner.run_due(kinds=[DELIVER_EVENT_JOB])

    assert len(receiver.requests) == 2
    assert len({request.headers["webhook-id"] for request in receiver.requests}) == 1
    with container.session() as session:
        [delivery] = session.scalars(select(Job).where(Job.kind == DELIVER_EVENT_JOB))
        assert delivery.state == DONE


def test_without_a_subscription_no_delivery_job_is_made(
    container, scenario, association_id, runner
):
    push_job(container, scenario, association_id)

    runner.run_due()

    with container.session() as session:
        assert not list(session.scalars(select(Job).where(Job.kind == DELIVER_EVENT_JOB)))
        assert not list(session.scalars(select(Job).where(Job.state == QUEUED)))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/hook", "https://10.0.0.5/hook", "file:///etc/passwd", "not a url"],
)
def test_a_url_the_outbound_guard_refuses_is_not_accepted(container, scenario, url):
    with pytest.raises(ValidationFailed):
        set_event_url(container, scenario.connection.id, url)


def test_the_admin_route_sets_shows_and_removes_the_url(container, client, scenario):
    headers = create_admin(container)
    path = f"/api/v1/connections/{scenario.connection.id}/events"

    created = client.put(path, json={"url": RECEIVER}, headers=headers)
    shown = client.get(path, headers=headers)
    refused = client.put(path, json={"url": "http://169.254.169.254/"}, headers=headers)
    removed = client.delete(path, headers=headers)

    assert created.status_code == 200 and created.json()["data"]["secret"].startswith("whsec_")
    assert shown.json()["data"] == {"url": RECEIVER}
    assert refused.status_code == 422 and refused.json()["success"] is False
    assert removed.json()["data"] == {"removed": True}
    assert client.get(path, headers=headers).json()["data"] == {"url": None}
