"""The emulator's reference data (projects, issue types, statuses, workflow, priorities, users,
fields) and its JSON representations, which REST v2 and v3 share.

The catalog is read-only except for the workflow, which the operator can replace; it is built
from ``seed.py`` and the stored workflow document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forcebridge.sandbox.jira import seed


@dataclass(frozen=True)
class FieldDefinition:
    id: str
    name: str
    kind: str  # text, textarea, number, select, multiselect, date, datetime, user, labels, ...
    schema: dict[str, Any]
    custom: bool
    navigable: bool
    orderable: bool
    clause_names: tuple[str, ...]
    options: tuple[dict[str, str], ...] = ()

    @property
    def custom_id(self) -> int | None:
        return int(self.id.rsplit("_", 1)[1]) if self.custom else None

    def option_by_id_or_value(self, reference: Any) -> dict[str, str] | None:
        for option in self.options:
            if reference in (option["id"], option["value"]):
                return option
        return None


def _build_fields() -> dict[str, FieldDefinition]:
    fields: dict[str, FieldDefinition] = {}
    for entry in seed.SYSTEM_FIELDS:
        fields[entry["id"]] = FieldDefinition(
            id=entry["id"],
            name=entry["name"],
            kind=entry["kind"],
            schema=dict(entry["schema"]),
            custom=False,
            navigable=entry.get("navigable", True),
            orderable=entry.get("orderable", True),
            clause_names=tuple(entry.get("clauseNames", [entry["id"]])),
        )
    for entry in seed.CUSTOM_FIELDS:
        number = int(entry["id"].rsplit("_", 1)[1])
        fields[entry["id"]] = FieldDefinition(
            id=entry["id"],
            name=entry["name"],
            kind=entry["kind"],
            schema={**entry["schema"], "customId": number},
            custom=True,
            navigable=True,
            orderable=True,
            clause_names=(f"cf[{number}]", entry["name"]),
            options=tuple(entry.get("options", [])),
        )
    return fields


class Catalog:
    """Lookups over the reference data, tolerant as Jira is (names are case-insensitive)."""

    def __init__(self) -> None:
        self.fields = _build_fields()
        self.projects = {project["id"]: project for project in seed.PROJECTS}
        self.issue_types = {issue_type["id"]: issue_type for issue_type in seed.ISSUE_TYPES}
        self.priorities = {priority["id"]: priority for priority in seed.PRIORITIES}
        self.priority_rank = {priority["id"]: rank for rank, priority in enumerate(seed.PRIORITIES)}
        self.users = {user["accountId"]: user for user in seed.USERS}
        self.statuses: dict[str, dict[str, Any]] = {}
        self.transitions: list[dict[str, Any]] = []
        self.initial_status_id = seed.INITIAL_STATUS_ID
        self.set_workflow(seed.STATUSES, seed.TRANSITIONS, seed.INITIAL_STATUS_ID)
        self._clause_index: dict[str, FieldDefinition] = {}
        for definition in self.fields.values():
            for clause_name in definition.clause_names:
                self._clause_index[clause_name.lower()] = definition

    # -- workflow ----------------------------------------------------------------------------
    def set_workflow(
        self,
        statuses: list[dict[str, Any]],
        transitions: list[dict[str, Any]],
        initial_status_id: str,
    ) -> None:
        self.statuses = {status["id"]: dict(status) for status in statuses}
        self.transitions = [dict(transition) for transition in transitions]
        self.initial_status_id = initial_status_id

    def workflow_document(self) -> dict[str, Any]:
        return {
            "statuses": list(self.statuses.values()),
            "transitions": self.transitions,
            "initial_status_id": self.initial_status_id,
        }

    def transitions_from(self, status_id: str) -> list[dict[str, Any]]:
        return [t for t in self.transitions if not t["from"] or status_id in t["from"]]

    # -- lookups -----------------------------------------------------------------------------
    def project(self, id_or_key: Any) -> dict[str, Any] | None:
        text = str(id_or_key)
        if text in self.projects:
            return self.projects[text]
        for project in self.projects.values():
            if project["key"] == text.upper():
                return project
        return None

    def project_by_name_or_key(self, text: str) -> dict[str, Any] | None:
        found = self.project(text)
        if found is not None:
            return found
        return next((p for p in self.projects.values() if p["name"].lower() == text.lower()), None)

    def issue_type(self, id_or_name: Any) -> dict[str, Any] | None:
        text = str(id_or_name)
        if text in self.issue_types:
            return self.issue_types[text]
        return next(
            (t for t in self.issue_types.values() if t["name"].lower() == text.lower()), None
        )

    def status(self, id_or_name: Any) -> dict[str, Any] | None:
        text = str(id_or_name)
        if text in self.statuses:
            return self.statuses[text]
        return next((s for s in self.statuses.values() if s["name"].lower() == text.lower()), None)

    def priority(self, id_or_name: Any) -> dict[str, Any] | None:
        text = str(id_or_name)
        if text in self.priorities:
            return self.priorities[text]
        return next(
            (p for p in self.priorities.values() if p["name"].lower() == text.lower()), None
        )

    def user(self, reference: Any) -> dict[str, Any] | None:
        """A user by accountId (Cloud's only identifier), or by email address as JQL allows."""
        text = str(reference)
        if text in self.users:
            return self.users[text]
        return next(
            (u for u in self.users.values() if u["emailAddress"].lower() == text.lower()), None
        )

    def field_for_clause(self, clause_name: str) -> FieldDefinition | None:
        return self._clause_index.get(clause_name.lower())

    # -- representations ---------------------------------------------------------------------
    @staticmethod
    def avatar_urls(base_url: str, kind: str, owner: str) -> dict[str, str]:
        return {
            f"{size}x{size}": f"{base_url}/secure/{kind}avatar?size={size}&ownerId={owner}"
            for size in (48, 24, 16, 32)
        }

    def user_bean(self, account_id: str | None, base_url: str) -> dict[str, Any] | None:
        if account_id is None:
            return None
        user = self.users.get(account_id)
        if user is None:
            return None
        return {
            "self": f"{base_url}/rest/api/2/user?accountId={account_id}",
            "accountId": account_id,
            "emailAddress": user["emailAddress"],
            "avatarUrls": self.avatar_urls(base_url, "user", account_id),
            "displayName": user["displayName"],
            "active": True,
            "timeZone": "Etc/UTC",
            "accountType": "atlassian",
        }

    def status_bean(self, status_id: str, base_url: str, version: str) -> dict[str, Any]:
        status = self.statuses[status_id]
        category = seed.STATUS_CATEGORIES[status["category"]]
        return {
            "self": f"{base_url}/rest/api/{version}/status/{status_id}",
            "description": status.get("description", ""),
            "iconUrl": f"{base_url}/images/icons/statuses/generic.png",
            "name": status["name"],
            "id": status_id,
            "statusCategory": {
                "self": f"{base_url}/rest/api/{version}/statuscategory/{category['id']}",
                **category,
            },
        }

    def issue_type_bean(self, type_id: str, base_url: str, version: str) -> dict[str, Any]:
        issue_type = self.issue_types[type_id]
        return {
            "self": f"{base_url}/rest/api/{version}/issuetype/{type_id}",
            "id": type_id,
            "description": issue_type["description"],
            "iconUrl": f"{base_url}/rest/api/2/universal_avatar/view/type/issuetype/avatar/"
            f"{issue_type['avatarId']}?size=medium",
            "name": issue_type["name"],
            "subtask": False,
            "avatarId": issue_type["avatarId"],
            "hierarchyLevel": 0,
        }

    def project_summary_bean(self, project_id: str, base_url: str, version: str) -> dict[str, Any]:
        project = self.projects[project_id]
        return {
            "self": f"{base_url}/rest/api/{version}/project/{project_id}",
            "id": project_id,
            "key": project["key"],
            "name": project["name"],
            "projectTypeKey": "software",
            "simplified": False,
            "avatarUrls": self.avatar_urls(base_url, "project", project_id),
        }

    def project_bean(self, project_id: str, base_url: str, version: str) -> dict[str, Any]:
        project = self.projects[project_id]
        lead = self.user_bean(project["lead"], base_url)
        return {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            **self.project_summary_bean(project_id, base_url, version),
            "description": f"{project['name']} (sandbox)",
            "lead": lead,
            "components": [],
            "issueTypes": [
                self.issue_type_bean(type_id, base_url, version) for type_id in self.issue_types
            ],
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "style": "classic",
            "isPrivate": False,
            "properties": {},
            "roles": {
                role: f"{base_url}/rest/api/{version}/project/{project_id}/role/{10002 + index}"
                for index, role in enumerate(seed.ROLES)
            },
        }

    def priority_bean(self, priority_id: str, base_url: str, version: str) -> dict[str, Any]:
        priority = self.priorities[priority_id]
        return {
            "self": f"{base_url}/rest/api/{version}/priority/{priority_id}",
            "iconUrl": f"{base_url}/images/icons/priorities/{priority['name'].lower()}.svg",
            "name": priority["name"],
            "id": priority_id,
        }

    def option_bean(self, option: dict[str, str], base_url: str, version: str) -> dict[str, Any]:
        return {
            "self": f"{base_url}/rest/api/{version}/customFieldOption/{option['id']}",
            "value": option["value"],
            "id": option["id"],
        }

    def field_bean(self, definition: FieldDefinition) -> dict[str, Any]:
        bean: dict[str, Any] = {
            "id": definition.id,
            "key": definition.id,
            "name": definition.name,
            "custom": definition.custom,
            "orderable": definition.orderable,
            "navigable": definition.navigable,
            "searchable": True,
            "clauseNames": list(definition.clause_names),
            "schema": definition.schema,
        }
        return bean

    def transition_bean(
        self, transition: dict[str, Any], base_url: str, version: str
    ) -> dict[str, Any]:
        return {
            "id": transition["id"],
            "name": transition["name"],
            "to": self.status_bean(transition["to"], base_url, version),
            "hasScreen": False,
            "isGlobal": not transition["from"],
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "looped": False,
        }

    def field_metadata(
        self, definition: FieldDefinition, base_url: str, version: str, *, required: bool
    ) -> dict[str, Any]:
        """``FieldMetadata`` (editmeta / createmeta): how a field may be set, with choices."""
        multi = definition.kind in ("labels", "multiselect")
        metadata: dict[str, Any] = {
            "required": required,
            "schema": definition.schema,
            "name": definition.name,
            "key": definition.id,
            "operations": ["add", "set", "remove"] if multi else ["set"],
            "hasDefaultValue": definition.id == "priority",
        }
        if definition.options:
            metadata["allowedValues"] = [
                self.option_bean(option, base_url, version) for option in definition.options
            ]
        if definition.id == "priority":
            metadata["allowedValues"] = [
                self.priority_bean(priority_id, base_url, version)
                for priority_id in self.priorities
            ]
            metadata["defaultValue"] = self.priority_bean(
                seed.DEFAULT_PRIORITY_ID, base_url, version
            )
        return metadata
