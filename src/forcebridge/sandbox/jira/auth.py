"""Who is calling: Basic auth with an API token, and OAuth 2.0 (3LO) bearer tokens.

The sandbox has one site with one API-token user (the admin) and one OAuth app. Secrets are
generated with ``secrets.token_urlsafe`` on first start and kept in the document store, so a
restart with the same state file keeps them. The OAuth token endpoint implements the
``refresh_token`` grant with rotation: each refresh token works once, as on auth.atlassian.com
(https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forcebridge.sandbox.jira import seed
from forcebridge.sandbox.storage import DocumentStore

AUTH = "auth"
ACCESS_TOKENS = "oauth_access_tokens"
REFRESH_TOKENS = "oauth_refresh_tokens"
ACCESS_TOKEN_LIFETIME_SECONDS = 3600
OAUTH_SCOPES = "read:jira-work write:jira-work read:jira-user manage:jira-webhook offline_access"


@dataclass(frozen=True)
class Caller:
    account_id: str
    method: str  # "basic" or "bearer"
    app_id: str | None = None  # the OAuth client id for bearer callers


class OAuthError(Exception):
    """An OAuth token-endpoint failure: ``{"error", "error_description"}`` with a status."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class Authenticator:
    def __init__(self, store: DocumentStore, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock
        self.credentials = self._load_or_create_credentials()

    def _load_or_create_credentials(self) -> dict[str, str]:
        existing = self.store.get(AUTH, "credentials")
        if existing is not None:
            return dict(existing)
        credentials = {
            "email": seed.ADMIN_EMAIL,
            "api_token": secrets.token_urlsafe(24),
            "account_id": seed.ADMIN_ACCOUNT_ID,
            "cloud_id": str(uuid.uuid4()),
            "oauth_client_id": secrets.token_urlsafe(24),
            "oauth_client_secret": secrets.token_urlsafe(48),
            "oauth_refresh_token": secrets.token_urlsafe(48),
        }
        self.store.put(AUTH, "credentials", credentials)
        self.store.put(
            REFRESH_TOKENS,
            credentials["oauth_refresh_token"],
            {"token": credentials["oauth_refresh_token"]},
        )
        return credentials

    def restore(self) -> None:
        """Write the credentials back after the store was cleared (operator reset keeps them)."""
        self.store.put(AUTH, "credentials", self.credentials)
        self.store.put(
            REFRESH_TOKENS,
            self.credentials["oauth_refresh_token"],
            {"token": self.credentials["oauth_refresh_token"]},
        )

    # -- request authentication --------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Caller | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            email, _, token = decoded.partition(":")
            if email.lower() == self.credentials["email"].lower() and hmac.compare_digest(
                token.encode(), self.credentials["api_token"].encode()
            ):
                return Caller(self.credentials["account_id"], "basic")
            return None
        if scheme.lower() == "bearer" and value:
            record = self.store.get(ACCESS_TOKENS, value)
            if record is None or record["expires_at"] <= self.clock():
                return None
            return Caller(
                record["account_id"], "bearer", app_id=self.credentials["oauth_client_id"]
            )
        return None

    @staticmethod
    def credential_label(headers: dict[str, str]) -> str | None:
        """How the request log names a credential, without revealing it."""
        authorization = headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            try:
                email = base64.b64decode(value.strip()).decode("utf-8", "replace").partition(":")[0]
            except (binascii.Error, ValueError):
                return "basic:?"
            return f"basic:{email}"
        if scheme.lower() == "bearer":
            return f"bearer:{value.strip()[-6:]}"
        return None

    # -- OAuth token endpoint ----------------------------------------------------------------
    def token(self, form: dict[str, Any]) -> dict[str, Any]:
        grant_type = form.get("grant_type")
        if grant_type != "refresh_token":
            raise OAuthError(
                400, "unsupported_grant_type", f"Grant type '{grant_type}' is not supported."
            )
        client_id = str(form.get("client_id") or "")
        client_secret = str(form.get("client_secret") or "")
        if not (
            hmac.compare_digest(client_id.encode(), self.credentials["oauth_client_id"].encode())
            and hmac.compare_digest(
                client_secret.encode(), self.credentials["oauth_client_secret"].encode()
            )
        ):
            raise OAuthError(401, "access_denied", "Unauthorized")
        refresh_token = str(form.get("refresh_token") or "")
        with self.store.lock:
            record = self.store.get(REFRESH_TOKENS, refresh_token) if refresh_token else None
            if record is None:
                raise OAuthError(403, "invalid_grant", "Unknown or invalid refresh token.")
            # Rotation: the refresh token just used is spent.
            self.store.delete(REFRESH_TOKENS, refresh_token)
            return self._issue_tokens()

    def _issue_tokens(self) -> dict[str, Any]:
        access_token = secrets.token_urlsafe(48)
        refresh_token = secrets.token_urlsafe(48)
        self.store.put(
            ACCESS_TOKENS,
            access_token,
            {
                "token": access_token,
                "account_id": self.credentials["account_id"],
                "expires_at": self.clock() + ACCESS_TOKEN_LIFETIME_SECONDS,
            },
        )
        self.store.put(REFRESH_TOKENS, refresh_token, {"token": refresh_token})
        self.credentials["oauth_refresh_token"] = refresh_token
        self.store.put(AUTH, "credentials", self.credentials)
        return {
            "access_token": access_token,
            "expires_in": ACCESS_TOKEN_LIFETIME_SECONDS,
            "token_type": "Bearer",
            "refresh_token": refresh_token,
            "scope": OAUTH_SCOPES,
        }

    def expire_access_tokens(self) -> int:
        """Make every access token expired now (operator switch to test refresh handling)."""
        count = 0
        with self.store.lock:
            for key, record in list(self._access_tokens()):
                self.store.put(ACCESS_TOKENS, key, {**record, "expires_at": 0})
                count += 1
        return count

    def _access_tokens(self) -> list[tuple[str, dict[str, Any]]]:
        # DocumentStore.values() yields no keys, so each record carries its token.
        records = self.store.values(ACCESS_TOKENS)
        return [(record["token"], record) for record in records if "token" in record]
