"""The emulator's deterministic starting data: projects, issue types, workflow, users, issues.

Everything here is plain data; ``catalog.py`` and ``issues.py`` load it on first start and on
operator reset. Ids follow Jira Cloud's habits (numeric strings from 10000, status category
ids 2/3/4, transition ids 11/21/31...), so clients that hard-code them by accident still work.
"""

from __future__ import annotations

from typing import Any

ADMIN_ACCOUNT_ID = "712020:5f1c7a3e-0b8d-4f43-9a60-7c2f1e8d9a01"
ADMIN_EMAIL = "admin@sandbox.forcebridge.test"
SITE_NAME = "forcebridge-sandbox"
# 2026-01-17T12:34:00.000+0000: seeded issues are created an hour apart from here.
SEED_EPOCH_MS = 1_768_653_240_000

STATUS_CATEGORIES: dict[str, dict[str, Any]] = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}

STATUSES: list[dict[str, Any]] = [
    {
        "id": "10000",
        "name": "To Do",
        "category": "new",
        "description": "Work that has not started.",
    },
    {
        "id": "3",
        "name": "In Progress",
        "category": "indeterminate",
        "description": "Being worked on.",
    },
    {"id": "10001", "name": "Done", "category": "done", "description": "Work that is finished."},
]

# The workflow: each transition leads to ``to`` and is offered from the statuses in ``from``.
TRANSITIONS: list[dict[str, Any]] = [
    {"id": "21", "name": "Start Progress", "from": ["10000"], "to": "3"},
    {"id": "11", "name": "Stop Progress", "from": ["3"], "to": "10000"},
    {"id": "31", "name": "Done", "from": ["3", "10000"], "to": "10001"},
    {"id": "41", "name": "Reopen", "from": ["10001"], "to": "3"},
]
INITIAL_STATUS_ID = "10000"

ISSUE_TYPES: list[dict[str, Any]] = [
    {
        "id": "10001",
        "name": "Task",
        "description": "A small, distinct piece of work.",
        "avatarId": 10318,
    },
    {"id": "10002", "name": "Bug", "description": "A problem or error.", "avatarId": 10303},
    {"id": "10003", "name": "Story", "description": "A user-facing feature.", "avatarId": 10315},
]

PRIORITIES: list[dict[str, Any]] = [
    {"id": "1", "name": "Highest"},
    {"id": "2", "name": "High"},
    {"id": "3", "name": "Medium"},
    {"id": "4", "name": "Low"},
    {"id": "5", "name": "Lowest"},
]
DEFAULT_PRIORITY_ID = "3"

USERS: list[dict[str, Any]] = [
    {"accountId": ADMIN_ACCOUNT_ID, "displayName": "Sandbox Admin", "emailAddress": ADMIN_EMAIL},
    {
        "accountId": "712020:2b9e4c1d-6a7f-4e25-8c3b-1d0f9e7a6b02",
        "displayName": "Alice Agent",
        "emailAddress": "alice@sandbox.forcebridge.test",
    },
    {
        "accountId": "712020:8d3f2a6b-4c1e-4b97-a5d0-3e9c7f1b2c03",
        "displayName": "Bob Builder",
        "emailAddress": "bob@sandbox.forcebridge.test",
    },
]
ALICE_ACCOUNT_ID = USERS[1]["accountId"]
BOB_ACCOUNT_ID = USERS[2]["accountId"]

PROJECTS: list[dict[str, Any]] = [
    {"id": "10000", "key": "TEST", "name": "Test Project", "lead": ADMIN_ACCOUNT_ID},
    {"id": "10001", "key": "SUP", "name": "Support", "lead": ALICE_ACCOUNT_ID},
]

ROLES = ("Administrators", "Developers", "Users")
GROUPS = ("jira-administrators", "jira-software-users", "site-admins")

CUSTOM_TYPE_PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"

# Custom fields: one of each common type. ``kind`` drives validation, rendering and JQL.
CUSTOM_FIELDS: list[dict[str, Any]] = [
    {"id": "customfield_10010", "name": "Story Points", "kind": "number",
     "schema": {"type": "number", "custom": CUSTOM_TYPE_PREFIX + "float"}},
    {"id": "customfield_10011", "name": "Customer Reference", "kind": "text",
     "schema": {"type": "string", "custom": CUSTOM_TYPE_PREFIX + "textfield"}},
    {"id": "customfield_10012", "name": "Customer Notes", "kind": "textarea",
     "schema": {"type": "string", "custom": CUSTOM_TYPE_PREFIX + "textarea"}},
    {"id": "customfield_10013", "name": "Severity", "kind": "select",
     "schema": {"type": "option", "custom": CUSTOM_TYPE_PREFIX + "select"},
     "options": [{"id": "10100", "value": "Critical"}, {"id": "10101", "value": "Major"},
                 {"id": "10102", "value": "Minor"}]},
    {"id": "customfield_10014", "name": "Affected Products", "kind": "multiselect",
     "schema": {"type": "array", "items": "option", "custom": CUSTOM_TYPE_PREFIX + "multiselect"},
     "options": [{"id": "10200", "value": "Web"}, {"id": "10201", "value": "Mobile"},
                 {"id": "10202", "value": "API"}]},
    {"id": "customfield_10015", "name": "Review Date", "kind": "date",
     "schema": {"type": "date", "custom": CUSTOM_TYPE_PREFIX + "datepicker"}},
    {"id": "customfield_10016", "name": "Escalated At", "kind": "datetime",
     "schema": {"type": "datetime", "custom": CUSTOM_TYPE_PREFIX + "datetime"}},
    {"id": "customfield_10017", "name": "Account Manager", "kind": "user",
     "schema": {"type": "user", "custom": CUSTOM_TYPE_PREFIX + "userpicker"}},
    {"id": "customfield_10018", "name": "Customer Tags", "kind": "labels",
     "schema": {"type": "array", "items": "string", "custom": CUSTOM_TYPE_PREFIX + "labels"}},
    {"id": "customfield_10019", "name": "Salesforce Case", "kind": "text",
     "schema": {"type": "string", "custom": CUSTOM_TYPE_PREFIX + "textfield"}},
]  # fmt: skip

