"""Ready-to-use Jira and Salesforce clients for one connection.

``clients_for`` decrypts the connection's credentials, builds the authentication of each side and
the guarded, metered HTTP clients (``forcebridge.http.build_client``), and hands them back in a
context manager that closes every HTTP client it opened.

Vendor specifics:
- Jira: basic auth talks to the site URL; OAuth 3LO talks to ``{api_url}/ex/jira/{cloud_id}`` and
  gets its access tokens from ``token_url`` (another host, hence its own HTTP client).
- Salesforce: the token request goes to the login or My Domain URL, and the answer names the
  org's ``instance_url``, the only host that serves the data API. So the Salesforce client signs in
  first (through a client for the login host) and only then knows where to send requests.
- Both vendors may rotate refresh tokens; a rotated one is stored, encrypted, in its own
  transaction before the new access token is used (see ``service.store_rotated_refresh_token``).
"""

from __future__ import annotations

from contextlib import ExitStack
from types import TracebackType

import httpx2

from forcebridge.connections.service import (
    read_credentials,
    record_salesforce_identity,
    store_rotated_refresh_token,
)
from forcebridge.connections.sessions import AuthSession, session_key
from forcebridge.container import Container
from forcebridge.errors import NeedsAdminAction
from forcebridge.http import build_client
from forcebridge.jira.auth import JiraBasicAuth, JiraOAuth
from forcebridge.jira.client import JiraClient
from forcebridge.models import Connection
from forcebridge.quota.jira_throttle import JiraThrottleGate
from forcebridge.salesforce.auth import (
    TOKEN_PATH,
    ClientCredentialsGrant,
    Grant,
    JwtBearerGrant,
    RefreshTokenGrant,
    SalesforceAuth,
)
from forcebridge.salesforce.client import SalesforceClient


