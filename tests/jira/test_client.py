"""JiraClient against a tiny fake Jira (MockTransport): paths, bodies, paging, caching, errors."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from forcebridge.errors import ExternalServiceError, InvalidInput, NotFound, TransientExternalError
from forcebridge.jira.adf import text_to_adf
from forcebridge.jira.client import JiraClient

SITE = "https://acme.atlassian.net"

Handler = Callable[[httpx2.Request], httpx2.Response]


class FakeJira:
    """Routes ``(method, path)`` to canned handlers and records every request."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.routes: dict[tuple[str, str], Handler] = {}

    def on(
        self, method: str, path: str, handler: Handler | dict[str, Any] | list[Any] | int
    ) -> None:
        if isinstance(handler, int):
            status = handler
            self.routes[(method, path)] = lambda request: httpx2.Response(status)
        elif isinstance(handler, dict | list):
            body = handler
            self.routes[(method, path)] = lambda request: httpx2.Response(200, json=body)
        else:
            self.routes[(method, path)] = handler

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return httpx2.Response(
                404,
                json={
                    "errorMessages": [
                        "Issue does not exist or you do not have permission to see it."
                    ]
                },
            )
        return handler(request)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.url.path == path)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> FakeJira:
    return FakeJira()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def jira(fake: FakeJira, clock: Clock) -> JiraClient:
    http = httpx2.Client(base_url=SITE, transport=httpx2.MockTransport(fake))
    return JiraClient(http, clock=clock)


def body_of(request: httpx2.Request) -> Any:
    return json.loads(request.content)


