"""Classification of Salesforce failures, and reading Sforce-Limit-Info."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.errors import ExternalServiceError, NeedsAdminAction, TransientExternalError
from forcebridge.salesforce.errors import (
    CONCURRENCY_LIMIT_BACKOFF_SECONDS,
    DAILY_LIMIT_BACKOFF_SECONDS,
    error_from_response,
    error_from_token_response,
    error_from_transport,
    parse_api_usage,
)


def response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx2.Response:
    request = httpx2.Request(
        "PATCH", "https://acme.my.salesforce.com/services/data/v62.0/sobjects/Case/500A"
    )
    return httpx2.Response(status, json=body, headers=headers, request=request)


def sf_error(code: str, message: str = "message") -> list[dict[str, str]]:
    return [{"errorCode": code, "message": message}]


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, sf_error("UNKNOWN_EXCEPTION"), TransientExternalError),
        (503, sf_error("SERVER_UNAVAILABLE"), TransientExternalError),
        (
            400,
            sf_error("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access"),
            TransientExternalError,
        ),
        (401, sf_error("INVALID_SESSION_ID", "Session expired or invalid"), NeedsAdminAction),
        (403, sf_error("INSUFFICIENT_ACCESS"), NeedsAdminAction),
        (
            400,
            sf_error("INVALID_FIELD", "No such column 'Foo__c' on entity 'Case'"),
            NeedsAdminAction,
        ),
        (400, sf_error("INVALID_TYPE"), NeedsAdminAction),
        (400, sf_error("REQUIRED_FIELD_MISSING"), NeedsAdminAction),
        (400, sf_error("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"), NeedsAdminAction),
        (400, sf_error("FIELD_CUSTOM_VALIDATION_EXCEPTION"), NeedsAdminAction),
        (400, sf_error("MALFORMED_QUERY"), ExternalServiceError),
        (404, sf_error("NOT_FOUND", "The requested resource does not exist"), ExternalServiceError),
    ],
)
def test_statuses_and_codes_map_to_error_classes(status: int, body: Any, expected: type) -> None:
    error = error_from_response(response(status, body))
    assert type(error) is expected
    assert error.service == "salesforce" and error.status == status


def test_admin_errors_carry_the_vendor_text_and_a_hint() -> None:
    error = error_from_response(
        response(400, sf_error("INVALID_FIELD", "No such column 'Foo__c' on entity 'Case'"))
    )
    assert error.code == "INVALID_FIELD"
    assert "No such column 'Foo__c'" in error.message
    assert error.hint and "mapping" in error.hint


def test_daily_request_limit_is_transient_with_a_long_wait() -> None:
    error = error_from_response(
        response(403, sf_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."))
    )
    assert isinstance(error, TransientExternalError)
    assert error.code == "REQUEST_LIMIT_EXCEEDED"
    assert error.retry_after == DAILY_LIMIT_BACKOFF_SECONDS


def test_concurrent_request_limit_is_transient_with_a_short_wait() -> None:
    error = error_from_response(
        response(403, sf_error("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."))
    )
    assert isinstance(error, TransientExternalError)
    assert error.retry_after == CONCURRENCY_LIMIT_BACKOFF_SECONDS


def test_retry_after_is_honoured_when_salesforce_sends_one() -> None:
    error = error_from_response(
        response(503, sf_error("SERVER_UNAVAILABLE"), {"Retry-After": "12"})
    )
    assert error.retry_after == 12


def test_collection_item_errors_use_status_code() -> None:
    error = error_from_response(response(400, {"statusCode": "INVALID_FIELD", "message": "bad"}))
    assert isinstance(error, NeedsAdminAction)


@pytest.mark.parametrize(
    ("body", "code", "hint_word"),
    [
        (
            {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
            "invalid_grant",
            "Pre-authorize",
        ),
        (
            {"error": "invalid_grant", "error_description": "expired access/refresh token"},
            "invalid_grant",
            "Reconnect",
        ),
        (
            {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            "invalid_client_id",
            "consumer key",
        ),
        (
            {"error": "invalid_grant", "error_description": "authentication failure"},
            "invalid_grant",
            "login URL",
        ),
    ],
)
def test_token_refusals_need_admin_action(body: dict[str, str], code: str, hint_word: str) -> None:
    request = httpx2.Request("POST", "https://login.salesforce.com/services/oauth2/token")
    error = error_from_token_response(httpx2.Response(400, json=body, request=request))
    assert isinstance(error, NeedsAdminAction)
    assert error.code == code
    assert error.hint and hint_word in error.hint


def test_token_endpoint_outage_is_transient() -> None:
    request = httpx2.Request("POST", "https://login.salesforce.com/services/oauth2/token")
    error = error_from_token_response(httpx2.Response(503, text="down", request=request))
    assert isinstance(error, TransientExternalError)


def test_transport_failures_are_transient() -> None:
    exception = httpx2.ReadTimeout(
        "slow", request=httpx2.Request("GET", "https://acme.my.salesforce.com/x")
    )
    assert isinstance(error_from_transport(exception), TransientExternalError)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("api-usage=18/5000", (18, 5000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=sample-connected-app)", (25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_api_usage(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_api_usage(header) == expected


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["errorCode", "statusCode", "message", "error", "error_description", "fields"]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(st.integers(min_value=400, max_value=599), json_values)
def test_any_error_body_is_classified_without_crashing(status: int, body: Any) -> None:
    error = error_from_response(response(status, body))
    assert isinstance(error, ExternalServiceError)
    token_error = error_from_token_response(response(status, body))
    assert isinstance(token_error, ExternalServiceError)
