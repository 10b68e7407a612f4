"""Turning Jira Cloud's failures into ForceBridge errors, and reading its rate-limit headers.

Every non-2xx response and every transport failure from Jira goes through
:func:`error_from_response` or :func:`error_from_transport`, which pick one class of
:mod:`forcebridge.errors`:

- :class:`~forcebridge.errors.VendorThrottled` (a transient error): 429, waiting ``Retry-After``
  (:func:`throttle_wait_seconds`: for the quota reasons until ``X-RateLimit-Reset`` when later).
- :class:`~forcebridge.errors.TransientExternalError`: 409 (Jira's "conflicting update"), 5xx
  (``retry_after`` from ``Retry-After`` when given), timeouts and dropped connections.
- :class:`~forcebridge.errors.NeedsAdminAction`: 401 (after any re-authentication), 403, 413
  (per-issue limits), 422 (Jira configuration problem) and 400s that name a field (a field missing
  from a screen, a required field): a person has to fix credentials, permissions or the mapping.
- :class:`~forcebridge.errors.ExternalServiceError`: anything else (404, malformed JQL...).

Messages carry Jira's own ``errorMessages``/``errors`` text (ErrorCollection, api-contracts §A.2),
never request headers or credentials.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx2

from forcebridge.errors import (
    ExternalServiceError,
    NeedsAdminAction,
    TransientExternalError,
    VendorThrottled,
)

SERVICE = "jira"

# ``RateLimit-Reason`` values (api-contracts §A.10): which of Jira's three limits was hit.
BURST_REASON = "jira-burst-based"  # per tenant + endpoint + method
PER_ISSUE_REASON = "jira-per-issue-on-write"  # writes to one issue
QUOTA_REASONS = frozenset({"jira-quota-tenant-based", "jira-quota-global-based"})  # whole app

# When Jira throttles without saying for how long, wait at least this much before the next attempt.
DEFAULT_THROTTLE_SECONDS = 10.0
MAX_MESSAGE_LENGTH = 500


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from ``Retry-After``: delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    Returns None when the header is absent or unreadable; a date in the past gives 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # RFC 9110 dates are always GMT
            return None
        seconds = moment.timestamp() - now()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinity: unreadable
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class JiraRateLimit:
    """What the last Jira response said about throttling (api-contracts §A.10)."""

    retry_after: float | None
    reason: str | None
    limit: int | None
    remaining: int | None
    near_limit: bool
    reset: str | None

    @classmethod
    def from_headers(
        cls, headers: httpx2.Headers, *, now: Callable[[], float] = time.time
    ) -> JiraRateLimit:
        # ``RateLimit-Reason`` was first shipped as ``X-Beta-RateLimit-Reason``; both are seen.
        reason = headers.get("RateLimit-Reason") or headers.get("X-Beta-RateLimit-Reason")
        return cls(
            retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
            reason=reason,
            limit=_int_or_none(headers.get("X-RateLimit-Limit")),
            remaining=_int_or_none(headers.get("X-RateLimit-Remaining")),
            near_limit=headers.get("X-RateLimit-NearLimit", "").lower() == "true",
            reset=headers.get("X-RateLimit-Reset"),
        )

    def seconds_until_reset(self, *, now: Callable[[], float] = time.time) -> float | None:
        """Seconds until ``X-RateLimit-Reset`` (ISO 8601: ``2026-11-28T16:00Z``), or None."""
        if not self.reset:
            return None
        try:
            moment = datetime.fromisoformat(self.reset.strip())
        except ValueError:
            return None
        if moment.tzinfo is None:  # Jira always sends UTC ("Z"); a zoneless time is not trusted
            return None
        return max(0.0, moment.timestamp() - now())


def throttle_wait_seconds(
    rate_limit: JiraRateLimit, *, now: Callable[[], float] = time.time
) -> float:
    """How long a 429 says to wait: ``Retry-After``; for the quota reasons the reset when later
    (the quota stays spent until then, whatever ``Retry-After`` says); else a default pause."""
    wait = rate_limit.retry_after
    if rate_limit.reason in QUOTA_REASONS:
        until_reset = rate_limit.seconds_until_reset(now=now)
        if until_reset is not None and (wait is None or until_reset > wait):
            wait = until_reset
    return DEFAULT_THROTTLE_SECONDS if wait is None else wait


def error_from_response(
    response: httpx2.Response, *, now: Callable[[], float] = time.time
) -> ExternalServiceError:
    """The ForceBridge error for a non-2xx Jira response (the caller raises it)."""
    status = response.status_code
    messages, field_errors = _error_texts(response)
    text = _join(messages, field_errors) or f"HTTP {status}"
    where = f"{response.request.method} {response.request.url.path}"
    details: dict[str, Any] = {"errorMessages": messages, "errors": field_errors}

    if status == 429:
        rate_limit = JiraRateLimit.from_headers(response.headers, now=now)
        if rate_limit.reason:
            details["rateLimitReason"] = rate_limit.reason
        wait = throttle_wait_seconds(rate_limit, now=now)
        return VendorThrottled(
            f"Jira throttled {where}: {limit_description(rate_limit.reason)} was reached; "
            f"Jira asks to wait {round(wait)} s. ({text})",
            service=SERVICE,
            status=status,
            code=rate_limit.reason,
            retry_after=wait,
            hint="Nothing to fix: background work waits and resumes by itself; "
            "try a manual sync again after the wait.",
            details=details,
        )
    if status >= 500:
        rate_limit = JiraRateLimit.from_headers(response.headers, now=now)
        retry_after = rate_limit.retry_after
        reason = rate_limit.reason
        if reason:
            details["rateLimitReason"] = reason
        return TransientExternalError(
            f"Jira is unavailable ({status}) on {where}: {text}",
            service=SERVICE,
            status=status,
            code=reason,
            retry_after=retry_after,
            details=details,
        )
    if status == 409:
        return TransientExternalError(
            f"Jira reported a conflicting update on {where}: {text}",
            service=SERVICE,
            status=status,
            details=details,
        )
    if status == 401:
        # x-authentication-denied-reason says why Jira refused the login, when it says.
        reason = response.headers.get("x-authentication-denied-reason")
        return NeedsAdminAction(
            f"Jira rejected the credentials on {where}: {text}",
            service=SERVICE,
            status=status,
            code=reason,
            hint="Check the connection's Jira e-mail and API token (or reconnect the OAuth app).",
            details=details,
        )
    if status == 403:
        # A 403 with this header is a login refusal (CAPTCHA after failed logins), not a permission.
        denied = response.headers.get("x-authentication-denied-reason")
        if denied:
            return NeedsAdminAction(
                f"Jira refused the login on {where} ({denied}): {text}",
                service=SERVICE,
                status=status,
                code=denied,
                hint="Sign in to Jira once in a browser as the connection's user to clear the "
                "CAPTCHA, then check the API token.",
                details=details,
            )
        return NeedsAdminAction(
            f"Jira refused {where}: {text}",
            service=SERVICE,
            status=status,
            hint="Give the Jira user of this connection the project permission it needs "
            "(Browse, Create, Edit, Transition, Add comments or Create attachments).",
            details=details,
        )
    if status == 413:
        return NeedsAdminAction(
            f"Jira refused {where} because a size or per-issue limit was reached: {text}",
            service=SERVICE,
            status=status,
            hint="Remove old comments or attachments from the issue, or sync a smaller file.",
            details=details,
        )
    if status == 422 or (status == 400 and field_errors):
        return NeedsAdminAction(
            f"Jira did not accept {where}: {text}",
            service=SERVICE,
            status=status,
            hint="Check the field mapping: the named Jira fields must exist, be on the "
            "create/edit screen of the project and issue type, and accept the mapped values.",
            details=details,
        )
    return ExternalServiceError(
        f"Jira answered {status} to {where}: {text}",
        service=SERVICE,
        status=status,
        details=details,
    )


def limit_description(reason: str | None) -> str:
    """Which of Jira's limits a ``RateLimit-Reason`` names, in words."""
    if reason == BURST_REASON:
        return f"the per-endpoint burst limit ({reason})"
    if reason == PER_ISSUE_REASON:
        return f"the per-issue write limit ({reason})"
    if reason in QUOTA_REASONS:
        return f"the site's hourly quota for this app ({reason})"
    return f"a rate limit ({reason})" if reason else "a rate limit"


