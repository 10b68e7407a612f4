"""Builders shared by the comment and attachment sync tests (no tests here).

A :class:`SyncWorld` is one connection to the in-process sandboxes with one association between
TEST-1 and a seeded record. People act through the sandboxes' own "as a user" paths (Alice in
Jira, the Sandbox Agent in Salesforce), so their comments and files are not ForceBridge's.
ForceBridge reads and writes through the real clients, as the sync engine does.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from sqlalchemy.orm import Session

from builders import create_sandbox_connection
from forcebridge.connections.clients import ConnectionClients, clients_for
from forcebridge.container import Container
from forcebridge.jira.adf import text_to_adf
from forcebridge.models import Association, Connection
from forcebridge.salesforce.soql import format_soql
from forcebridge.sandbox.jira.issues import Context
from forcebridge.sandbox.jira.seed import ALICE_ACCOUNT_ID
from forcebridge.sandbox.testing import salesforce_transport
from forcebridge.sync.attachments import (
    AttachmentSyncResult,
    attachment_fields,
    attachment_subqueries,
    pull_attachments,
    push_attachments,
)
from forcebridge.sync.comments import (
    CommentSyncResult,
    comment_fields,
    comment_subqueries,
    pull_comments,
    push_comments,
)

JIRA_URL = "https://sandbox.atlassian.net"
ISSUE_KEY = "TEST-1"


@dataclass
class SyncWorld:
    container: Container
    sandbox: Any
    connection_id: str
    association_id: str
    salesforce_object: str
    record_id: str
    issue_id: str
    clients: ConnectionClients

    # -- what the sync engine does: one read, then the comment/attachment step ---------------

    def read_issue(self) -> dict[str, Any]:
        return self.clients.jira.get_issue(
            ISSUE_KEY, fields=[*comment_fields(), *attachment_fields()]
        )

    def read_record(self) -> dict[str, Any]:
        subqueries = ", ".join(
            [
                *comment_subqueries(self.salesforce_object),
                *attachment_subqueries(self.salesforce_object),
            ]
        )
        soql = format_soql(
            "SELECT Id, " + subqueries + " FROM " + self.salesforce_object + " WHERE Id = {}",
            self.record_id,
        )
        return next(iter(self.clients.salesforce.query(soql)))

    @contextmanager
    def rows(self) -> Iterator[tuple[Session, Connection, Association]]:
        with self.container.session() as session:
            connection = session.get(Connection, self.connection_id)
            association = session.get(Association, self.association_id)
            assert connection is not None and association is not None
            yield session, connection, association

    def push_comments(self) -> CommentSyncResult:
        issue = self.read_issue()
        with self.rows() as (session, connection, association):
            return push_comments(
                session,
                connection=connection,
                association=association,
                issue=issue,
                salesforce=self.clients.salesforce,
                jira_account_id=self.sandbox.jira.credentials["account_id"],
            )

    def pull_comments(self) -> CommentSyncResult:
        record = self.read_record()
        with self.rows() as (session, connection, association):
            return pull_comments(
                session,
                connection=connection,
                association=association,
                record=record,
                jira=self.clients.jira,
                salesforce_user_id=self.sandbox.salesforce.integration_user_id,
            )

    def push_attachments(self, **options: Any) -> AttachmentSyncResult:
        issue = self.read_issue()
        with self.rows() as (session, connection, association):
            return push_attachments(
                session,
                connection=connection,
                association=association,
                issue=issue,
                jira=self.clients.jira,
                salesforce=self.clients.salesforce,
                **options,
            )

    def pull_attachments(self, **options: Any) -> AttachmentSyncResult:
        record = self.read_record()
        with self.rows() as (session, connection, association):
            return pull_attachments(
                session,
                connection=connection,
                association=association,
                record=record,
                jira=self.clients.jira,
                salesforce=self.clients.salesforce,
                **options,
            )

    def set_connection(self, **values: Any) -> None:
        with self.rows() as (_, connection, _association):
            for name, value in values.items():
                setattr(connection, name, value)

    # -- people acting in each product ----------------------------------------------------

    def jira_comment(self, text: str, *, restricted: bool = False) -> str:
        issues = self.sandbox.jira.issues
        payload: dict[str, Any] = {"body": text_to_adf(text)}
        if restricted:
            payload["visibility"] = {"type": "role", "value": "Developers"}
        comment = issues.add_comment(self.as_alice(), issues.require(ISSUE_KEY), payload, "3")
        return str(comment["id"])

    def edit_jira_comment(self, comment_id: str, text: str) -> None:
        issues = self.sandbox.jira.issues
        issues.update_comment(
            self.as_alice(), issues.require(ISSUE_KEY), comment_id, {"body": text_to_adf(text)}, "3"
        )

    def jira_attachment(self, filename: str, content: bytes) -> str:
        response = self._jira_operator().post(
            f"/__sandbox/jira/issues/{ISSUE_KEY}/edit",
            json={
                "attachment": {
                    "filename": filename,
                    "content_base64": base64.b64encode(content).decode(),
                }
            },
        )
        assert response.status_code == 200, response.text
        attachments = response.json()["fields"]["attachment"]
        return str(max(attachments, key=lambda item: int(item["id"]))["id"])

    def salesforce_comment(self, text: str, *, published: bool = True) -> str:
        return self.salesforce_as_agent(
            "POST",
            "CaseComment",
            {"ParentId": self.record_id, "CommentBody": text, "IsPublished": published},
        )["id"]

    def salesforce_post(self, text: str) -> str:
        return self.salesforce_as_agent(
            "POST", "FeedItem", {"ParentId": self.record_id, "Body": text, "Type": "TextPost"}
        )["id"]

    def salesforce_file(self, filename: str, content: bytes) -> str:
        """A File uploaded by the agent on the record; returns its ContentDocument id."""
        title = filename.rsplit(".", 1)[0]
        version = self.salesforce_as_agent(
            "POST",
            "ContentVersion",
            {
                "Title": title,
                "PathOnClient": filename,
                "VersionData": base64.b64encode(content).decode(),
                "FirstPublishLocationId": self.record_id,
            },
        )
        document = self.salesforce.records.get("ContentVersion", version["id"])
        return str(document["ContentDocumentId"])

    def salesforce_as_agent(
        self, method: str, sobject: str, values: dict[str, Any], record_id: str | None = None
    ) -> dict[str, Any]:
        path = f"/__sandbox/salesforce/records/{sobject}" + (f"/{record_id}" if record_id else "")
        with httpx2.Client(
            base_url="https://sandbox.my.salesforce.com",
            transport=salesforce_transport(self.sandbox.salesforce),
        ) as http:
            response = http.request(method, path, json=values)
        assert response.status_code in (200, 201), response.text
        return response.json()

    # -- what each side holds ---------------------------------------------------------------

    @property
    def salesforce(self) -> Any:
        return self.sandbox.salesforce

    def salesforce_rows(self, sobject: str) -> list[dict[str, Any]]:
        parent = "LinkedEntityId" if sobject == "ContentDocumentLink" else "ParentId"
        return [
            row for row in self.salesforce.records.all(sobject) if row.get(parent) == self.record_id
        ]

    def jira_comments(self) -> list[dict[str, Any]]:
        return list(self.sandbox.jira.issues.require(ISSUE_KEY)["comments"])

    def jira_attachments(self) -> list[dict[str, Any]]:
        return list(self.read_issue()["fields"]["attachment"])

    def calls(self) -> dict[str, int]:
        """Vendor calls so far (OAuth sign-ins left out), ``"METHOD route"`` → count."""
        counts: dict[str, int] = {}
        for operator in (self.sandbox.jira.operator, self.sandbox.salesforce.operator):
            for endpoint, count in operator.counts().items():
                if "oauth2" not in endpoint:
                    counts[endpoint] = counts.get(endpoint, 0) + count
        return counts

    def clear_calls(self) -> None:
        self.sandbox.jira.operator.clear_log()
        self.sandbox.salesforce.operator.clear_log()

    def as_alice(self) -> Context:
        return Context(account_id=ALICE_ACCOUNT_ID, base_url=JIRA_URL)

    def _jira_operator(self) -> httpx2.Client:
        from forcebridge.sandbox.testing import jira_transport

        return httpx2.Client(base_url=JIRA_URL, transport=jira_transport(self.sandbox.jira))


def build_world(
    container: Container, sandbox: Any, *, salesforce_object: str = "Case", **settings: Any
) -> Iterator[SyncWorld]:
    """A connection (with ``settings``) and one association TEST-1 ↔ a seeded record."""
    connection = create_sandbox_connection(container, sandbox, settings=settings)
    # A record nobody has commented on yet, so every comment in a test is the test's own.
    commented = {str(row.get("ParentId")) for row in sandbox.salesforce.records.all("CaseComment")}
    record_id = next(
        str(row["Id"])
        for row in sandbox.salesforce.records.all(salesforce_object)
        if str(row["Id"]) not in commented
    )
    issue = sandbox.jira.issues.require(ISSUE_KEY)
    with container.session() as session:
        association = Association(
            connection_id=connection.id,
            jira_issue_id=str(issue["id"]),
            jira_issue_key=ISSUE_KEY,
            jira_project_id=str(issue.get("project_id") or "10000"),
            salesforce_object=salesforce_object,
            salesforce_id=record_id,
        )
        session.add(association)
        session.flush()
        association_id = association.id
    with clients_for(container, connection) as clients:
        world = SyncWorld(
            container=container,
            sandbox=sandbox,
            connection_id=connection.id,
            association_id=association_id,
            salesforce_object=salesforce_object,
            record_id=record_id,
            issue_id=str(issue["id"]),
            clients=clients,
        )
        yield world