# System fields: (id, name, kind, schema, navigable, orderable). ``kind`` as for custom fields.
SYSTEM_FIELDS: list[dict[str, Any]] = [
    {"id": "summary", "name": "Summary", "kind": "text",
     "schema": {"type": "string", "system": "summary"}},
    {"id": "description", "name": "Description", "kind": "textarea",
     "schema": {"type": "string", "system": "description"}},
    {"id": "issuetype", "name": "Issue Type", "kind": "issuetype",
     "schema": {"type": "issuetype", "system": "issuetype"}, "clauseNames": ["issuetype", "type"]},
    {"id": "project", "name": "Project", "kind": "project",
     "schema": {"type": "project", "system": "project"}},
    {"id": "status", "name": "Status", "kind": "status",
     "schema": {"type": "status", "system": "status"}, "orderable": False},
    {"id": "priority", "name": "Priority", "kind": "priority",
     "schema": {"type": "priority", "system": "priority"}},
    {"id": "assignee", "name": "Assignee", "kind": "user",
     "schema": {"type": "user", "system": "assignee"}},
    {"id": "reporter", "name": "Reporter", "kind": "user",
     "schema": {"type": "user", "system": "reporter"}},
    {"id": "creator", "name": "Creator", "kind": "user",
     "schema": {"type": "user", "system": "creator"}, "orderable": False},
    {"id": "labels", "name": "Labels", "kind": "labels",
     "schema": {"type": "array", "items": "string", "system": "labels"}},
    {"id": "created", "name": "Created", "kind": "datetime",
     "schema": {"type": "datetime", "system": "created"}, "orderable": False,
     "clauseNames": ["created", "createdDate"]},
    {"id": "updated", "name": "Updated", "kind": "datetime",
     "schema": {"type": "datetime", "system": "updated"}, "orderable": False,
     "clauseNames": ["updated", "updatedDate"]},
    {"id": "attachment", "name": "Attachment", "kind": "attachment",
     "schema": {"type": "array", "items": "attachment", "system": "attachment"}},
    {"id": "comment", "name": "Comment", "kind": "comment",
     "schema": {"type": "comments-page", "system": "comment"}, "navigable": False},
    {"id": "resolution", "name": "Resolution", "kind": "readonly",
     "schema": {"type": "resolution", "system": "resolution"}},
    {"id": "resolutiondate", "name": "Resolved", "kind": "readonly",
     "schema": {"type": "datetime", "system": "resolutiondate"}, "orderable": False,
     "clauseNames": ["resolutiondate", "resolved"]},
    {"id": "statuscategorychangedate", "name": "Status Category Changed", "kind": "readonly",
     "schema": {"type": "datetime", "system": "statuscategorychangedate"}, "orderable": False},
]  # fmt: skip

SEED_ISSUES: list[dict[str, Any]] = [
    {"summary": "Login page rejects valid passwords", "issuetype": "10002", "priority": "2",
     "description": "Customers report that the login page rejects valid passwords."
                    "\n\nSeen since the last release.",
     "labels": ["customer", "login"], "status": "10000", "assignee": ALICE_ACCOUNT_ID,
     "custom": {"customfield_10010": 3, "customfield_10013": "10101",
                "customfield_10011": "ACME-1001"}},
    {"summary": "Add export to CSV", "issuetype": "10003", "priority": "3",
     "description": "As a manager I want to export reports to CSV.", "labels": ["feature"],
     "status": "3", "assignee": BOB_ACCOUNT_ID,
     "custom": {"customfield_10010": 5, "customfield_10014": ["10200", "10202"]}},
    {"summary": "Renew the TLS certificate", "issuetype": "10001", "priority": "1",
     "description": None, "labels": [], "status": "10001", "assignee": None,
     "custom": {"customfield_10015": "2026-02-01"}},
    {"summary": "Slow search on large projects", "issuetype": "10002", "priority": "4",
     "description": "Search takes more than 10 seconds\nwhen a project has 50k issues.",
     "labels": ["performance"], "status": "10000", "assignee": None,
     "custom": {"customfield_10012": "Customer is on the Enterprise plan.",
                "customfield_10018": ["enterprise"]}},
    {"summary": "Document the webhook retry policy", "issuetype": "10001", "priority": "5",
     "description": "Explain retries, backoff and duplicate deliveries.", "labels": ["docs"],
     "status": "3", "assignee": ADMIN_ACCOUNT_ID,
     "custom": {"customfield_10016": "2026-01-20T09:00:00.000+0000",
                "customfield_10017": ALICE_ACCOUNT_ID}},
]  # fmt: skip
