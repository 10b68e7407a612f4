"""Shapes of a connection as administrators write it (create/update) and as ForceBridge shows it.

Input models forbid unknown keys (a misspelt ``api_tokn`` is a 422, not a silently ignored
credential) and hold secrets as ``SecretStr`` so they never print in a repr or a log line.
Views never carry a secret: at most ``has_<secret>`` flags and the last four characters of a long
API token, so an administrator can tell two tokens apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

ATLASSIAN_TOKEN_URL = "https://auth.atlassian.com/oauth/token"
ATLASSIAN_API_URL = "https://api.atlassian.com"

AfterAssociate = Literal["nothing", "push", "pull", "push_then_pull", "pull_then_push"]
CommentPrivacy = Literal["all", "public", "private"]
# A record deleted in Salesforce: keep and mark its associations, or remove them.
OnSalesforceDelete = Literal["flag", "unlink"]

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=10_000)]
PrivateKeyPem = Annotated[SecretStr, Field(min_length=1, max_length=20_000)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JiraBasicAuthInput(_Input):
    """Jira Cloud e-mail + API token (id.atlassian.com → Security → API tokens)."""

    type: Literal["basic"]
    email: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$"
        ),
    ]
    api_token: Secret


class JiraOAuthInput(_Input):
    """Atlassian OAuth 2.0 (3LO): client id/secret, a refresh token and the site's cloud id."""

    type: Literal["oauth"]
    client_id: Identifier
    client_secret: Secret
    refresh_token: Secret
    cloud_id: Identifier
    token_url: Url = ATLASSIAN_TOKEN_URL
    api_url: Url = ATLASSIAN_API_URL


JiraAuthInput = Annotated[JiraBasicAuthInput | JiraOAuthInput, Field(discriminator="type")]


class SalesforceJwtAuthInput(_Input):
    """OAuth 2.0 JWT bearer flow: the app's consumer key, the integration user, its key."""

    type: Literal["jwt"]
    client_id: Identifier
    username: Identifier
    private_key: PrivateKeyPem


class SalesforceRefreshTokenAuthInput(_Input):
    type: Literal["refresh_token"]
    client_id: Identifier
    client_secret: Secret
    refresh_token: Secret


class SalesforceClientCredentialsAuthInput(_Input):
    type: Literal["client_credentials"]
    client_id: Identifier
    client_secret: Secret


SalesforceAuthInput = Annotated[
    SalesforceJwtAuthInput | SalesforceRefreshTokenAuthInput | SalesforceClientCredentialsAuthInput,
    Field(discriminator="type"),
]


class JiraInput(_Input):
    url: Url = Field(description="The Jira Cloud site, e.g. https://acme.atlassian.net")
    auth: JiraAuthInput


class SalesforceInput(_Input):
    url: Url = Field(
        description="Login URL (https://login.salesforce.com, https://test.salesforce.com) "
        "or the org's My Domain URL"
    )
    auth: SalesforceAuthInput


class JiraUpdate(_Input):
    """Omitted parts stay as they are; a new ``auth`` replaces every Jira credential."""

    url: Url | None = None
    auth: JiraAuthInput | None = None


class SalesforceUpdate(_Input):
    url: Url | None = None
    auth: SalesforceAuthInput | None = None


class ConnectionSettings(_Input):
    """SFJC's connection settings (sfjc-and-peers.md §0); ``allow_modification`` rules them."""

    allow_modification: bool = True
    allow_auto_push: bool = True
    allow_auto_pull: bool = True
    default_view_only: bool = False
    default_auto_push: bool = False
    default_auto_pull: bool = False
    after_associate: AfterAssociate = "nothing"
    comment_privacy: CommentPrivacy = "all"
    sync_attachments: bool = True
    on_salesforce_delete: OnSalesforceDelete = "flag"


class ConnectionSettingsUpdate(_Input):
    allow_modification: bool | None = None
    allow_auto_push: bool | None = None
    allow_auto_pull: bool | None = None
    default_view_only: bool | None = None
    default_auto_push: bool | None = None
    default_auto_pull: bool | None = None
    after_associate: AfterAssociate | None = None
    comment_privacy: CommentPrivacy | None = None
    sync_attachments: bool | None = None
    on_salesforce_delete: OnSalesforceDelete | None = None


class ConnectionCreate(_Input):
    name: Name
    jira: JiraInput
    salesforce: SalesforceInput
    settings: ConnectionSettings = Field(default_factory=ConnectionSettings)


class ConnectionUpdate(_Input):
    name: Name | None = None
    jira: JiraUpdate | None = None
    salesforce: SalesforceUpdate | None = None
    settings: ConnectionSettingsUpdate | None = None


# -- views (what responses show) ----------------------------------------------------------------


class JiraAuthView(BaseModel):
    type: Literal["basic", "oauth"]
    email: str | None = None
    api_token_last_four: str | None = Field(
        default=None, description="Last four characters of a long API token; never the token."
    )
    has_api_token: bool = False
    client_id: str | None = None
    has_client_secret: bool = False
    has_refresh_token: bool = False
    token_url: str | None = None
    api_url: str | None = None


class JiraView(BaseModel):
    url: str
    cloud_id: str | None = None
    auth: JiraAuthView


class SalesforceAuthView(BaseModel):
    type: Literal["jwt", "refresh_token", "client_credentials"]
    client_id: str
    username: str | None = None
    has_private_key: bool = False
    has_client_secret: bool = False
    has_refresh_token: bool = False


class SalesforceView(BaseModel):
    url: str
    instance_url: str | None = None
    organization_id: str | None = None
    auth: SalesforceAuthView


class ConnectionView(BaseModel):
    id: str
    name: str
    jira: JiraView
    salesforce: SalesforceView
    settings: ConnectionSettings
    bindings: int = Field(description="Number of Jira projects bound to the connection.")
    last_tested_at: datetime | None = None
    last_test_result: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime


class SideTestResult(BaseModel):
    """One side of "test connection": ok, or which problem and how to fix it."""

    ok: bool
    problem: (
        Literal["bad_credentials", "unreachable", "missing_permission", "not_found", "unexpected"]
        | None
    ) = None
    message: str
    hint: str | None = None
    checks: list[str] = Field(default_factory=list, description="What was checked, in order.")


class ConnectionTestResult(BaseModel):
    ok: bool
    tested_at: datetime
    jira: SideTestResult
    salesforce: SideTestResult
