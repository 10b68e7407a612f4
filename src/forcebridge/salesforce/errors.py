"""Turning Salesforce's failures into ForceBridge errors, and reading ``Sforce-Limit-Info``.

REST errors are a JSON **array** ``[{"message", "errorCode", "fields"?}]`` (api-contracts §B.8);
the OAuth token endpoint answers ``{"error", "error_description"}`` (§B.2). The classification:

- :class:`~forcebridge.errors.TransientExternalError`: 5xx, 429, ``UNABLE_TO_LOCK_ROW``, timeouts,
  dropped connections; and ``REQUEST_LIMIT_EXCEEDED``. The daily quota (``TotalRequests``) is a
  rolling 24-hour window with no ``Retry-After``, so it comes with a long ``retry_after``
  (:data:`DAILY_LIMIT_BACKOFF_SECONDS`): retrying soon only burns what is left for people.
- :class:`~forcebridge.errors.NeedsAdminAction`: 401 (a session still refused after
  re-authentication), 403 without a limit code, unknown fields and objects, field-level security,
  validation rules, required fields, restricted picklists, disabled API, and every token-endpoint
  refusal (``invalid_grant``, ``invalid_client``...). Each carries a hint.
- :class:`~forcebridge.errors.ExternalServiceError`: anything else (404, malformed query, ...).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx2

from forcebridge.errors import ExternalServiceError, NeedsAdminAction, TransientExternalError
from forcebridge.jira.errors import parse_retry_after

SERVICE = "salesforce"

# REQUEST_LIMIT_EXCEEDED for the daily quota: usage only drops as the 24-hour window rolls on.
DAILY_LIMIT_BACKOFF_SECONDS = 3600.0
# REQUEST_LIMIT_EXCEEDED for concurrent long-running requests clears in seconds.
CONCURRENCY_LIMIT_BACKOFF_SECONDS = 30.0
MAX_MESSAGE_LENGTH = 500

# The org-wide figure only: "per-app-api-usage=" also ends in "api-usage=".
_API_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")

_TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "REQUEST_RUNNING_TOO_LONG"}

_ADMIN_HINTS = {
    "INVALID_FIELD": "A mapped field does not exist or is not visible to the integration user: "
    "fix the mapping or the field-level security.",
    "INVALID_TYPE": "The Salesforce object does not exist or is not visible to the integration "
    "user: check the binding's object name and the user's profile.",
    "INVALID_FIELD_FOR_INSERT_UPDATE": "A mapped field is read-only for the integration user: "
    "remove it from the push mapping or grant edit access.",
    "REQUIRED_FIELD_MISSING": "Map a value to the required Salesforce field.",
    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": "Map the Jira value to one of the picklist's "
    "values.",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "A Salesforce validation rule rejected the values: "
    "adjust the mapping or the rule.",
    "FIELD_INTEGRITY_EXCEPTION": "A mapped value is not acceptable for its field (type or "
    "reference).",
    "STRING_TOO_LONG": "A mapped text is longer than the Salesforce field allows.",
    "INSUFFICIENT_ACCESS": "Grant the integration user access to this object or record.",
    "INSUFFICIENT_ACCESS_OR_READONLY": "Grant the integration user edit access to the record.",
    "INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY": "Grant the integration user access to the "
    "related record.",
    "API_DISABLED_FOR_ORG": "Enable API access for the org (it needs an edition with the API).",
    "API_CURRENTLY_DISABLED": "Enable the 'API Enabled' permission for the integration user.",
    "INVALID_SESSION_ID": "Reconnect Salesforce: the session was refused even after signing in "
    "again.",
}


def parse_api_usage(header: str | None) -> tuple[int, int] | None:
    """``(used, max)`` from ``Sforce-Limit-Info: api-usage=18/5000; per-app-api-usage=...``."""
    if not header:
        return None
    match = _API_USAGE.search(header)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2))


def error_codes(response: httpx2.Response) -> list[tuple[str, str]]:
    """``(errorCode, message)`` pairs of a Salesforce error body (an array, or one object)."""
    try:
        body = response.json()
    except ValueError:
        snippet = response.text.strip()[:MAX_MESSAGE_LENGTH]
        return [("", snippet)] if snippet else []
    items = body if isinstance(body, list) else [body]
    pairs: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, dict):
            code = item.get("errorCode") or item.get("statusCode") or item.get("error") or ""
            message = item.get("message") or item.get("error_description") or ""
            pairs.append((str(code), str(message)))
    return pairs


def error_from_response(
    response: httpx2.Response, *, now: Callable[[], float] = time.time
) -> ExternalServiceError:
    """The ForceBridge error for a non-2xx Salesforce REST response (the caller raises it)."""
    status = response.status_code
    pairs = error_codes(response)
    codes = [code for code, _ in pairs if code]
    code = codes[0] if codes else None
    text = "; ".join(f"{c}: {m}" if c else m for c, m in pairs)[:MAX_MESSAGE_LENGTH]
    text = text or f"HTTP {status}"
    where = f"{response.request.method} {response.request.url.path}"
    details: dict[str, Any] = {"errors": [{"errorCode": c, "message": m} for c, m in pairs]}
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)

    if "REQUEST_LIMIT_EXCEEDED" in codes:
        concurrent = any("concurrent" in message.lower() for _, message in pairs)
        backoff = CONCURRENCY_LIMIT_BACKOFF_SECONDS if concurrent else DAILY_LIMIT_BACKOFF_SECONDS
        return TransientExternalError(
            f"Salesforce refused {where}: the org is over an API limit ({text})",
            service=SERVICE,
            status=status,
            code="REQUEST_LIMIT_EXCEEDED",
            retry_after=retry_after if retry_after is not None else backoff,
            hint=None
            if concurrent
            else "The org's daily API quota is used up; ForceBridge "
            "waits for it to roll over. Raise the org's limit or lower other integrations' usage.",
            details=details,
        )
    if status >= 500 or status == 429 or (code in _TRANSIENT_CODES):
        return TransientExternalError(
            f"Salesforce is unavailable ({status}) on {where}: {text}",
            service=SERVICE,
            status=status,
            code=code,
            retry_after=retry_after,
            details=details,
        )
    admin_code = next((c for c in codes if c in _ADMIN_HINTS), None)
    if status in (401, 403) or admin_code is not None:
        hint = _ADMIN_HINTS.get(admin_code or "") or (
            "Reconnect Salesforce and check the integration user's credentials."
            if status == 401
            else "Grant the integration user the permission this action needs."
        )
        return NeedsAdminAction(
            f"Salesforce refused {where}: {text}",
            service=SERVICE,
            status=status,
            code=admin_code or code,
            hint=hint,
            details=details,
        )
    return ExternalServiceError(
        f"Salesforce answered {status} to {where}: {text}",
        service=SERVICE,
        status=status,
        code=code,
        details=details,
    )


def error_from_token_response(response: httpx2.Response) -> ExternalServiceError:
    """The error for a failed ``/services/oauth2/token`` call (``{"error", "error_description"}``).

    Token refusals (``invalid_grant``, ``invalid_client``) need a person; 5xx are transient.
    """
    status = response.status_code
    if status >= 500 or status == 429:
        return error_from_response(response)
    error = ""
    description = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = str(body.get("error") or "")
        description = str(body.get("error_description") or "")
    text = ": ".join(part for part in (error, description) if part) or f"HTTP {status}"
    lowered = description.lower()
    if "approved" in lowered or "not approved" in lowered:
        hint = (
            "Pre-authorize the integration user for the connected app (Manage Connected Apps → "
            "Profiles or Permission Sets), and upload the certificate for JWT sign-in."
        )
    elif error == "invalid_client" or error == "invalid_client_id":
        hint = "Check the connected app's consumer key and secret in the connection."
    elif "expired" in lowered or "revoked" in lowered:
        hint = "Reconnect Salesforce: the refresh token was revoked or expired."
    else:
        hint = "Check the Salesforce connection's login URL, user and connected-app settings."
    return NeedsAdminAction(
        f"Salesforce refused to sign in ({text})",
        service=SERVICE,
        status=status,
        code=error or None,
        hint=hint,
    )


def error_from_transport(exc: httpx2.TransportError) -> TransientExternalError:
    """Timeouts, refused or dropped connections: always worth retrying later."""
    kind = "timed out" if isinstance(exc, httpx2.TimeoutException) else "failed"
    try:
        where = f" ({exc.request.method} {exc.request.url.path})"
    except RuntimeError:  # raised before a request was attached
        where = ""
    return TransientExternalError(
        f"The connection to Salesforce {kind}{where}: {type(exc).__name__}",
        service=SERVICE,
    )
