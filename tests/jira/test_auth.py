"""Jira authentication: basic auth headers, and OAuth 3LO refresh with rotating refresh tokens."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable

import httpx2
import pytest

from forcebridge.errors import NeedsAdminAction, TransientExternalError
from forcebridge.jira.auth import JiraBasicAuth, JiraOAuth

TOKEN_URL = "https://auth.atlassian.com/oauth/token"
SITE = "https://api.atlassian.com/ex/jira/cloud-1"


class FakeAtlassian:
    """Token endpoint that rotates refresh tokens, plus one API resource that checks the bearer."""

    def __init__(self, *, expires_in: int = 3600, token_latency: float = 0.0) -> None:
        self.valid_refresh_token = "refresh-0"
        self.valid_access_tokens: set[str] = set()
        self.token_calls = 0
        self.api_calls = 0
        self.expires_in = expires_in
        self.token_latency = token_latency
        self.token_error: tuple[int, dict[str, str]] | None = None
        self.reject_every_api_call = False
        self._lock = threading.Lock()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        self.api_calls += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_every_api_call or bearer not in self.valid_access_tokens:
            return httpx2.Response(401, json={"errorMessages": ["You are not authenticated."]})
        return httpx2.Response(200, json={"accountId": "abc"})

    def token(self, request: httpx2.Request) -> httpx2.Response:
        time.sleep(self.token_latency)
        with self._lock:
            self.token_calls += 1
            if self.token_error is not None:
                status, body = self.token_error
                return httpx2.Response(status, json=body)
            body = json.loads(request.content)
            assert body["grant_type"] == "refresh_token"
            if body["refresh_token"] != self.valid_refresh_token:
                return httpx2.Response(
                    403,
                    json={
                        "error": "invalid_grant",
                        "error_description": "Unknown or invalid refresh token.",
                    },
                )
            self.valid_refresh_token = f"refresh-{self.token_calls}"
            access = f"access-{self.token_calls}"
            self.valid_access_tokens = {access}
            return httpx2.Response(
                200,
                json={
                    "access_token": access,
                    "refresh_token": self.valid_refresh_token,
                    "expires_in": self.expires_in,
                    "token_type": "Bearer",
                },
            )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def oauth(
    fake: FakeAtlassian,
    stored: list[str],
    *,
    clock: Callable[[], float] = time.monotonic,
    on_rotated: Callable[[str], None] | None = None,
) -> tuple[httpx2.Client, JiraOAuth]:
    auth = JiraOAuth(
        token_url=TOKEN_URL,
        client_id="client",
        client_secret="secret",
        refresh_token="refresh-0",
        on_refresh_token_rotated=on_rotated or stored.append,
        clock=clock,
    )
    http = httpx2.Client(base_url=SITE, transport=httpx2.MockTransport(fake), auth=auth)
    return http, auth


def test_basic_auth_sends_email_and_api_token() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["Authorization"])
        return httpx2.Response(200, json={})

    auth = JiraBasicAuth("ann@example.com", "tok3n")
    with httpx2.Client(base_url=SITE, transport=httpx2.MockTransport(handler), auth=auth) as http:
        http.get("/rest/api/3/myself")
    assert seen == ["Basic " + base64.b64encode(b"ann@example.com:tok3n").decode()]
    assert "tok3n" not in repr(auth)


def test_first_call_refreshes_and_persists_the_rotated_refresh_token() -> None:
    fake, stored = FakeAtlassian(), []
    http, auth = oauth(fake, stored)
    assert http.get("/rest/api/3/myself").status_code == 200
    assert stored == ["refresh-1"]
    assert auth.refresh_token == "refresh-1"
    assert (fake.token_calls, fake.api_calls) == (1, 1)


def test_access_token_is_reused_until_it_nears_expiry() -> None:
    fake, stored, clock = FakeAtlassian(expires_in=3600), [], Clock()
    http, _ = oauth(fake, stored, clock=clock)
    http.get("/rest/api/3/myself")
    clock.now += 3000
    http.get("/rest/api/3/myself")
    assert fake.token_calls == 1
    clock.now += 600  # within the 60 s safety margin of expiry
    http.get("/rest/api/3/myself")
    assert fake.token_calls == 2
    assert stored == ["refresh-1", "refresh-2"]


def test_rotated_token_is_persisted_before_the_new_access_token_is_used() -> None:
    fake = FakeAtlassian()
    events: list[str] = []

    def persist(token: str) -> None:
        events.append(f"persisted {token} after {fake.api_calls} api calls")

    http, _ = oauth(fake, [], on_rotated=persist)
    http.get("/rest/api/3/myself")
    assert events == ["persisted refresh-1 after 0 api calls"]


def test_failure_to_persist_the_rotated_token_stops_the_request() -> None:
    fake = FakeAtlassian()

    def persist(token: str) -> None:
        raise OSError("disk full")

    http, _ = oauth(fake, [], on_rotated=persist)
    with pytest.raises(OSError):
        http.get("/rest/api/3/myself")
    assert fake.api_calls == 0


def test_401_refreshes_once_and_retries_once() -> None:
    fake, stored = FakeAtlassian(), []
    http, _ = oauth(fake, stored)
    http.get("/rest/api/3/myself")
    fake.valid_access_tokens = set()  # Jira revoked the access token early
    response = http.get("/rest/api/3/myself")
    assert response.status_code == 200
    assert (fake.token_calls, fake.api_calls) == (2, 3)


def test_a_second_401_is_returned_to_the_caller_without_a_loop() -> None:
    fake = FakeAtlassian()
    fake.reject_every_api_call = True
    http, _ = oauth(fake, [])
    assert http.get("/rest/api/3/myself").status_code == 401
    assert (fake.token_calls, fake.api_calls) == (2, 2)


def test_concurrent_requests_share_one_refresh() -> None:
    fake, stored = FakeAtlassian(token_latency=0.05), []
    http, _ = oauth(fake, stored)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(http.get("/rest/api/3/myself").status_code)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert fake.token_calls == 1
    assert stored == ["refresh-1"]


def test_invalid_grant_needs_admin_action_with_a_hint() -> None:
    fake = FakeAtlassian()
    fake.valid_refresh_token = "something-else"
    http, _ = oauth(fake, [])
    with pytest.raises(NeedsAdminAction) as caught:
        http.get("/rest/api/3/myself")
    assert caught.value.code == "invalid_grant"
    assert caught.value.hint and "Reconnect" in caught.value.hint
    assert "secret" not in caught.value.message and "refresh-0" not in caught.value.message


def test_token_endpoint_outage_is_transient() -> None:
    fake = FakeAtlassian()
    fake.token_error = (503, {"message": "down"})
    http, _ = oauth(fake, [])
    with pytest.raises(TransientExternalError):
        http.get("/rest/api/3/myself")


def test_token_requests_can_go_through_a_separate_client() -> None:
    fake = FakeAtlassian()
    login_http = httpx2.Client(transport=httpx2.MockTransport(fake))
    auth = JiraOAuth(
        token_url=TOKEN_URL,
        client_id="client",
        client_secret="secret",
        refresh_token="refresh-0",
        on_refresh_token_rotated=lambda token: None,
        http=login_http,
    )
    api_calls: list[str] = []

    def api(request: httpx2.Request) -> httpx2.Response:
        api_calls.append(request.headers["Authorization"])
        return httpx2.Response(200, json={})

    http = httpx2.Client(base_url=SITE, transport=httpx2.MockTransport(api), auth=auth)
    http.get("/rest/api/3/myself")
    assert api_calls == ["Bearer access-1"]
    assert fake.token_calls == 1
