"""A sync scenario over the in-process sandboxes: a connection, associations, and what each side
holds, plus exact call counts from the sandboxes' request logs.

People's edits go through the sandboxes' operator routes ("as a user"), so they are never our own
calls; ``data_calls`` counts only vendor data APIs (Salesforce's OAuth token request costs no API
quota and is left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from associations.builders import create_associable_connection, record_ids
from forcebridge.container import Container
from forcebridge.models import Association, Connection, FieldMapping
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sandbox.testing import app_transport

JIRA_OPERATOR = "/__sandbox/jira"
SALESFORCE_OPERATOR = "/__sandbox/salesforce"


@dataclass
class SyncScenario:
    container: Container
    sandbox: Any
    connection: Connection
    _issues: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- setup ------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        container: Container,
        sandbox: Any,
        *,
        objects: Iterable[str] = ("Case", "Opportunity", "Account"),
        settings: Mapping[str, Any] | None = None,
    ) -> SyncScenario:
        connection = create_associable_connection(
            container, sandbox, objects=tuple(objects), settings=settings
        )
        return cls(container, sandbox, connection)

    def record_ids(self, sobject: str) -> list[str]:
        return record_ids(self.container, self.connection, sobject)

    def issue(self, key: str) -> dict[str, Any]:
        """The issue as Jira holds it now (through the sandbox, as a person would see it)."""
        response = self._jira().get(f"/rest/api/3/issue/{key}")
        response.raise_for_status()
        issue: dict[str, Any] = response.json()
        return issue

    def associate(self, issue_key: str, sobject: str, record_id: str, **flags: bool) -> str:
        """Link directly in the database (the associate API has its own tests)."""
        issue = self.issue(issue_key)
        with self.container.session() as session:
            association = Association(
                connection_id=self.connection.id,
                jira_issue_id=issue["id"],
                jira_issue_key=issue["key"],
                jira_project_id=issue["fields"]["project"]["id"],
                salesforce_object=sobject,
                salesforce_id=normalize_id(record_id, sobject=sobject),
                view_only=flags.get("view_only", False),
                auto_push=flags.get("auto_push", False),
                auto_pull=flags.get("auto_pull", False),
            )
            session.add(association)
            session.flush()
            return association.id

    def set_connection(self, **values: Any) -> None:
        with self.container.session() as session:
            row = session.get(Connection, self.connection.id)
            assert row is not None
            for name, value in values.items():
                setattr(row, name, value)

    def update_mapping(self, salesforce_field: str, **values: Any) -> None:
        """Change every field mapping onto ``salesforce_field`` of this connection."""
        with self.container.session() as session:
            rows = session.query(FieldMapping).filter_by(salesforce_field=salesforce_field).all()
            assert rows, f"no mapping onto {salesforce_field}"
            for row in rows:
                for name, value in values.items():
                    setattr(row, name, value)

    def delete_mapping(self, salesforce_field: str) -> None:
        with self.container.session() as session:
            for row in session.query(FieldMapping).filter_by(salesforce_field=salesforce_field):
                session.delete(row)

    def add_mapping(self, sobject: str, **values: Any) -> None:
        """Add a field mapping to every entity mapping of ``sobject``."""
        from forcebridge.models import EntityMapping

        with self.container.session() as session:
            for mapping in session.query(EntityMapping).filter_by(salesforce_object=sobject):
                session.add(FieldMapping(entity_mapping_id=mapping.id, position=99, **values))

    # -- people's edits ---------------------------------------------------------------------

    def edit_issue_as_user(
        self, key: str, fields: Mapping[str, Any] | None = None, transition: str | None = None
    ) -> None:
        body: dict[str, Any] = {"api_version": "3"}
        if fields:
            body["fields"] = dict(fields)
        if transition:
            body["transition"] = transition
        response = self._jira().post(f"{JIRA_OPERATOR}/issues/{key}/edit", json=body)
        assert response.status_code == 200, response.text

    def create_issue_as_user(self, summary: str, issue_type_id: str = "10001") -> str:
        body = {
            "fields": {
                "project": {"key": "TEST"},
                "issuetype": {"id": issue_type_id},
                "summary": summary,
            }
        }
        response = self._jira().post(f"{JIRA_OPERATOR}/issues", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    def edit_record_as_user(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        response = self._salesforce().patch(
            f"{SALESFORCE_OPERATOR}/records/{sobject}/{record_id}", json=dict(values)
        )
        assert response.status_code < 300, response.text

    def record(self, sobject: str, record_id: str) -> dict[str, Any]:
        document = self.sandbox.salesforce.records.get_live(
            sobject, normalize_id(record_id, sobject=sobject)
        )
        assert document is not None
        return dict(document)

    # -- call counts ------------------------------------------------------------------------

    def clear_logs(self) -> None:
        self.sandbox.jira.operator.clear_log()
        self.sandbox.salesforce.operator.clear_log()

    def jira_calls(self) -> dict[str, int]:
        return dict(self.sandbox.jira.operator.counts())

    def salesforce_data_calls(self) -> dict[str, int]:
        return {
            route: count
            for route, count in self.sandbox.salesforce.operator.counts().items()
            if "/services/data/" in route
        }

    @staticmethod
    def writes(counts: Mapping[str, int]) -> int:
        return sum(n for route, n in counts.items() if not route.startswith("GET "))

    # -- plumbing ---------------------------------------------------------------------------

    def _jira(self) -> httpx2.Client:
        credentials = self.sandbox.jira.credentials
        return httpx2.Client(
            transport=app_transport(self.sandbox.jira.app),
            base_url="https://sandbox.atlassian.net",
            auth=(credentials["email"], credentials["api_token"]),
        )

    def _salesforce(self) -> httpx2.Client:
        return httpx2.Client(
            transport=app_transport(self.sandbox.salesforce.app),
            base_url="https://sandbox.my.salesforce.com",
        )
