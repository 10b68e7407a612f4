"""The connections service: create, read, update and delete connections and their credentials.

A connection's credentials are two JSON objects (Jira, Salesforce) encrypted with the container's
``SecretBox`` and bound to their row (``context="connection:<id>:<service>"``), so a ciphertext
copied into another connection does not decrypt there. Everything else on the row is plain.
Every URL a connection will call is checked by the SSRF guard when it is written, not only when
it is used, so the administrator hears about a bad URL at once.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import structlog
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forcebridge.connections.schemas import (
    ConnectionCreate,
    ConnectionSettings,
    ConnectionUpdate,
    ConnectionView,
    JiraAuthInput,
    JiraAuthView,
    JiraBasicAuthInput,
    JiraView,
    SalesforceAuthInput,
    SalesforceAuthView,
    SalesforceJwtAuthInput,
    SalesforceView,
)
from forcebridge.container import Container
from forcebridge.errors import ConfigurationError, Conflict, NotFound, ValidationFailed
from forcebridge.models import Connection, ProjectBinding, new_id
from forcebridge.security.urls import check_outbound_url

log = structlog.get_logger("forcebridge.connections")

Service = Literal["jira", "salesforce"]

# Below this length the last four characters would give away too much of a secret.
MIN_LENGTH_TO_SHOW_LAST_FOUR = 16
SETTING_NAMES = tuple(ConnectionSettings.model_fields)


def get_connection(session: Session, connection_id: str) -> Connection:
    connection = session.get(Connection, connection_id) if connection_id else None
    if connection is None:
        raise NotFound(f"Connection {connection_id!r} does not exist.")
    return connection


def list_connections(session: Session) -> list[Connection]:
    return list(
        session.scalars(select(Connection).order_by(Connection.created_at, Connection.name))
    )


def create_connection(container: Container, request: ConnectionCreate) -> Connection:
    """Validate URLs and keys, encrypt the credentials and store the connection."""
    allowed_hosts = container.settings.allowed_hosts
    jira_url = _site_url(request.jira.url, "jira.url", allowed_hosts)
    salesforce_url = _site_url(request.salesforce.url, "salesforce.url", allowed_hosts)
    jira_credentials, cloud_id = _jira_credentials(request.jira.auth, allowed_hosts)
    salesforce_credentials = _salesforce_credentials(request.salesforce.auth)

    connection_id = new_id()
    connection = Connection(
        id=connection_id,
        name=request.name,
        jira_url=jira_url,
        jira_auth_type=request.jira.auth.type,
        jira_cloud_id=cloud_id,
        jira_credentials=_encrypt(container, connection_id, "jira", jira_credentials),
        salesforce_url=salesforce_url,
        salesforce_auth_type=request.salesforce.auth.type,
        salesforce_credentials=_encrypt(
            container, connection_id, "salesforce", salesforce_credentials
        ),
        **request.settings.model_dump(),
    )
    with container.session() as session:
        _ensure_name_is_free(session, request.name, None)
        session.add(connection)
        _flush_or_conflict(session, request.name)
    return connection


def update_connection(
    container: Container, connection_id: str, request: ConnectionUpdate
) -> Connection:
    """Apply the given parts; a new ``auth`` replaces all of that side's secrets."""
    allowed_hosts = container.settings.allowed_hosts
    with container.session() as session:
        connection = get_connection(session, connection_id)
        if request.name is not None and request.name != connection.name:
            _ensure_name_is_free(session, request.name, connection.id)
            connection.name = request.name
        if request.jira is not None:
            if request.jira.url is not None:
                connection.jira_url = _site_url(request.jira.url, "jira.url", allowed_hosts)
            if request.jira.auth is not None:
                credentials, cloud_id = _jira_credentials(request.jira.auth, allowed_hosts)
                connection.jira_auth_type = request.jira.auth.type
                connection.jira_cloud_id = cloud_id
                connection.jira_credentials = _encrypt(
                    container, connection.id, "jira", credentials
                )
        if request.salesforce is not None:
            if request.salesforce.url is not None:
                connection.salesforce_url = _site_url(
                    request.salesforce.url, "salesforce.url", allowed_hosts
                )
                # The instance URL came from the old login host's token response.
                connection.salesforce_instance_url = None
            if request.salesforce.auth is not None:
                credentials = _salesforce_credentials(request.salesforce.auth)
                connection.salesforce_auth_type = request.salesforce.auth.type
                connection.salesforce_credentials = _encrypt(
                    container, connection.id, "salesforce", credentials
                )
                connection.salesforce_instance_url = None
        if request.settings is not None:
            for name, value in request.settings.model_dump(exclude_none=True).items():
                setattr(connection, name, value)
        connection.updated_at = container.clock()
        _flush_or_conflict(session, connection.name)
        return connection