def test_server_info_and_myself_use_rest_api_3(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("GET", "/rest/api/3/serverInfo", {"deploymentType": "Cloud"})
    fake.on("GET", "/rest/api/3/myself", {"accountId": "abc"})
    assert jira.server_info()["deploymentType"] == "Cloud"
    assert jira.myself()["accountId"] == "abc"


def test_oauth_base_url_prefix_is_kept(fake: FakeJira) -> None:
    fake.on("GET", "/ex/jira/cloud-1/rest/api/3/myself", {"accountId": "abc"})
    http = httpx2.Client(
        base_url="https://api.atlassian.com/ex/jira/cloud-1", transport=httpx2.MockTransport(fake)
    )
    assert JiraClient(http).myself() == {"accountId": "abc"}


def test_get_issue_asks_for_fields_and_expansions(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("GET", "/rest/api/3/issue/PROJ-7", {"id": "10007", "key": "PROJ-7"})
    issue = jira.get_issue("PROJ-7", fields=["summary", "status"], expand=["names", "changelog"])
    assert issue["id"] == "10007"
    params = fake.requests[-1].url.params
    assert params["fields"] == "summary,status" and params["expand"] == "names,changelog"


def test_get_issue_of_unknown_key_is_not_found(jira: JiraClient) -> None:
    with pytest.raises(NotFound, match="PROJ-404"):
        jira.get_issue("PROJ-404")


@pytest.mark.parametrize("bad", ["../admin", "PROJ-", "PROJ-1/comment", "", "10001?x=1", "PR OJ-1"])
def test_malformed_issue_keys_never_reach_jira(fake: FakeJira, jira: JiraClient, bad: str) -> None:
    with pytest.raises(InvalidInput):
        jira.get_issue(bad)
    assert fake.requests == []


def test_get_project_by_key(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("GET", "/rest/api/3/project/PROJ", {"id": "10000", "key": "PROJ"})
    assert jira.get_project("PROJ")["id"] == "10000"
    with pytest.raises(NotFound):
        jira.get_project("NOPE")


def test_create_issue_posts_fields(fake: FakeJira, jira: JiraClient) -> None:
    fake.on(
        "POST",
        "/rest/api/3/issue",
        lambda r: httpx2.Response(201, json={"id": "10010", "key": "PROJ-10"}),
    )
    created = jira.create_issue({"project": {"key": "PROJ"}, "summary": "Hi"})
    assert created["key"] == "PROJ-10"
    assert body_of(fake.requests[-1]) == {"fields": {"project": {"key": "PROJ"}, "summary": "Hi"}}


def test_edit_issue_puts_fields_without_notifying(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("PUT", "/rest/api/3/issue/10001", 204)
    jira.edit_issue("10001", {"summary": "New"})
    request = fake.requests[-1]
    assert request.url.params["notifyUsers"] == "false"
    assert body_of(request) == {"fields": {"summary": "New"}}


def test_search_follows_next_page_tokens_with_explicit_fields(
    fake: FakeJira, jira: JiraClient
) -> None:
    pages = {
        None: {"issues": [{"id": "1"}, {"id": "2"}], "nextPageToken": "t1", "isLast": False},
        "t1": {"issues": [{"id": "3"}], "isLast": True},
    }
    fake.on(
        "POST",
        "/rest/api/3/search/jql",
        lambda r: httpx2.Response(200, json=pages[body_of(r).get("nextPageToken")]),
    )
    issues = list(jira.search('project = "PROJ"', fields=["summary"], page_size=2))
    assert [issue["id"] for issue in issues] == ["1", "2", "3"]
    first, second = (body_of(r) for r in fake.requests)
    assert first == {"jql": 'project = "PROJ"', "fields": ["summary"], "maxResults": 2}
    assert second["nextPageToken"] == "t1"


def test_search_stops_when_jira_repeats_a_page_token(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("POST", "/rest/api/3/search/jql", {"issues": [{"id": "1"}], "nextPageToken": "same"})
    with pytest.raises(ExternalServiceError, match="same nextPageToken"):
        list(jira.search('project = "PROJ"', fields=["id"]))
    assert len(fake.requests) == 2


def test_fields_are_cached_until_the_ttl_expires(
    fake: FakeJira, jira: JiraClient, clock: Clock
) -> None:
    fake.on("GET", "/rest/api/3/field", [{"id": "summary"}])
    assert jira.fields() == [{"id": "summary"}]
    assert jira.fields() == [{"id": "summary"}]
    assert fake.count("GET", "/rest/api/3/field") == 1
    clock.now += 301
    jira.fields()
    assert fake.count("GET", "/rest/api/3/field") == 2


def test_transitions_and_transition(fake: FakeJira, jira: JiraClient) -> None:
    fake.on(
        "GET",
        "/rest/api/3/issue/PROJ-1/transitions",
        {"transitions": [{"id": "31", "name": "Done"}]},
    )
    fake.on("POST", "/rest/api/3/issue/PROJ-1/transitions", 204)
    assert jira.transitions("PROJ-1") == [{"id": "31", "name": "Done"}]
    jira.transition("PROJ-1", "31")
    assert body_of(fake.requests[-1]) == {"transition": {"id": "31"}}


def test_comments_walk_offset_pages(fake: FakeJira, jira: JiraClient) -> None:
    comments = [{"id": str(n)} for n in range(5)]

    def page(request: httpx2.Request) -> httpx2.Response:
        start = int(request.url.params["startAt"])
        # Jira may cap maxResults below what was asked: here at 2.
        return httpx2.Response(
            200, json={"comments": comments[start : start + 2], "startAt": start, "total": 5}
        )

    fake.on("GET", "/rest/api/3/issue/PROJ-1/comment", page)
    assert [c["id"] for c in jira.comments("PROJ-1")] == ["0", "1", "2", "3", "4"]
    assert fake.count("GET", "/rest/api/3/issue/PROJ-1/comment") == 3


def test_add_comment_sends_adf_in_v3_with_visibility(fake: FakeJira, jira: JiraClient) -> None:
    fake.on(
        "POST",
        "/rest/api/3/issue/PROJ-1/comment",
        lambda r: httpx2.Response(201, json={"id": "100"}),
    )
    jira.add_comment("PROJ-1", "hello\nworld", visibility={"type": "role", "value": "Developers"})
    assert body_of(fake.requests[-1]) == {
        "body": text_to_adf("hello\nworld"),
        "visibility": {"type": "role", "value": "Developers"},
    }


def test_add_comment_sends_plain_text_in_v2(fake: FakeJira) -> None:
    fake.on(
        "POST",
        "/rest/api/2/issue/PROJ-1/comment",
        lambda r: httpx2.Response(201, json={"id": "100"}),
    )
    http = httpx2.Client(base_url=SITE, transport=httpx2.MockTransport(fake))
    JiraClient(http, api_version="2").add_comment("PROJ-1", "hello")
    assert body_of(fake.requests[-1]) == {"body": "hello"}


def test_edit_comment_puts_the_new_body(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("PUT", "/rest/api/3/issue/PROJ-1/comment/100", {"id": "100"})
    jira.edit_comment("PROJ-1", "100", "changed")
    request = fake.requests[-1]
    assert body_of(request) == {"body": text_to_adf("changed")}
    assert request.url.params["notifyUsers"] == "false"


def test_add_attachment_sends_a_file_part_with_the_xsrf_header(
    fake: FakeJira, jira: JiraClient
) -> None:
    def upload(request: httpx2.Request) -> httpx2.Response:
        request.read()
        return httpx2.Response(200, json=[{"id": "10001", "filename": "log.txt", "size": 5}])

    fake.on("POST", "/rest/api/3/issue/PROJ-1/attachments", upload)
    result = jira.add_attachment("PROJ-1", "log.txt", io.BytesIO(b"hello"), "text/plain")
    assert result[0]["id"] == "10001"
    request = fake.requests[-1]
    assert request.headers["X-Atlassian-Token"] == "no-check"
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="log.txt"' in request.content
    assert b"hello" in request.content


def test_download_attachment_streams_from_the_own_site_even_for_foreign_urls(
    fake: FakeJira, jira: JiraClient
) -> None:
    fake.on(
        "GET",
        "/rest/api/3/attachment/content/10001",
        lambda r: httpx2.Response(200, content=b"x" * 100_000),
    )
    data = b"".join(
        jira.download_attachment("https://evil.example/rest/api/3/attachment/content/10001")
    )
    assert data == b"x" * 100_000
    assert fake.requests[-1].url.host == "acme.atlassian.net"
    assert b"".join(jira.download_attachment("10001")) == data


def test_download_attachment_rejects_other_urls(jira: JiraClient) -> None:
    with pytest.raises(InvalidInput):
        jira.download_attachment("https://acme.atlassian.net/secure/admin")


def test_download_of_a_missing_attachment_is_not_found(jira: JiraClient) -> None:
    with pytest.raises(NotFound):
        b"".join(jira.download_attachment("999"))


def test_throttling_is_transient_and_rate_limit_headers_are_kept(
    fake: FakeJira, jira: JiraClient
) -> None:
    fake.on(
        "GET",
        "/rest/api/3/myself",
        lambda r: httpx2.Response(
            429, headers={"Retry-After": "3", "RateLimit-Reason": "jira-burst-based"}
        ),
    )
    with pytest.raises(TransientExternalError) as caught:
        jira.myself()
    assert caught.value.retry_after == 3
    assert jira.rate_limit is not None and jira.rate_limit.reason == "jira-burst-based"


def test_dropped_connections_are_transient() -> None:
    def drop(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.RemoteProtocolError("Server disconnected", request=request)

    http = httpx2.Client(base_url=SITE, transport=httpx2.MockTransport(drop))
    with pytest.raises(TransientExternalError):
        JiraClient(http).myself()


def test_a_body_that_is_not_json_is_an_external_error(fake: FakeJira, jira: JiraClient) -> None:
    fake.on("GET", "/rest/api/3/myself", lambda r: httpx2.Response(200, text="<html>login</html>"))
    with pytest.raises(ExternalServiceError, match="not JSON"):
        jira.myself()


def test_unknown_api_version_is_refused() -> None:
    with pytest.raises(InvalidInput):
        JiraClient(httpx2.Client(base_url=SITE), api_version="4")
