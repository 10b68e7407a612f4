"""Salesforce adapter: typed REST client, OAuth grants, SOQL quoting and record ids."""

from forcebridge.salesforce.auth import (
    ClientCredentialsGrant,
    JwtBearerGrant,
    RefreshTokenGrant,
    SalesforceAuth,
)
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.errors import error_from_response, error_from_transport
from forcebridge.salesforce.ids import KEY_PREFIXES, normalize_id, to_18
from forcebridge.salesforce.soql import format_soql, quote

__all__ = [
    "KEY_PREFIXES",
    "ClientCredentialsGrant",
    "JwtBearerGrant",
    "RefreshTokenGrant",
    "SalesforceAuth",
    "SalesforceClient",
    "error_from_response",
    "error_from_transport",
    "format_soql",
    "normalize_id",
    "quote",
    "to_18",
]
