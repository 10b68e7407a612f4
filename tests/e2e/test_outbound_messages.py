"""Salesforce outbound messages (SOAP) → ``sync.pull`` jobs: the Ack only after the jobs are
stored, the OrganizationId checked against the connection's org, and every bad envelope answered
with a SOAP fault (never a stack trace). Envelopes are the sandbox's own rendering of a real
org's ``notifications`` message.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forcebridge.jobs.models import Job
from forcebridge.models import Connection
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.webhooks.processing import association_key
from sync.sync_scenario import SyncScenario

ACK = "<Ack>true</Ack>"


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    built = SyncScenario.build(container, sandbox, objects=("Case",))
    built.record_ids("Case")  # signs in once: the token response names the org
    return built


@pytest.fixture
def case_ids(scenario: SyncScenario) -> list[str]:
    return scenario.record_ids("Case")[:3]


def envelope(scenario: SyncScenario, record_ids: list[str], *, organization_id: str | None = None):
    outbound = scenario.sandbox.salesforce.outbound
    definition = outbound.define("ForceBridge", "Case", ["Id", "Subject"], "http://x", True, True)
    records = [scenario.record("Case", record_id) for record_id in record_ids]
    body = outbound.envelope(
        definition, [(f"04l00000000000{n}AAA", record) for n, record in enumerate(records)]
    )
    if organization_id is not None:
        body = body.replace(org_of(scenario), organization_id)
    return body.encode()


def org_of(scenario: SyncScenario) -> str:
    with scenario.container.session() as session:
        connection = session.get(Connection, scenario.connection.id)
        assert connection is not None and connection.salesforce_organization_id
        return connection.salesforce_organization_id


def post(client, scenario: SyncScenario, body: bytes, connection_id: str | None = None):
    return client.post(
        f"/webhooks/salesforce/{connection_id or scenario.connection.id}/outbound-message",
        content=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
    )


def pull_jobs(container) -> list[Job]:
    with container.session() as session:
        return list(session.scalars(select(Job).where(Job.kind == SYNC_PULL_JOB)))


def test_notified_records_with_auto_pull_get_a_pull_job_and_the_ack(client, scenario, case_ids):
    pulled = scenario.associate("TEST-1", "Case", case_ids[0], auto_pull=True)
    scenario.associate("TEST-2", "Case", case_ids[1], auto_push=True)  # no autoPull: no job

    response = post(client, scenario, envelope(scenario, case_ids))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert ACK in response.text
    [job] = pull_jobs(scenario.container)
    assert job.payload["association_id"] == pulled
    assert job.payload["salesforce_id"] == case_ids[0]
    assert job.coalesce_key == association_key(pulled)


def test_another_orgs_message_is_refused_with_a_fault_and_nothing_enqueued(
    client, scenario, case_ids
):
    scenario.associate("TEST-1", "Case", case_ids[0], auto_pull=True)

    response = post(
        client, scenario, envelope(scenario, case_ids, organization_id="00D000000000999")
    )

    assert response.status_code == 403
    assert "<faultcode>soapenv:Client</faultcode>" in response.text and ACK not in response.text
    assert pull_jobs(scenario.container) == []


def test_an_unknown_connection_gets_the_same_refusal(client, scenario, case_ids):
    response = post(client, scenario, envelope(scenario, case_ids), connection_id="unknown")

    assert response.status_code == 403
    assert "not the org of this connection" in response.text


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<a><b></a>",
        b'<?xml version="1.0"?><Envelope/>',
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        b"<soapenv:Body/></soapenv:Envelope>",
        b'<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY lol "lol">]><a>&lol;</a>',
    ],
    ids=["empty", "text", "malformed", "not-soap", "no-notifications", "dtd"],
)
def test_a_bad_envelope_is_a_400_soap_fault(client, scenario, body):
    response = post(client, scenario, body)

    assert response.status_code == 400
    assert "<soapenv:Fault>" in response.text and "Traceback" not in response.text


def test_a_body_over_one_mebibyte_is_refused(client, scenario):
    response = post(client, scenario, b"<" + b"a" * (1024 * 1024 + 1))

    assert response.status_code == 413
    assert "<soapenv:Fault>" in response.text
