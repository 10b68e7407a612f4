"""Default field mappings for the objects people link to Jira issues: Case, Opportunity, Account.

They are what SFJC users set up first (sfjc-and-peers.md §0) and what an entity mapping gets when it
is created without fields. Jira fields are named by id (``summary``, ``priority``, ``duedate``);
Salesforce fields by API name. Value maps use the shape of ``FieldMapping.value_map``:
``{"push": {jira_value: salesforce_value}, "pull": {salesforce_value: jira_value}}``.

Status is pull-only: a Jira status changes through workflow transitions the sync engine picks from
the mapped name, while Salesforce's Status/StageName picklists are usually driven by their own
processes, so pushing Jira's status into them would fight those processes.
"""

from __future__ import annotations

import copy
from typing import Any

# Jira's default priority scheme has five levels; Case.Priority has three.
_CASE_PRIORITY = {
    "push": {"Highest": "High", "High": "High", "Medium": "Medium", "Low": "Low", "Lowest": "Low"},
    "pull": {"High": "High", "Medium": "Medium", "Low": "Low"},
}
_CASE_STATUS = {
    "pull": {"New": "To Do", "Working": "In Progress", "Escalated": "In Progress", "Closed": "Done"}
}
_OPPORTUNITY_STAGE = {
    "pull": {
        "Prospecting": "To Do",
        "Qualification": "To Do",
        "Closed Won": "Done",
        "Closed Lost": "Done",
    }
}


def _field(
    jira_field: str,
    salesforce_field: str,
    *,
    direction: str = "both",
    value_map: dict[str, dict[str, str]] | None = None,
    unmapped_push: str = "copy",
    unmapped_pull: str = "copy",
    unmapped_pull_value: str | None = None,
) -> dict[str, Any]:
    return {
        "jira_field": jira_field,
        "salesforce_field": salesforce_field,
        "direction": direction,
        "value_map": value_map or {},
        "unmapped_push": unmapped_push,
        "unmapped_push_value": None,
        "unmapped_pull": unmapped_pull,
        "unmapped_pull_value": unmapped_pull_value,
        "conflict_policy": "newest",
    }


DEFAULT_FIELD_MAPPINGS: dict[str, list[dict[str, Any]]] = {
    "Case": [
        _field("summary", "Subject"),
        _field("description", "Description"),
        # A priority outside the map (a custom Jira level) would be refused by the picklist.
        _field(
            "priority",
            "Priority",
            value_map=_CASE_PRIORITY,
            unmapped_push="empty",
            unmapped_pull="empty",
        ),
        # Case statuses outside the map (custom values) land on the neutral "In Progress".
        _field(
            "status",
            "Status",
            direction="pull",
            value_map=_CASE_STATUS,
            unmapped_pull="set",
            unmapped_pull_value="In Progress",
        ),
    ],
    "Opportunity": [
        _field("summary", "Name"),
        _field("description", "Description"),
        _field("duedate", "CloseDate"),
        _field(
            "status",
            "StageName",
            direction="pull",
            value_map=_OPPORTUNITY_STAGE,
            unmapped_pull="set",
            unmapped_pull_value="In Progress",
        ),
    ],
    "Account": [
        _field("summary", "Name"),
        _field("description", "Description"),
    ],
}


def default_field_mappings(salesforce_object: str) -> list[dict[str, Any]]:
    """Fresh copies of the defaults for ``salesforce_object`` (empty for other objects)."""
    return copy.deepcopy(DEFAULT_FIELD_MAPPINGS.get(salesforce_object, []))
