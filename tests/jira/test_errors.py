"""Classification of Jira failures: what is retried, what needs a person, what is a plain error."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.errors import (
    ExternalServiceError,
    NeedsAdminAction,
    TransientExternalError,
    VendorThrottled,
)
from forcebridge.jira.errors import (
    DEFAULT_THROTTLE_SECONDS,
    JiraRateLimit,
    error_from_response,
    error_from_transport,
    parse_retry_after,
)

NOW = 1_800_000_000.0


def response(
    status: int, body: Any = None, headers: dict[str, str] | None = None
) -> httpx2.Response:
    request = httpx2.Request("PUT", "https://acme.atlassian.net/rest/api/3/issue/10001")
    if body is None:
        body = {"errorMessages": [], "errors": {}}
    return httpx2.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, None, VendorThrottled),  # a transient error that spends no job attempt
        (500, None, TransientExternalError),
        (503, None, TransientExternalError),
        (409, None, TransientExternalError),
        (401, {"errorMessages": ["You are not authenticated."], "errors": {}}, NeedsAdminAction),
        (403, {"errorMessages": ["You do not have permission."], "errors": {}}, NeedsAdminAction),
        (413, {"errorMessages": ["Too many comments."], "errors": {}}, NeedsAdminAction),
        (422, {"errorMessages": ["Configuration problem."], "errors": {}}, NeedsAdminAction),
        (
            400,
            {"errorMessages": [], "errors": {"customfield_1": "Field cannot be set."}},
            NeedsAdminAction,
        ),
        (400, {"errorMessages": ["Error in the JQL Query."], "errors": {}}, ExternalServiceError),
        (404, {"errorMessages": ["Issue does not exist."], "errors": {}}, ExternalServiceError),
    ],
)
def test_statuses_map_to_error_classes(status: int, body: Any, expected: type) -> None:
    error = error_from_response(response(status, body), now=lambda: NOW)
    assert type(error) is expected
    assert error.service == "jira" and error.status == status


def test_message_carries_jira_error_messages_and_field_errors() -> None:
    error = error_from_response(
        response(
            400, {"errorMessages": ["Bad."], "errors": {"summary": "You must specify a summary."}}
        )
    )
    assert "Bad." in error.message and "summary: You must specify a summary." in error.message
    assert error.hint and "mapping" in error.hint


def test_429_reads_retry_after_and_rate_limit_reason() -> None:
    error = error_from_response(
        response(429, headers={"Retry-After": "7", "RateLimit-Reason": "jira-burst-based"}),
        now=lambda: NOW,
    )
    assert error.retry_after == 7
    assert error.code == "jira-burst-based"


def test_429_for_a_quota_reason_waits_until_the_reset_when_that_is_later() -> None:
    reset = datetime.fromtimestamp(NOW + 40 * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")
    error = error_from_response(
        response(
            429,
            headers={
                "Retry-After": "30",
                "RateLimit-Reason": "jira-quota-tenant-based",
                "X-RateLimit-Reset": reset,
            },
        ),
        now=lambda: NOW,
    )
    assert isinstance(error, VendorThrottled) and error.status_code == 429
    assert error.retry_after is not None and 39 * 60 < error.retry_after <= 40 * 60
    assert "hourly quota" in error.message


def test_429_for_the_burst_limit_ignores_the_reset() -> None:
    reset = datetime.fromtimestamp(NOW + 40 * 60, UTC).strftime("%Y-%m-%dT%H:%MZ")
    error = error_from_response(
        response(
            429,
            headers={
                "Retry-After": "7",
                "RateLimit-Reason": "jira-burst-based",
                "X-RateLimit-Reset": reset,
            },
        ),
        now=lambda: NOW,
    )
    assert error.retry_after == 7 and "burst limit" in error.message


def test_429_without_retry_after_still_waits() -> None:
    assert error_from_response(response(429)).retry_after == DEFAULT_THROTTLE_SECONDS


def test_503_with_an_http_date_retry_after() -> None:
    date = email.utils.formatdate(NOW + 120, usegmt=True)
    error = error_from_response(response(503, headers={"Retry-After": date}), now=lambda: NOW)
    assert error.retry_after == 120


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        (email.utils.formatdate(NOW + 60, usegmt=True), 60.0),
        (email.utils.formatdate(NOW - 60, usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=lambda: NOW) == expected


def test_non_json_error_bodies_are_quoted_not_crashed_on() -> None:
    request = httpx2.Request("GET", "https://acme.atlassian.net/rest/api/3/myself")
    error = error_from_response(
        httpx2.Response(502, text="<html>Bad gateway</html>", request=request)
    )
    assert isinstance(error, TransientExternalError)
    assert "Bad gateway" in error.message


@pytest.mark.parametrize(
    "exception",
    [
        httpx2.ConnectTimeout("slow"),
        httpx2.ReadTimeout("slow"),
        httpx2.ConnectError("refused"),
        httpx2.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_transport_failures_are_transient(exception: httpx2.TransportError) -> None:
    exception.request = httpx2.Request("GET", "https://acme.atlassian.net/rest/api/3/myself")
    error = error_from_transport(exception)
    assert isinstance(error, TransientExternalError)
    assert "/rest/api/3/myself" in error.message


def test_rate_limit_headers_are_read() -> None:
    state = JiraRateLimit.from_headers(
        httpx2.Headers(
            {
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "3",
                "X-RateLimit-NearLimit": "true",
                "X-Beta-RateLimit-Reason": "jira-quota-tenant-based",
                "X-RateLimit-Reset": "2026-11-28T16:00Z",
            }
        )
    )
    assert state == JiraRateLimit(
        retry_after=None,
        reason="jira-quota-tenant-based",
        limit=100,
        remaining=3,
        near_limit=True,
        reset="2026-11-28T16:00Z",
    )


def test_403_captcha_challenge_is_a_login_problem() -> None:
    error = error_from_response(
        response(403, headers={"x-authentication-denied-reason": "CAPTCHA_CHALLENGE; login-url=x"})
    )
    assert isinstance(error, NeedsAdminAction)
    assert error.code and error.code.startswith("CAPTCHA_CHALLENGE")
    assert error.hint and "CAPTCHA" in error.hint


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.integers(min_value=400, max_value=599), json_values)
def test_any_error_body_is_classified_without_crashing(status: int, body: Any) -> None:
    error = error_from_response(response(status, body if body is not None else {}))
    assert isinstance(error, ExternalServiceError)
    assert error.status == status


@given(st.binary(max_size=200))
def test_any_error_bytes_are_classified_without_crashing(content: bytes) -> None:
    request = httpx2.Request("GET", "https://acme.atlassian.net/rest/api/3/myself")
    error = error_from_response(httpx2.Response(500, content=content, request=request))
    assert isinstance(error, TransientExternalError)
