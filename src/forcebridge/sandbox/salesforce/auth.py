"""OAuth 2.0 for the emulated org: the connected app's credentials and the token endpoint's grants.

Grants: JWT bearer (an RS256 assertion signed with the app's private key, checked against its
certificate), refresh token (with optional rotation, which invalidates the used token), and client
credentials (run as the integration user). Access tokens expire after a configurable lifetime; an
operator switch expires them all at once so clients' re-authentication paths can be tested.

The credentials are generated on first start and persisted in the store; a reset keeps them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from forcebridge.sandbox.salesforce.ids import make_id
from forcebridge.sandbox.storage import DocumentStore

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
# Salesforce refuses assertions whose exp lies further ahead than a few minutes.
MAX_ASSERTION_LIFETIME_SECONDS = 300
CLOCK_SKEW_SECONDS = 30
SCOPE = "api refresh_token"
INTEGRATION_USERNAME = "integration@forcebridge.sandbox"

_CREDENTIALS = ("org", "credentials")
_SETTINGS = ("org", "oauth-settings")
_ACCESS_TOKENS = "oauth:access-token"
_REFRESH_TOKENS = "oauth:refresh-token"
_ALPHANUMERIC = string.ascii_letters + string.digits


class OAuthError(Exception):
    """A token-endpoint failure: HTTP 400 ``{"error", "error_description"}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def _random_text(length: int, alphabet: str = _ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_credentials() -> dict[str, str]:
    """A fresh connected app: consumer key and secret, key pair and certificate, first tokens."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "ForceBridge sandbox connected app")]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(private_key, hashes.SHA256())
    )
    organization_id = make_id("00D", 1)
    return {
        "client_id": "3MVG9" + _random_text(80, _ALPHANUMERIC + "._"),
        "client_secret": _random_text(64, string.hexdigits.upper()[:16]),
        "username": INTEGRATION_USERNAME,
        "organization_id": organization_id,
        "refresh_token": "5Aep861" + _random_text(80, _ALPHANUMERIC + "."),
        "access_token": f"{organization_id[:15]}!" + _random_text(96, _ALPHANUMERIC + "."),
        "private_key_pem": private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        "certificate_pem": certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


class TokenService:
    """Issues, checks and expires tokens; answers the token endpoint's grants."""

    def __init__(self, store: DocumentStore, access_token_lifetime_seconds: int) -> None:
        self.store = store
        self.lifetime = access_token_lifetime_seconds
        stored = store.get(*_CREDENTIALS)
        if stored is None:
            stored = generate_credentials()
            store.put(*_CREDENTIALS, stored)
        self.credentials: dict[str, str] = dict(stored)
        self._public_key = x509.load_pem_x509_certificate(
            self.credentials["certificate_pem"].encode("ascii")
        ).public_key()

    # -- state ---------------------------------------------------------------------------------
    def install_credential_tokens(self, integration_user_id: str) -> None:
        """Makes the credentials' own access and refresh tokens valid (first start, restart,
        reset).
        """
        self.credentials["user_id"] = integration_user_id
        self._store_access_token(self.credentials["access_token"], integration_user_id)
        self.store.put(
            _REFRESH_TOKENS,
            self.credentials["refresh_token"],
            {
                "token": self.credentials["refresh_token"],
                "user_id": integration_user_id,
                "client_id": self.credentials["client_id"],
            },
        )

    def clear(self) -> None:
        """Forgets every issued token and setting except the credentials themselves."""
        for collection in (_ACCESS_TOKENS, _REFRESH_TOKENS):
            for document in self.store.values(collection):
                self.store.delete(collection, document["token"])
        self.store.put(*_SETTINGS, {"refresh_token_rotation": False})

    @property
    def refresh_token_rotation(self) -> bool:
        settings = self.store.get(*_SETTINGS) or {}
        return bool(settings.get("refresh_token_rotation", False))

    def set_refresh_token_rotation(self, enabled: bool) -> None:
        self.store.put(*_SETTINGS, {"refresh_token_rotation": enabled})

    def expire_all_access_tokens(self) -> int:
        expired = 0
        for document in self.store.values(_ACCESS_TOKENS):
            self.store.put(_ACCESS_TOKENS, document["token"], {**document, "expires_at": 0.0})
            expired += 1
        return expired

    def revoke(self, token: str) -> bool:
        """Revokes an access or refresh token; False when it is neither."""
        for collection in (_ACCESS_TOKENS, _REFRESH_TOKENS):
            if token and self.store.delete(collection, token):
                return True
        return False

    # -- checks --------------------------------------------------------------------------------
    def user_for_access_token(self, token: str) -> str | None:
        """The user behind a valid access token; None when unknown or expired."""
        document = self.store.get(_ACCESS_TOKENS, token)
        if document is None or document["expires_at"] <= time.time():
            return None
        return str(document["user_id"])

    # -- grants --------------------------------------------------------------------------------
    def grant(
        self,
        form: dict[str, str],
        basic_auth: tuple[str, str] | None,
        base_url: str,
        user_id_for_username: dict[str, str],
    ) -> dict[str, Any]:
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_BEARER_GRANT:
            return self._jwt_bearer(form, base_url, user_id_for_username)
        if grant_type == "refresh_token":
            return self._refresh(form, basic_auth, base_url)
        if grant_type == "client_credentials":
            return self._client_credentials(form, basic_auth, base_url)
        if not grant_type:
            raise OAuthError("invalid_request", "grant type not supported")
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _jwt_bearer(
        self, form: dict[str, str], base_url: str, user_id_for_username: dict[str, str]
    ) -> dict[str, Any]:
        assertion = form.get("assertion", "")
        if not assertion:
            raise OAuthError("invalid_request", "assertion parameter is missing")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as error:
            raise OAuthError("invalid_grant", "invalid assertion") from error
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "invalid assertion")
        if unverified.get("iss") != self.credentials["client_id"]:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        audiences = [*LOGIN_AUDIENCES, base_url, base_url + "/"]
        try:
            claims = jwt.decode(
                assertion,
                self._public_key,  # type: ignore[arg-type]
                algorithms=["RS256"],  # pinned: never let the token choose its algorithm
                audience=audiences,
                issuer=self.credentials["client_id"],
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.InvalidAudienceError as error:
            raise OAuthError("invalid_grant", "audience is invalid") from error
        except jwt.ExpiredSignatureError as error:
            raise OAuthError("invalid_grant", "expired authorization code") from error
        except jwt.PyJWTError as error:
            raise OAuthError("invalid_grant", "invalid assertion") from error
        if claims["exp"] > time.time() + MAX_ASSERTION_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
            raise OAuthError("invalid_grant", "invalid assertion: exp is too far in the future")
        user_id = user_id_for_username.get(str(claims["sub"]).lower())
        if user_id is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        return self._issue(user_id, base_url, refresh_token=None, scope="api")

    def _client(
        self, form: dict[str, str], basic_auth: tuple[str, str] | None
    ) -> tuple[str, str | None]:
        if basic_auth is not None:
            return basic_auth
        return form.get("client_id", ""), form.get("client_secret")

    def _refresh(
        self, form: dict[str, str], basic_auth: tuple[str, str] | None, base_url: str
    ) -> dict[str, Any]:
        client_id, client_secret = self._client(form, basic_auth)
        if client_id != self.credentials["client_id"]:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if client_secret is not None and not hmac.compare_digest(
            client_secret, self.credentials["client_secret"]
        ):
            raise OAuthError("invalid_client", "invalid client credentials")
        refresh_token = form.get("refresh_token", "")
        document = self.store.get(_REFRESH_TOKENS, refresh_token) if refresh_token else None
        if document is None:
            raise OAuthError("invalid_grant", "expired access/refresh token")
        new_refresh_token = None
        if self.refresh_token_rotation:
            # Rotation: the used token dies and a new one comes back with the access token.
            self.store.delete(_REFRESH_TOKENS, refresh_token)
            new_refresh_token = "5Aep861" + _random_text(80, _ALPHANUMERIC + ".")
            self.store.put(
                _REFRESH_TOKENS, new_refresh_token, {**document, "token": new_refresh_token}
            )
        return self._issue(
            document["user_id"], base_url, refresh_token=new_refresh_token, scope=SCOPE
        )

    def _client_credentials(
        self, form: dict[str, str], basic_auth: tuple[str, str] | None, base_url: str
    ) -> dict[str, Any]:
        client_id, client_secret = self._client(form, basic_auth)
        if client_id != self.credentials["client_id"]:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if client_secret is None or not hmac.compare_digest(
            client_secret, self.credentials["client_secret"]
        ):
            raise OAuthError("invalid_client", "invalid client credentials")
        return self._issue(self.credentials["user_id"], base_url, refresh_token=None, scope="api")

    def _store_access_token(self, token: str, user_id: str) -> None:
        self.store.put(
            _ACCESS_TOKENS,
            token,
            {"token": token, "user_id": user_id, "expires_at": time.time() + self.lifetime},
        )

    def _issue(
        self, user_id: str, base_url: str, refresh_token: str | None, scope: str
    ) -> dict[str, Any]:
        access_token = f"{self.credentials['organization_id'][:15]}!" + _random_text(
            96, _ALPHANUMERIC + "."
        )
        self._store_access_token(access_token, user_id)
        issued_at = str(int(time.time() * 1000))
        identity = f"{base_url}/id/{self.credentials['organization_id']}/{user_id}"
        # Salesforce signs id + issued_at with the consumer secret so clients can check the answer.
        digest = hmac.new(
            self.credentials["client_secret"].encode(),
            (identity + issued_at).encode(),
            hashlib.sha256,
        ).digest()
        response: dict[str, Any] = {
            "access_token": access_token,
            "signature": base64.b64encode(digest).decode("ascii"),
            "scope": scope,
            "instance_url": base_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }
        if refresh_token is not None:
            response["refresh_token"] = refresh_token
        return response