def delete_connection(container: Container, connection_id: str) -> None:
    """Delete the connection with its bindings, mappings, tokens and associations (cascade)."""
    with container.session() as session:
        connection = get_connection(session, connection_id)
        session.delete(connection)
    container.auth_sessions.forget(connection_id)


def read_credentials(
    container: Container, connection: Connection, service: Service
) -> dict[str, Any]:
    """The decrypted credentials of one side (never log or return them)."""
    ciphertext = (
        connection.jira_credentials if service == "jira" else connection.salesforce_credentials
    )
    plaintext = container.secrets.decrypt(ciphertext, context=_context(connection.id, service))
    credentials: dict[str, Any] = json.loads(plaintext)
    return credentials


def store_rotated_refresh_token(
    container: Container, connection_id: str, service: Service, refresh_token: str
) -> None:
    """Persist a rotated refresh token in its own transaction (called before the token is used).

    Both Atlassian and Salesforce may invalidate the old refresh token on use, so the new one
    must be durable before anything else happens, whatever transaction the caller is in.
    """
    with container.session() as session:
        connection = get_connection(session, connection_id)
        credentials = read_credentials(container, connection, service)
        credentials["refresh_token"] = refresh_token
        encrypted = _encrypt(container, connection_id, service, credentials)
        if service == "jira":
            connection.jira_credentials = encrypted
        else:
            connection.salesforce_credentials = encrypted


def record_salesforce_identity(
    container: Container, connection_id: str, instance_url: str | None, organization_id: str | None
) -> None:
    """Remember the org's instance URL and id as the token response gave them (shown in views)."""
    with container.session() as session:
        connection = get_connection(session, connection_id)
        if instance_url:
            connection.salesforce_instance_url = instance_url
        if organization_id:
            connection.salesforce_organization_id = organization_id[:18]


def connection_view(
    container: Container, session: Session, connection: Connection
) -> ConnectionView:
    """What the admin API and CLI show: every setting, no secret."""
    jira = _readable_credentials(container, connection, "jira")
    salesforce = _readable_credentials(container, connection, "salesforce")
    binding_count = session.scalar(
        select(func.count())
        .select_from(ProjectBinding)
        .where(ProjectBinding.connection_id == connection.id)
    )
    return ConnectionView(
        id=connection.id,
        name=connection.name,
        jira=JiraView(
            url=connection.jira_url,
            cloud_id=connection.jira_cloud_id,
            auth=_jira_auth_view(connection.jira_auth_type, jira),
        ),
        salesforce=SalesforceView(
            url=connection.salesforce_url,
            instance_url=connection.salesforce_instance_url,
            organization_id=connection.salesforce_organization_id,
            auth=SalesforceAuthView(
                type=connection.salesforce_auth_type,  # type: ignore[arg-type]
                client_id=str(salesforce.get("client_id", "")),
                username=salesforce.get("username"),
                has_private_key=bool(salesforce.get("private_key")),
                has_client_secret=bool(salesforce.get("client_secret")),
                has_refresh_token=bool(salesforce.get("refresh_token")),
            ),
        ),
        settings=ConnectionSettings(**{name: getattr(connection, name) for name in SETTING_NAMES}),
        bindings=binding_count or 0,
        last_tested_at=connection.last_tested_at,
        last_test_result=connection.last_test_result,
        created_at=connection.created_at,
        updated_at=connection.updated_at,
    )


def _readable_credentials(
    container: Container, connection: Connection, service: Service
) -> dict[str, Any]:
    """The credentials for a view; unreadable ones (a removed key) show as absent, not as a 500."""
    try:
        return read_credentials(container, connection, service)
    except ConfigurationError:
        log.warning(
            "connection.credentials_unreadable", connection_id=connection.id, service=service
        )
        return {}


