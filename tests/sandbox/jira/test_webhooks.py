"""Webhook registration and delivery: payloads, signatures, retries, duplicate and reorder modes."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx2
from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox

from .conftest import WebhookReceiver

RECEIVER_URL = "https://receiver.example/jira"


def register(client: TestClient, auth: dict, **overrides) -> dict:
    body = {
        "name": "sync",
        "url": RECEIVER_URL,
        "events": [
            "jira:issue_updated",
            "jira:issue_created",
            "jira:issue_deleted",
            "comment_created",
        ],
        **overrides,
    }
    response = client.post("/rest/webhooks/1.0/webhook", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def payloads(receiver: WebhookReceiver) -> list[dict]:
    return [json.loads(request.content) for request in receiver.requests]


def test_admin_webhook_registration_round_trip(client: TestClient, auth: dict) -> None:
    created = register(
        client, auth, filters={"issue-related-events-section": "project = TEST"}, secret="s3cret"
    )
    assert created["self"].endswith("/rest/webhooks/1.0/webhook/1")
    assert "secret" not in created
    assert created["filters"] == {"issue-related-events-section": "project = TEST"}
    assert [w["name"] for w in client.get("/rest/webhooks/1.0/webhook", headers=auth).json()] == [
        "sync"
    ]
    assert client.delete("/rest/webhooks/1.0/webhook/1", headers=auth).status_code == 204
    assert client.get("/rest/webhooks/1.0/webhook/1", headers=auth).status_code == 404


def test_registration_rejects_bad_jql_events_and_urls(client: TestClient, auth: dict) -> None:
    base = {"name": "x", "url": RECEIVER_URL, "events": ["jira:issue_updated"]}
    bad_jql = {**base, "filters": {"issue-related-events-section": "project ="}}
    assert client.post("/rest/webhooks/1.0/webhook", json=bad_jql, headers=auth).status_code == 400
    assert (
        client.post(
            "/rest/webhooks/1.0/webhook", json={**base, "events": ["nope"]}, headers=auth
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/rest/webhooks/1.0/webhook", json={**base, "url": "ftp://x"}, headers=auth
        ).status_code
        == 400
    )


def test_issue_update_delivers_a_v2_payload_with_changelog(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "Changed"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    (payload,) = payloads(receiver)
    assert payload["webhookEvent"] == "jira:issue_updated"
    assert payload["issue_event_type_name"] == "issue_updated"
    assert payload["user"]["accountId"] == jira.credentials["account_id"]
    assert payload["issue"]["key"] == "TEST-1"
    assert payload["issue"]["self"].endswith("/rest/api/2/issue/10001")
    assert isinstance(payload["issue"]["fields"]["description"], str)
    assert payload["changelog"]["items"] == [
        {
            "field": "summary",
            "fieldtype": "jira",
            "fieldId": "summary",
            "from": None,
            "fromString": "Login page rejects valid passwords",
            "to": None,
            "toString": "Changed",
        }
    ]
    assert payload["matchedWebhookIds"] == [1]
    assert isinstance(payload["timestamp"], int)


def test_custom_field_and_status_changes_in_the_changelog(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    client.put(
        "/rest/api/3/issue/TEST-1",
        json={"fields": {"customfield_10013": {"value": "Minor"}}},
        headers=auth,
    )
    client.post(
        "/rest/api/3/issue/TEST-1/transitions", json={"transition": {"id": "21"}}, headers=auth
    )
    assert jira.wait_for_deliveries(5)
    custom, status = (p["changelog"]["items"][0] for p in payloads(receiver))
    assert custom == {
        "field": "Severity",
        "fieldtype": "custom",
        "fieldId": "customfield_10013",
        "from": "10101",
        "fromString": "Major",
        "to": "10102",
        "toString": "Minor",
    }
    assert (
        status["fieldId"] == "status"
        and status["fromString"] == "To Do"
        and status["toString"] == "In Progress"
    )


def test_created_deleted_comment_and_attachment_events(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    body = {"fields": {"project": {"key": "TEST"}, "issuetype": {"name": "Bug"}, "summary": "New"}}
    key = client.post("/rest/api/2/issue", json=body, headers=auth).json()["key"]
    client.post(f"/rest/api/2/issue/{key}/comment", json={"body": "hi"}, headers=auth)
    client.post(
        f"/rest/api/2/issue/{key}/attachments",
        files={"file": ("a.txt", b"x")},
        headers={**auth, "X-Atlassian-Token": "no-check"},
    )
    client.delete(f"/rest/api/2/issue/{key}", headers=auth)
    assert jira.wait_for_deliveries(5)
    events = [(p["webhookEvent"], p.get("issue_event_type_name")) for p in payloads(receiver)]
    assert events == [
        ("jira:issue_created", "issue_created"),
        ("comment_created", None),
        ("jira:issue_updated", "issue_commented"),
        ("jira:issue_updated", "issue_updated"),
        ("jira:issue_deleted", "issue_deleted"),
    ]
    comment_payload = payloads(receiver)[1]
    assert comment_payload["comment"]["body"] == "hi" and comment_payload["issue"]["key"] == key
    attachment_item = payloads(receiver)[3]["changelog"]["items"][0]
    assert attachment_item["field"] == "Attachment" and attachment_item["toString"] == "a.txt"


def test_jql_filter_limits_deliveries(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(
        client, auth, filters={"issue-related-events-section": "project = TEST AND labels = docs"}
    )
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "a"}}, headers=auth)
    client.put("/rest/api/3/issue/TEST-5", json={"fields": {"summary": "b"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    assert [p["issue"]["key"] for p in payloads(receiver)] == ["TEST-5"]


def test_signature_is_hmac_sha256_of_the_raw_body(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth, secret="s3cret")
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "signed"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    (request,) = receiver.requests
    expected = "sha256=" + hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Hub-Signature"] == expected


def test_no_signature_without_a_secret(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "unsigned"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    assert "X-Hub-Signature" not in receiver.requests[0].headers


def test_retries_keep_the_identifier_and_count_in_the_retry_header(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    receiver.responses = [503, 429, httpx2.ConnectError("refused")]
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "retry me"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    identifiers = {r.headers["X-Atlassian-Webhook-Identifier"] for r in receiver.requests}
    assert len(receiver.requests) == 4 and len(identifiers) == 1
    assert [r.headers.get("X-Atlassian-Webhook-Retry") for r in receiver.requests] == [
        None,
        "1",
        "2",
        "3",
    ]
    (delivery,) = client.get("/__sandbox/jira/webhooks/deliveries").json()["deliveries"]
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [503, 429, None, 200]


def test_client_errors_are_not_retried_and_retries_stop_after_the_last_delay(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    receiver.responses = [400, 500, 500, 500, 500]
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "one"}}, headers=auth)
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "two"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    states = [
        d["state"] for d in client.get("/__sandbox/jira/webhooks/deliveries").json()["deliveries"]
    ]
    assert states == ["failed", "failed"]
    assert len(receiver.requests) == 1 + 4  # the second delivery: first attempt + 3 retries


def test_duplicate_mode_sends_every_delivery_twice_with_one_identifier(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    assert (
        client.put("/__sandbox/jira/webhooks/mode", json={"duplicate": True}).json()["duplicate"]
        is True
    )
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "twice"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].content == receiver.requests[1].content
    assert len({r.headers["X-Atlassian-Webhook-Identifier"] for r in receiver.requests}) == 1


def test_reorder_mode_holds_deliveries_and_releases_newest_first(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    client.put("/__sandbox/jira/webhooks/mode", json={"reorder": True})
    for summary in ("first", "second", "third"):
        client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": summary}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    assert receiver.requests == []
    assert client.post("/__sandbox/jira/webhooks/release").json() == {"released": 3}
    assert (
        client.post("/__sandbox/jira/webhooks/wait", params={"timeout_seconds": 5}).json()[
            "drained"
        ]
        is True
    )
    assert [p["changelog"]["items"][0]["toString"] for p in payloads(receiver)] == [
        "third",
        "second",
        "first",
    ]


def test_operator_edit_as_a_user_fires_webhooks_with_that_user(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth)
    response = client.post(
        "/__sandbox/jira/issues/TEST-1/edit",
        json={"fields": {"summary": "by alice"}, "transition": "In Progress"},
    )
    assert response.status_code == 200
    assert jira.wait_for_deliveries(5)
    first, second = payloads(receiver)
    assert first["user"]["displayName"] == "Alice Agent"
    assert second["issue_event_type_name"] == "issue_generic"


def test_excluded_body_sends_an_empty_post(
    client: TestClient, auth: dict, jira: JiraSandbox, receiver: WebhookReceiver
) -> None:
    register(client, auth, excludeBody=True)
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "quiet"}}, headers=auth)
    assert jira.wait_for_deliveries(5)
    assert receiver.requests[0].content == b""


def test_a_ca_file_path_is_accepted_for_webhook_tls_verification() -> None:
    import certifi

    # httpx2 deprecates verify=<path> (a warning is an error here): the sandbox builds the context.
    sandbox = JiraSandbox(webhook_verify=certifi.where())
    sandbox.close()
