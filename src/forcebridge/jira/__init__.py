"""Jira Cloud adapter: typed REST client, authentication, JQL quoting and ADF conversion."""

from forcebridge.jira.adf import adf_to_text, text_to_adf
from forcebridge.jira.auth import JiraBasicAuth, JiraOAuth
from forcebridge.jira.client import JiraClient
from forcebridge.jira.errors import JiraRateLimit, error_from_response, error_from_transport
from forcebridge.jira.jql import format_jql, quote

__all__ = [
    "JiraBasicAuth",
    "JiraClient",
    "JiraOAuth",
    "JiraRateLimit",
    "adf_to_text",
    "error_from_response",
    "error_from_transport",
    "format_jql",
    "quote",
    "text_to_adf",
]