def error_from_transport(exc: httpx2.TransportError) -> TransientExternalError:
    """Timeouts, refused or dropped connections: always worth retrying later."""
    kind = "timed out" if isinstance(exc, httpx2.TimeoutException) else "failed"
    where = ""
    try:
        where = f" ({exc.request.method} {exc.request.url.path})"
    except RuntimeError:  # the exception was raised before a request was attached
        where = ""
    return TransientExternalError(
        f"The connection to Jira {kind}{where}: {type(exc).__name__}",
        service=SERVICE,
    )


def _error_texts(response: httpx2.Response) -> tuple[list[str], dict[str, str]]:
    """``errorMessages`` and ``errors`` of a Jira ErrorCollection, tolerating other shapes."""
    try:
        body = response.json()
    except ValueError:
        snippet = response.text.strip()[:MAX_MESSAGE_LENGTH]
        return ([snippet] if snippet else []), {}
    messages: list[str] = []
    field_errors: dict[str, str] = {}
    if isinstance(body, dict):
        raw_messages = body.get("errorMessages")
        if isinstance(raw_messages, list):
            messages.extend(str(message) for message in raw_messages)
        raw_errors = body.get("errors")
        if isinstance(raw_errors, dict):
            field_errors = {str(key): str(value) for key, value in raw_errors.items()}
        elif isinstance(raw_errors, list):  # POST /issue/bulk: a BulkOperationErrorResult each
            for item in raw_errors:
                element = item.get("elementErrors") if isinstance(item, dict) else None
                if isinstance(element, dict):
                    texts = [str(text) for text in element.get("errorMessages") or []]
                    texts += [f"{k}: {v}" for k, v in (element.get("errors") or {}).items()]
                    messages.append(f"item {item.get('failedElementNumber')}: {'; '.join(texts)}")
        # Some gateways (and the OAuth endpoints) use ``message`` / ``errorMessage`` instead.
        for key in ("message", "errorMessage", "error_description"):
            if isinstance(body.get(key), str):
                messages.append(body[key])
    return messages, field_errors


def _join(messages: list[str], field_errors: dict[str, str]) -> str:
    parts = list(messages) + [f"{field}: {text}" for field, text in field_errors.items()]
    return "; ".join(parts)[:MAX_MESSAGE_LENGTH]


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None