class ConnectionClients:
    """The Jira and Salesforce clients of one connection; use as a context manager.

    The Salesforce side signs in on first use of :attr:`salesforce`, so code that only talks to
    Jira costs no Salesforce token request.
    """

    def __init__(self, container: Container, connection: Connection) -> None:
        self._container = container
        self.connection_id = connection.id
        self._connection = connection
        self._stack = ExitStack()
        self._jira: JiraClient | None = None
        self._salesforce: SalesforceClient | None = None
        self.salesforce_instance_url: str | None = None

    @property
    def jira(self) -> JiraClient:
        if self._jira is None:
            http = self._open_jira_http()
            # Jira's 429s are shared by every connection and process using the same site.
            gate = JiraThrottleGate(self._container, str(http.base_url))
            self._jira = JiraClient(http, request_gate=gate)
        return self._jira

    @property
    def salesforce(self) -> SalesforceClient:
        if self._salesforce is None:
            self._salesforce = SalesforceClient(self._open_salesforce_http())
        return self._salesforce

    def close(self) -> None:
        self._stack.close()
        if self._salesforce is not None:  # the quota guard keeps the org's Sforce-Limit-Info
            from forcebridge.quota.service import record_client_usage

            record_client_usage(self._container, self.connection_id, self._salesforce)

    def __enter__(self) -> ConnectionClients:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- Jira -------------------------------------------------------------------------------

    def _open_jira_http(self) -> httpx2.Client:
        connection = self._connection
        credentials = read_credentials(self._container, connection, "jira")
        if connection.jira_auth_type == "basic":
            return self._client(
                "jira",
                connection.jira_url,
                JiraBasicAuth(credentials["email"], credentials["api_token"]),
            )
        token_url: str = credentials["token_url"]
        connection_id = connection.id

        def new_session() -> AuthSession:
            def persist(refresh_token: str) -> None:
                store_rotated_refresh_token(self._container, connection_id, "jira", refresh_token)

            token_http = self._client("jira", token_url, None, owned=False)
            auth = JiraOAuth(
                token_url=token_url,
                client_id=credentials["client_id"],
                client_secret=credentials["client_secret"],
                refresh_token=credentials["refresh_token"],
                on_refresh_token_rotated=persist,
                http=token_http,
            )
            return AuthSession(auth=auth, token_http=token_http)

        key = session_key(connection_id, "jira", connection.jira_credentials, token_url)
        auth = self._container.auth_sessions.get_or_create(key, new_session).auth
        api_url = str(credentials["api_url"]).rstrip("/")
        return self._client("jira", f"{api_url}/ex/jira/{connection.jira_cloud_id}", auth)

    # -- Salesforce -------------------------------------------------------------------------

    def _open_salesforce_http(self) -> httpx2.Client:
        connection = self._connection
        login_url = connection.salesforce_url.rstrip("/")
        key = session_key(connection.id, "salesforce", connection.salesforce_credentials, login_url)

        def new_session() -> AuthSession:
            login_http = self._client("salesforce", login_url, None, owned=False)
            auth = SalesforceAuth(self._grant(login_url), http=login_http)
            try:
                _sign_in(auth, login_url)
            except BaseException:
                login_http.close()
                raise
            return AuthSession(auth=auth, token_http=login_http, instance_url=auth.instance_url)

        session = self._container.auth_sessions.get_or_create(key, new_session)
        instance_url = session.instance_url or connection.salesforce_instance_url or login_url
        self.salesforce_instance_url = instance_url
        org_id = getattr(session.auth, "organization_id", None)
        new_org_id = org_id is not None and org_id != connection.salesforce_organization_id
        if instance_url != connection.salesforce_instance_url or new_org_id:
            # Shown in the admin views, and a changed instance (org migration) is worth seeing;
            # the org id is what Salesforce outbound messages are checked against.
            record_salesforce_identity(self._container, connection.id, instance_url, org_id)
            connection.salesforce_instance_url = instance_url
            if new_org_id:
                connection.salesforce_organization_id = org_id
        return self._client("salesforce", instance_url, session.auth)

    def _grant(self, login_url: str) -> Grant:
        connection = self._connection
        credentials = read_credentials(self._container, connection, "salesforce")
        token_url = login_url + TOKEN_PATH
        if connection.salesforce_auth_type == "jwt":
            return JwtBearerGrant(
                login_url=login_url,
                client_id=credentials["client_id"],
                username=credentials["username"],
                private_key_pem=credentials["private_key"],
            )
        if connection.salesforce_auth_type == "refresh_token":
            connection_id = connection.id

            def persist(refresh_token: str) -> None:
                store_rotated_refresh_token(
                    self._container, connection_id, "salesforce", refresh_token
                )

            return RefreshTokenGrant(
                token_url=token_url,
                client_id=credentials["client_id"],
                client_secret=credentials.get("client_secret"),
                refresh_token=credentials["refresh_token"],
                on_refresh_token_rotated=persist,
            )
        return ClientCredentialsGrant(
            token_url=token_url,
            client_id=credentials["client_id"],
            client_secret=credentials["client_secret"],
        )

    # -- shared -----------------------------------------------------------------------------

    def _client(
        self, service: str, base_url: str, auth: httpx2.Auth | None, *, owned: bool = True
    ) -> httpx2.Client:
        """A guarded, metered client; ``owned`` ones close with these clients, the others belong
        to a cached session (``AuthSessions``) and close with the container."""
        client = build_client(
            settings=self._container.settings,
            service=service,
            connection_id=self.connection_id,
            base_url=base_url,
            auth=auth,
            transport=self._container.transport_for(service, base_url),
            metrics=self._container.metrics,
        )
        if owned:
            self._stack.callback(client.close)
        return client


def clients_for(container: Container, connection: Connection) -> ConnectionClients:
    """Clients for ``connection`` (a row read in any session; only plain columns are used)."""
    return ConnectionClients(container, connection)


def _sign_in(auth: SalesforceAuth, login_url: str) -> None:
    """Run the auth flow up to the point where it has a session, without sending any request.

    ``SalesforceAuth`` signs in lazily inside its ``httpx2.Auth`` flow; driving that flow with a
    placeholder request makes it fetch the token (through its login client) and reveal the
    ``instance_url``, which must be known before the data client can be built.
    """
    placeholder = httpx2.Request("GET", login_url + "/services/oauth2/userinfo")
    flow = auth.sync_auth_flow(placeholder)
    try:
        next(flow)
    except StopIteration:  # pragma: no cover - the flow always yields the signed request
        pass
    finally:
        flow.close()
    if auth.instance_url is None:
        raise NeedsAdminAction(
            "Salesforce signed in but did not say which instance serves the org.",
            service="salesforce",
            hint="Check that the connection's Salesforce URL is a login or My Domain URL.",
        )
