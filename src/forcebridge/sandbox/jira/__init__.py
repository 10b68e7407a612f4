"""The Jira Cloud emulator: REST v2 and v3, OAuth 2.0 (3LO), webhooks and an operator API.

sandbox.py          JiraSandbox: the composition root (store, app, webhook thread, reset)
api.py              vendor routes (/rest/api/{2,3,latest}, /rest/webhooks/1.0, /oauth)
operator_routes.py  /__sandbox/jira/... (act as a user, deliveries, workflow, tokens)
issues.py           issues, comments, attachments, transitions, changelog, JSON views
fieldvalues.py      parsing, rendering and describing field values
catalog.py          projects, issue types, statuses, workflow, users, fields
jql.py / search.py  JQL parsing and evaluation
webhooks.py         registrations, payloads, delivery thread with retries
auth.py             Basic (API token) and Bearer (OAuth 3LO, rotating refresh tokens)
adf.py              Atlassian Document Format validation and text conversion
wire.py             content type, timestamps, Jira's error body
seed.py             the deterministic starting data
"""

from forcebridge.sandbox.jira.sandbox import JiraSandbox

__all__ = ["JiraSandbox"]
