"""Authentication to Jira Cloud: API-token basic auth, and OAuth 2.0 (3LO) with rotating tokens.

Both are ``httpx2.Auth`` flows, so the same :class:`~forcebridge.jira.client.JiraClient` works with
either. OAuth 3LO specifics (api-contracts §A.1):

- ``POST https://auth.atlassian.com/oauth/token`` takes a **JSON** body (not a form) and answers
  ``{"access_token", "expires_in", "refresh_token"?}``.
- Refresh tokens **rotate**: every refresh may return a new one and invalidates the old, so the new
  one is handed to ``on_refresh_token_rotated`` (which stores it) *before* the new access token is
  used. If storing fails, the access token is thrown away: a token we could not persist would leave
  the connection unrecoverable after a restart.
- One refresh at a time (a lock): two threads refreshing with the same rotating token would make the
  second one fail with ``invalid_grant``.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Generator

import httpx2

from forcebridge.errors import NeedsAdminAction
from forcebridge.http import BearerRetryAuth
from forcebridge.jira.errors import SERVICE, error_from_response, error_from_transport

# Refresh this long before the access token's announced expiry, so a request never leaves with a
# token that dies in flight.
EXPIRY_MARGIN_SECONDS = 60.0
# Atlassian access tokens last an hour; assume so when ``expires_in`` is missing.
DEFAULT_EXPIRES_IN_SECONDS = 3600.0

TokenFlow = Generator[httpx2.Request, httpx2.Response, None]


class JiraBasicAuth(httpx2.Auth):
    """``Authorization: Basic base64(email:api_token)`` (Jira Cloud API tokens)."""

    def __init__(self, email: str, api_token: str) -> None:
        credentials = f"{email}:{api_token}".encode()
        self._header = "Basic " + base64.b64encode(credentials).decode("ascii")
        self.email = email

    def auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return f"JiraBasicAuth(email={self.email!r}, api_token=<redacted>)"


class JiraOAuth(BearerRetryAuth):
    """Bearer tokens from Atlassian's OAuth 2.0 (3LO) refresh-token grant.

    The access token is refreshed when it is about to expire and once when Jira answers 401 (the
    request is then retried once). Token requests go through ``http`` when given, otherwise through
    the client that carries this auth (as extra requests of the same auth flow).
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        on_refresh_token_rotated: Callable[[str], None],
        http: httpx2.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._on_refresh_token_rotated = on_refresh_token_rotated
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.refresh_count = 0

    @property
    def refresh_token(self) -> str:
        """The current (possibly rotated) refresh token."""
        return self._refresh_token

    def _token(self, *, rejected: str | None) -> Generator[httpx2.Request, httpx2.Response, str]:
        # A threading lock guards the refresh: meant for the synchronous httpx2.Client we use.
        with self._lock:
            still_current = rejected is not None and rejected == self._access_token
            expired = self._access_token is None or self._clock() >= self._expires_at
            if still_current or expired:
                yield from self._refresh()
            assert self._access_token is not None
            return self._access_token

    def _refresh(self) -> Generator[httpx2.Request, httpx2.Response, None]:
        token_request = httpx2.Request(
            "POST",
            self._token_url,
            json={
                "grant_type": "refresh_token",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
                "refresh_token": self._refresh_token,
            },
            headers={"Accept": "application/json"},
        )
        if self._http is not None:
            try:
                response = self._http.send(token_request)
            except httpx2.TransportError as exc:
                raise error_from_transport(exc) from None
        else:
            response = yield token_request
        response.read()
        if response.status_code in (400, 401, 403):
            raise _grant_error(response)
        if response.is_error:
            raise error_from_response(response)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise NeedsAdminAction(
                "Atlassian's token endpoint answered without an access token.",
                service=SERVICE,
                status=response.status_code,
                hint="Check the OAuth token URL of the connection.",
            )
        new_refresh_token = payload.get("refresh_token")
        if isinstance(new_refresh_token, str) and new_refresh_token != self._refresh_token:
            # Persist first: if this raises, the new access token is never used.
            self._on_refresh_token_rotated(new_refresh_token)
            self._refresh_token = new_refresh_token
        expires_in = payload.get("expires_in")
        lifetime = (
            float(expires_in)
            if isinstance(expires_in, int | float) and expires_in > 0
            else DEFAULT_EXPIRES_IN_SECONDS
        )
        self._access_token = payload["access_token"]
        self._expires_at = self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)
        self.refresh_count += 1

    def __repr__(self) -> str:
        return f"JiraOAuth(token_url={self._token_url!r}, client_id={self._client_id!r})"


def _grant_error(response: httpx2.Response) -> NeedsAdminAction:
    """``invalid_grant`` and friends: the refresh token is revoked, expired or already used."""
    code: str | None = None
    description = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("error") if isinstance(body.get("error"), str) else None
        description = str(body.get("error_description") or "")
    text = ": ".join(part for part in (code, description) if part) or f"HTTP {response.status_code}"
    return NeedsAdminAction(
        f"Atlassian refused to refresh the OAuth token ({text}).",
        service=SERVICE,
        status=response.status_code,
        code=code,
        hint="Reconnect the Jira OAuth app (Connections → Jira → Reconnect) to grant a new "
        "refresh token; check the client id and secret.",
    )
