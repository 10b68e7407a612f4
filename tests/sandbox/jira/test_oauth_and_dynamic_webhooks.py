"""OAuth 2.0 (3LO): rotating refresh tokens, calls via /ex/jira/{cloudId}, dynamic webhooks."""

from __future__ import annotations

from fastapi.testclient import TestClient

from forcebridge.sandbox.jira import JiraSandbox
from forcebridge.sandbox.jira.wire import NOT_AUTHENTICATED


def refresh(client: TestClient, jira: JiraSandbox, refresh_token: str | None = None):
    return client.post(
        "/oauth/token",
        json={
            "grant_type": "refresh_token",
            "client_id": jira.credentials["oauth_client_id"],
            "client_secret": jira.credentials["oauth_client_secret"],
            "refresh_token": refresh_token or jira.credentials["oauth_refresh_token"],
        },
    )


def bearer(client: TestClient, jira: JiraSandbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {refresh(client, jira).json()['access_token']}"}


def test_refresh_grant_returns_a_bearer_token_that_expires_in_an_hour(
    client: TestClient, jira: JiraSandbox
) -> None:
    response = refresh(client, jira)
    assert response.status_code == 200
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["refresh_token"] and tokens["access_token"]


def test_refresh_tokens_rotate_and_the_old_one_stops_working(
    client: TestClient, jira: JiraSandbox
) -> None:
    first = jira.credentials["oauth_refresh_token"]
    rotated = refresh(client, jira, first).json()["refresh_token"]
    assert rotated != first
    reused = refresh(client, jira, first)
    assert reused.status_code == 403
    assert reused.json()["error"] == "invalid_grant"
    assert refresh(client, jira, rotated).status_code == 200


def test_wrong_client_secret_and_unsupported_grant(client: TestClient, jira: JiraSandbox) -> None:
    response = client.post(
        "/oauth/token",
        json={
            "grant_type": "refresh_token",
            "client_id": jira.credentials["oauth_client_id"],
            "client_secret": "nope",
            "refresh_token": "x",
        },
    )
    assert response.status_code == 401 and response.json()["error"] == "access_denied"
    assert (
        client.post("/oauth/token", json={"grant_type": "password"}).json()["error"]
        == "unsupported_grant_type"
    )


def test_accessible_resources_and_the_cloud_id_prefix(
    client: TestClient, jira: JiraSandbox
) -> None:
    headers = bearer(client, jira)
    (site,) = client.get("/oauth/token/accessible-resources", headers=headers).json()
    assert site["id"] == jira.credentials["cloud_id"]
    issue = client.get(f"/ex/jira/{site['id']}/rest/api/3/issue/TEST-1", headers=headers).json()
    assert issue["self"] == f"http://testserver/ex/jira/{site['id']}/rest/api/3/issue/10001"
    assert (
        client.get("/ex/jira/not-my-site/rest/api/3/issue/TEST-1", headers=headers).status_code
        == 404
    )


def test_expired_access_tokens_get_the_401_body(client: TestClient, jira: JiraSandbox) -> None:
    headers = bearer(client, jira)
    assert client.get("/rest/api/3/myself", headers=headers).status_code == 200
    assert client.post("/__sandbox/jira/oauth/expire-access-tokens").json()["expired"] == 1
    response = client.get("/rest/api/3/myself", headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errorMessages": [NOT_AUTHENTICATED], "errors": {}}


def test_dynamic_webhooks_need_an_app(client: TestClient, auth: dict) -> None:
    body = {
        "url": "https://app.example/hook",
        "webhooks": [{"events": ["jira:issue_updated"], "jqlFilter": "project = TEST"}],
    }
    assert client.post("/rest/api/3/webhook", json=body, headers=auth).status_code == 403


def test_dynamic_webhook_register_list_refresh_delete(
    client: TestClient, jira: JiraSandbox
) -> None:
    headers = bearer(client, jira)
    body = {
        "url": "https://app.example/hook",
        "webhooks": [
            {"events": ["jira:issue_updated"], "jqlFilter": "project = TEST"},
            {"events": ["jira:issue_updated"], "jqlFilter": "watchCount = 1"},
        ],
    }
    result = client.post("/rest/api/3/webhook", json=body, headers=headers).json()[
        "webhookRegistrationResult"
    ]
    assert result[0] == {"createdWebhookId": 10000}
    assert "errors" in result[1]
    listed = client.get("/rest/api/3/webhook", headers=headers).json()
    assert listed["total"] == 1 and listed["values"][0]["jqlFilter"] == "project = TEST"
    expiry = listed["values"][0]["expirationDate"]
    assert expiry - jira.issues.now_ms() > 29 * 86_400_000
    refreshed = client.put(
        "/rest/api/3/webhook/refresh", json={"webhookIds": [10000]}, headers=headers
    )
    assert refreshed.status_code == 200 and refreshed.json()["expirationDate"] >= expiry
    deleted = client.request(
        "DELETE", "/rest/api/3/webhook", json={"webhookIds": [10000]}, headers=headers
    )
    assert deleted.status_code == 202
    assert client.get("/rest/api/3/webhook", headers=headers).json()["total"] == 0


def test_dynamic_webhook_delivers_matching_changes(
    client: TestClient, jira: JiraSandbox, receiver
) -> None:
    headers = bearer(client, jira)
    body = {
        "url": "https://app.example/hook",
        "webhooks": [
            {
                "events": ["jira:issue_updated"],
                "jqlFilter": "project = TEST",
                "fieldIdsFilter": ["summary"],
            }
        ],
    }
    client.post("/rest/api/3/webhook", json=body, headers=headers)
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"labels": ["x"]}}, headers=headers)
    client.put("/rest/api/3/issue/TEST-1", json={"fields": {"summary": "watched"}}, headers=headers)
    assert jira.wait_for_deliveries(5)
    assert len(receiver.requests) == 1
    assert str(receiver.requests[0].url) == "https://app.example/hook"