def _jira_auth_view(auth_type: str, credentials: dict[str, Any]) -> JiraAuthView:
    if auth_type == "basic":
        api_token = str(credentials.get("api_token", ""))
        return JiraAuthView(
            type="basic",
            email=credentials.get("email"),
            has_api_token=bool(api_token),
            api_token_last_four=api_token[-4:]
            if len(api_token) >= MIN_LENGTH_TO_SHOW_LAST_FOUR
            else None,
        )
    return JiraAuthView(
        type="oauth",
        client_id=credentials.get("client_id"),
        has_client_secret=bool(credentials.get("client_secret")),
        has_refresh_token=bool(credentials.get("refresh_token")),
        token_url=credentials.get("token_url"),
        api_url=credentials.get("api_url"),
    )


def _jira_credentials(
    auth: JiraAuthInput, allowed_hosts: list[str]
) -> tuple[dict[str, Any], str | None]:
    if isinstance(auth, JiraBasicAuthInput):
        return {"email": auth.email, "api_token": auth.api_token.get_secret_value()}, None
    credentials = {
        "client_id": auth.client_id,
        "client_secret": auth.client_secret.get_secret_value(),
        "refresh_token": auth.refresh_token.get_secret_value(),
        "token_url": _checked_url(auth.token_url, "jira.auth.token_url", allowed_hosts),
        "api_url": _site_url(auth.api_url, "jira.auth.api_url", allowed_hosts),
    }
    return credentials, auth.cloud_id


def _salesforce_credentials(auth: SalesforceAuthInput) -> dict[str, Any]:
    if isinstance(auth, SalesforceJwtAuthInput):
        _check_private_key(auth.private_key.get_secret_value())
    values = {
        name: value.get_secret_value() if hasattr(value, "get_secret_value") else value
        for name, value in ((name, getattr(auth, name)) for name in type(auth).model_fields)
        if name != "type"
    }
    return values


def _check_private_key(pem: str) -> None:
    """The JWT bearer flow signs with RS256: refuse anything that is not an RSA private key now."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError, UnicodeError):
        raise _invalid(
            "salesforce.auth.private_key",
            "is not an unencrypted PEM private key",
            hint="Paste the connected app's private key, '-----BEGIN PRIVATE KEY-----' included.",
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise _invalid(
            "salesforce.auth.private_key", "must be an RSA key (Salesforce signs JWTs with RS256)"
        )


def _site_url(url: str, field: str, allowed_hosts: list[str]) -> str:
    """A checked URL reduced to its origin (a site has no path; users paste browser URLs)."""
    checked = _checked_url(url, field, allowed_hosts)
    parts = urlsplit(checked)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _checked_url(url: str, field: str, allowed_hosts: list[str]) -> str:
    try:
        return check_outbound_url(url, allowed_hosts)
    except ValidationFailed as error:
        reason = error.details.get("reason") if isinstance(error.details, dict) else None
        raise ValidationFailed(
            f"{field}: {error.message}",
            hint=error.hint,
            details=[{"field": field, "message": reason or error.message}],
        ) from None


def _invalid(field: str, reason: str, hint: str | None = None) -> ValidationFailed:
    return ValidationFailed(
        f"{field} {reason}.", hint=hint, details=[{"field": field, "message": reason}]
    )


def _encrypt(
    container: Container, connection_id: str, service: Service, credentials: dict[str, Any]
) -> str:
    return container.secrets.encrypt(
        json.dumps(credentials), context=_context(connection_id, service)
    )


def _context(connection_id: str, service: Service) -> str:
    return f"connection:{connection_id}:{service}"


def _ensure_name_is_free(session: Session, name: str, own_id: str | None) -> None:
    existing = session.scalar(select(Connection.id).where(Connection.name == name))
    if existing is not None and existing != own_id:
        raise _name_taken(name)


def _flush_or_conflict(session: Session, name: str) -> None:
    # Two concurrent creates can both pass the check above; the unique index decides.
    try:
        session.flush()
    except IntegrityError:
        raise _name_taken(name) from None


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"A connection named {name!r} already exists.",
        details=[{"field": "name", "message": "already used by another connection"}],
    )
