"""Signing in to Salesforce: OAuth 2.0 grants and an ``httpx2.Auth`` that keeps a session alive.

Three grants (api-contracts §B.2), each a form POST to ``/services/oauth2/token``:

- :class:`JwtBearerGrant`: an RS256 assertion signed with the connected app's certificate key
  (server-to-server, no stored secret besides the key); no refresh token.
- :class:`RefreshTokenGrant`: a refresh token from the web-server flow. With refresh-token rotation
  on, every refresh returns a new one and kills the old, so the new one is persisted through
  ``on_refresh_token_rotated`` *before* the new access token is used.
- :class:`ClientCredentialsGrant`: client id and secret of an app with a run-as user; it must use
  the org's My Domain token URL, not login.salesforce.com.

Salesforce access tokens carry no expiry (the org's session timeout applies), so
:class:`SalesforceAuth` signs in lazily and again only when a call answers 401
``INVALID_SESSION_ID``: once, then it retries that call once. It never signs in again on 403
``REQUEST_LIMIT_EXCEEDED`` (a new session does not raise the quota). Sign-ins are single-flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx2
import jwt

from forcebridge.errors import ConfigurationError, InvalidInput, NeedsAdminAction
from forcebridge.http import BearerRetryAuth
from forcebridge.salesforce.errors import SERVICE, error_from_token_response, error_from_transport

TOKEN_PATH = "/services/oauth2/token"
# Salesforce accepts JWT assertions that expire within 3 minutes.
JWT_LIFETIME_SECONDS = 180


class Grant(Protocol):
    """One way of obtaining an access token."""

    @property
    def token_url(self) -> str: ...

    def form(self, now: float) -> dict[str, str]:
        """The form fields of the token request at wall-clock time ``now``."""
        ...

    def accept(self, payload: dict[str, Any]) -> None:
        """Take what the grant needs from a successful token response (a rotated token...)."""
        ...


@dataclass(frozen=True)
class JwtBearerGrant:
    """OAuth 2.0 JWT bearer flow: ``iss`` consumer key, ``sub`` username, ``aud`` login URL."""

    login_url: str
    client_id: str
    username: str
    private_key_pem: str = field(repr=False)
    audience: str | None = None

    @property
    def token_url(self) -> str:
        return self.login_url.rstrip("/") + TOKEN_PATH

    def form(self, now: float) -> dict[str, str]:
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            # The audience is the login host (login/test.salesforce.com or the community URL),
            # even when the token request goes to My Domain.
            "aud": self.audience or self.login_url.rstrip("/"),
            "exp": int(now) + JWT_LIFETIME_SECONDS,
        }
        try:
            assertion = jwt.encode(claims, self.private_key_pem, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise NeedsAdminAction(
                f"The Salesforce JWT private key cannot sign ({type(exc).__name__}).",
                service=SERVICE,
                hint="Paste the PEM private key matching the connected app's certificate.",
            ) from None
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}

    def accept(self, payload: dict[str, Any]) -> None:
        """JWT bearer responses carry nothing to keep besides the access token."""


class RefreshTokenGrant:
    """OAuth 2.0 refresh-token grant, with rotation support."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | None,
        refresh_token: str,
        on_refresh_token_rotated: Callable[[str], None],
    ) -> None:
        self._token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.refresh_token = refresh_token
        self._on_refresh_token_rotated = on_refresh_token_rotated

    @property
    def token_url(self) -> str:
        return self._token_url

    def form(self, now: float) -> dict[str, str]:
        fields = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "refresh_token": self.refresh_token,
        }
        # Optional per connected-app setting ("Require Secret for Refresh Token Flow").
        if self._client_secret:
            fields["client_secret"] = self._client_secret
        return fields

    def accept(self, payload: dict[str, Any]) -> None:
        rotated = payload.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self.refresh_token:
            # Persist first: if this raises, the caller never uses the new access token.
            self._on_refresh_token_rotated(rotated)
            self.refresh_token = rotated

    def __repr__(self) -> str:
        return f"RefreshTokenGrant(token_url={self._token_url!r}, client_id={self.client_id!r})"


