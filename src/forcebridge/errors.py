"""The one error hierarchy of ForceBridge.

Services raise these; only the edges (FastAPI exception handlers in ``api/errors.py``, the CLI's
top-level handler) turn them into HTTP responses or exit codes. Every error carries a message a
person can act on and, where one exists, a ``hint`` that says how to fix it.

    ForceBridgeError               500, exit 1  a bug: logged with its traceback
    ├── InvalidInput               400, exit 2  bad request shape or value
    │   └── ValidationFailed       422, exit 2  well-formed but not acceptable (out of bounds)
    ├── Unauthenticated            401, exit 3  missing/expired/revoked/tampered credentials
    ├── Forbidden                  403, exit 3  authenticated, but this action is not allowed
    ├── NotFound                   404, exit 4  absent, or belongs to another connection
    ├── Conflict                   409, exit 5  already exists / state does not allow it
    ├── PayloadTooLarge            413, exit 2
    ├── RateLimited                429, exit 6  carries ``retry_after`` seconds
    ├── ServiceUnavailable         503, exit 6  our own dependency (database, queue) is down
    ├── ConfigurationError              exit 7  ForceBridge itself is misconfigured (no secret key)
    └── ExternalServiceError       502, exit 8  Jira or Salesforce answered with a failure
        ├── TransientExternalError 503, exit 6  retry with backoff (5xx, timeouts, drops)
        │   └── VendorThrottled    429, exit 6  the vendor's rate limit: wait ``retry_after``, no
        │                                       attempt spent (a 429, or held back unsent)
        └── NeedsAdminAction       502, exit 8  credentials, permissions, missing fields: no retry
"""

from __future__ import annotations

from typing import Any


class ForceBridgeError(Exception):
    """Base of every error ForceBridge raises on purpose."""

    status_code: int = 500
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: dict[str, Any] | list[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details


class InvalidInput(ForceBridgeError):
    status_code = 400
    exit_code = 2


class ValidationFailed(InvalidInput):
    status_code = 422


class Unauthenticated(ForceBridgeError):
    status_code = 401
    exit_code = 3


class Forbidden(ForceBridgeError):
    status_code = 403
    exit_code = 3


class NotFound(ForceBridgeError):
    status_code = 404
    exit_code = 4


class Conflict(ForceBridgeError):
    status_code = 409
    exit_code = 5


class PayloadTooLarge(ForceBridgeError):
    status_code = 413
    exit_code = 2


class RateLimited(ForceBridgeError):
    status_code = 429
    exit_code = 6

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(ForceBridgeError):
    status_code = 503
    exit_code = 6


class ConfigurationError(ForceBridgeError):
    exit_code = 7


class ExternalServiceError(ForceBridgeError):
    """Jira or Salesforce answered with a failure (or could not be reached).

    ``service`` is ``"jira"`` or ``"salesforce"``; ``status`` the HTTP status (None when there was
    no response); ``code`` the vendor's error code when it gave one (``INVALID_SESSION_ID``...).
    """

    status_code = 502
    exit_code = 8
    transient = False

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.service = service
        self.status = status
        self.code = code
        self.retry_after = retry_after


class TransientExternalError(ExternalServiceError):
    """Worth retrying later: throttling, 5xx, timeouts, dropped connections."""

    status_code = 503
    exit_code = 6
    transient = True


class VendorThrottled(TransientExternalError):
    """The vendor rate-limits us: nothing is wrong with the work, it must wait ``retry_after``.

    Raised for a vendor's 429 and when ForceBridge held a request back, unsent, because an
    earlier 429 still applies. Jobs wait without spending an attempt (an hour-long quota pause
    must not dead-letter work); people get a 429 with ``Retry-After``.
    """

    status_code = 429


class NeedsAdminAction(ExternalServiceError):
    """Retrying will not help until a person fixes something (credentials, permission, mapping)."""
