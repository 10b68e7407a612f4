"""Outbound messages: SOAP notifications for matching changes, retried until acknowledged."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2
import pytest
from fastapi.testclient import TestClient

from forcebridge.sandbox.salesforce import SalesforceSandbox

from .conftest import API, create

LISTENER = "https://listener.example.com/salesforce/outbound"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    '<soapenv:Body><notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


class Listener:
    """A fake endpoint that fails its first ``failures`` calls, then acknowledges."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.received.append(request)
        if len(self.received) <= self.failures:
            return httpx2.Response(500, text="listener down")
        return httpx2.Response(200, text=ACK, headers={"Content-Type": "text/xml"})


def sandbox_with(
    listener: Listener, delays: tuple[float, ...] = (0.0, 0.0, 0.0)
) -> SalesforceSandbox:
    return SalesforceSandbox(
        outbound_transport=httpx2.MockTransport(listener), outbound_retry_delays=delays
    )


@pytest.fixture
def listener() -> Listener:
    return Listener()


@pytest.fixture
def outbound_client(listener: Listener) -> Iterator[tuple[SalesforceSandbox, TestClient]]:
    sandbox = sandbox_with(listener)
    headers = {"Authorization": f"Bearer {sandbox.credentials['access_token']}"}
    with TestClient(sandbox.app, headers=headers) as client:
        yield sandbox, client
    sandbox.close()


def define(client: TestClient, **overrides: object) -> dict:
    body = {
        "name": "CaseToJira",
        "sobject": "Case",
        "fields": ["Subject", "Status", "IsClosed"],
        "endpoint_url": LISTENER,
    }
    body.update(overrides)
    response = client.post("/__sandbox/salesforce/outbound-messages", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_matching_change_posts_a_soap_notification(
    outbound_client: tuple[SalesforceSandbox, TestClient], listener: Listener
) -> None:
    sandbox, client = outbound_client
    message = define(client)

    case_id = create(client, "Case", Subject="Notify <me> & Jira")
    assert sandbox.outbound.wait_until_idle(5)

    assert len(listener.received) == 1
    request = listener.received[0]
    body = request.content.decode()
    assert str(request.url) == LISTENER
    assert request.headers["Content-Type"].startswith("text/xml")
    assert request.headers["SOAPAction"] == '""'
    assert f"<OrganizationId>{sandbox.credentials['organization_id']}</OrganizationId>" in body
    assert f"<ActionId>{message['id']}</ActionId>" in body
    assert '<SessionId xsi:nil="true"/>' in body
    assert f"<sf:Id>{case_id}</sf:Id>" in body
    assert "<sf:Subject>Notify &lt;me&gt; &amp; Jira</sf:Subject>" in body
    assert "<sf:IsClosed>false</sf:IsClosed>" in body
    assert re.search(r'<sObject xsi:type="sf:Case"', body)
    assert sandbox.outbound.deliveries()[0]["status"] == "delivered"


def test_an_edit_as_a_user_fires_the_update_trigger(
    outbound_client: tuple[SalesforceSandbox, TestClient], listener: Listener
) -> None:
    sandbox, client = outbound_client
    case_id = create(client, "Case", Subject="Before")
    define(client, on_create=False)

    client.patch(f"/__sandbox/salesforce/records/Case/{case_id}", json={"Status": "Escalated"})
    assert sandbox.outbound.wait_until_idle(5)

    assert len(listener.received) == 1
    assert "<sf:Status>Escalated</sf:Status>" in listener.received[0].content.decode()


def test_other_objects_and_rolled_back_changes_send_nothing(
    outbound_client: tuple[SalesforceSandbox, TestClient], listener: Listener
) -> None:
    sandbox, client = outbound_client
    define(client)

    create(client, "Account", Name="Not a case")
    client.post(
        f"{API}/composite/sobjects",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Case"}, "Subject": "rolled back"},
                {"attributes": {"type": "Case"}, "Priority": "Urgent"},
            ],
        },
    )
    assert sandbox.outbound.wait_until_idle(5)

    assert listener.received == []


def test_a_failing_listener_is_retried_until_it_acknowledges() -> None:
    listener = Listener(failures=2)
    sandbox = sandbox_with(listener)
    try:
        with TestClient(
            sandbox.app, headers={"Authorization": f"Bearer {sandbox.credentials['access_token']}"}
        ) as client:
            define(client)
            create(client, "Case", Subject="Retry me")
            assert sandbox.outbound.wait_until_idle(5)
        delivery = sandbox.outbound.deliveries()[0]
        assert len(listener.received) == 3
        assert [attempt["status"] for attempt in delivery["attempts"]] == [500, 500, 200]
        assert delivery["status"] == "delivered"
        assert len({request.content for request in listener.received}) == 1  # same notification id
    finally:
        sandbox.close()


def test_a_2xx_without_ack_is_not_a_delivery_and_gives_up_after_the_last_delay() -> None:
    received: list[httpx2.Request] = []

    def no_ack(request: httpx2.Request) -> httpx2.Response:
        received.append(request)
        return httpx2.Response(200, text="<ok/>")

    sandbox = SalesforceSandbox(
        outbound_transport=httpx2.MockTransport(no_ack), outbound_retry_delays=(0.0,)
    )
    try:
        with TestClient(
            sandbox.app, headers={"Authorization": f"Bearer {sandbox.credentials['access_token']}"}
        ) as client:
            define(client)
            create(client, "Case", Subject="Never acknowledged")
            assert sandbox.outbound.wait_until_idle(5)
        assert len(received) == 2
        assert sandbox.outbound.deliveries()[0]["status"] == "failed"
    finally:
        sandbox.close()


def test_definitions_need_a_known_object_and_fields(
    outbound_client: tuple[SalesforceSandbox, TestClient],
) -> None:
    _, client = outbound_client

    unknown_object = client.post(
        "/__sandbox/salesforce/outbound-messages",
        json={"name": "x", "sobject": "Nope", "endpoint_url": LISTENER},
    )
    unknown_field = client.post(
        "/__sandbox/salesforce/outbound-messages",
        json={"name": "x", "sobject": "Case", "fields": ["Nope"], "endpoint_url": LISTENER},
    )

    assert unknown_object.status_code == 400 and unknown_field.status_code == 400


def test_changes_committed_together_travel_in_one_envelope(
    outbound_client: tuple[SalesforceSandbox, TestClient], listener: Listener
) -> None:
    sandbox, client = outbound_client
    define(client)

    client.post(
        f"{API}/composite/sobjects",
        json={
            "records": [{"attributes": {"type": "Case"}, "Subject": f"Batch {n}"} for n in range(3)]
        },
    )
    assert sandbox.outbound.wait_until_idle(5)

    assert len(listener.received) == 1
    body = listener.received[0].content.decode()
    assert body.count("<Notification>") == 3
    assert len(sandbox.outbound.deliveries()[0]["record_ids"]) == 3