@dataclass(frozen=True)
class ClientCredentialsGrant:
    """OAuth 2.0 client-credentials flow (run-as integration user; My Domain token URL only)."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)

    def form(self, now: float) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }

    def accept(self, payload: dict[str, Any]) -> None:
        """Client-credentials responses carry nothing to keep besides the access token."""


class SalesforceAuth(BearerRetryAuth):
    """Bearer session for Salesforce REST calls, signing in with ``grant`` when needed.

    Token requests go through ``http`` when given (a client for the login host), otherwise through
    the client that carries this auth. After the first sign-in, :attr:`instance_url` is the org's
    API host from the token response.
    """

    def __init__(
        self,
        grant: Grant,
        *,
        http: httpx2.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for_login = grant.token_url.lower()
        if isinstance(grant, ClientCredentialsGrant) and (
            "//login.salesforce.com" in for_login or "//test.salesforce.com" in for_login
        ):
            raise InvalidInput(
                "The client-credentials flow needs the org's My Domain token URL "
                "(https://<domain>.my.salesforce.com/services/oauth2/token), not login/test."
            )
        self.grant = grant
        self._http = http
        self._clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self.instance_url: str | None = None
        self.organization_id: str | None = None
        self.sign_in_count = 0

    def _token(self, *, rejected: str | None) -> Generator[httpx2.Request, httpx2.Response, str]:
        # A 401 is always INVALID_SESSION_ID in practice ("Session expired or invalid"), so a
        # rejected session means signing in again. A threading lock guards sign-in: meant for the
        # synchronous httpx2.Client ForceBridge uses.
        with self._lock:
            # Another thread may have signed in while this one waited: reuse its session.
            if self._access_token is None or self._access_token == rejected:
                yield from self._sign_in()
            assert self._access_token is not None
            return self._access_token

    def sign_in(self) -> str:
        """Sign in now, through ``http``, unless a session exists; returns :attr:`instance_url`.

        The data client's ``base_url`` is the ``instance_url`` of the token response, so the
        composition root signs in before building it.
        """
        if self._http is None:
            raise ConfigurationError("SalesforceAuth.sign_in() needs the login client (http=...)")
        with self._lock:
            if self._access_token is None:
                self._accept(self._send_token_request(self._token_request()))
        if self.instance_url is None:
            raise NeedsAdminAction(
                "Salesforce signed in but did not name the org's instance URL.",
                service=SERVICE,
                hint="Check that the connection's Salesforce URL is a login or My Domain URL.",
            )
        return self.instance_url

    def _sign_in(self) -> Generator[httpx2.Request, httpx2.Response, None]:
        token_request = self._token_request()
        if self._http is not None:
            response = self._send_token_request(token_request)
        else:
            response = yield token_request
            response.read()
        self._accept(response)

    def _token_request(self) -> httpx2.Request:
        return httpx2.Request(
            "POST",
            self.grant.token_url,
            data=self.grant.form(self._clock()),
            headers={"Accept": "application/json"},
        )

    def _send_token_request(self, token_request: httpx2.Request) -> httpx2.Response:
        assert self._http is not None
        try:
            return self._http.send(token_request)
        except httpx2.TransportError as exc:
            raise error_from_transport(exc) from None

    def _accept(self, response: httpx2.Response) -> None:
        if response.is_error:
            raise error_from_token_response(response)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("access_token"), str):
            raise NeedsAdminAction(
                "Salesforce's token endpoint answered without an access token.",
                service=SERVICE,
                status=response.status_code,
                hint="Check the login URL of the Salesforce connection.",
            )
        self.grant.accept(payload)
        self._access_token = payload["access_token"]
        instance_url = payload.get("instance_url")
        if isinstance(instance_url, str) and instance_url:
            self.instance_url = instance_url.rstrip("/")
        # The identity URL ends in /id/<org id>/<user id>: the org that outbound messages name.
        identity = payload.get("id")
        if isinstance(identity, str) and "/id/" in identity:
            self.organization_id = identity.rsplit("/id/", 1)[1].split("/")[0][:18] or None
        self.sign_in_count += 1

    def __repr__(self) -> str:
        return f"SalesforceAuth(grant={self.grant!r})"
