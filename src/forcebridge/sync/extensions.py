"""Comment and attachment sync, plugged into the single read of each push and pull.

The field engine reads the issue or the record once; this module adds what
:mod:`forcebridge.sync.comments` and :mod:`forcebridge.sync.attachments` need to that read
(``comment``/``attachment`` fields, child subqueries) and hands them the data already read, so
comments and files cost no extra read. Comments are synced on every connection (the connection's
``comment_privacy`` filters them); attachments only when ``sync_attachments`` is on.

Their results are attached to each association's result as ``comments`` and ``attachments``.
A failure there is recorded on the result and never undoes the field sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from forcebridge.errors import ForceBridgeError
from forcebridge.models import Association, Connection
from forcebridge.sync import attachments, comments
from forcebridge.sync.results import AssociationResult, error_to_wire

if TYPE_CHECKING:
    from forcebridge.sync.context import SyncContext
    from forcebridge.sync.push import PlannedWrite


def issue_fields(connection: Connection) -> list[str]:
    """Extra fields for the push's issue read."""
    fields = list(comments.comment_fields())
    if connection.sync_attachments:
        fields.extend(attachments.attachment_fields())
    return fields


def record_subqueries(connection: Connection, salesforce_object: str) -> list[str]:
    """Extra child subqueries for the pull's record read."""
    subqueries = list(comments.comment_subqueries(salesforce_object))
    if connection.sync_attachments:
        subqueries.extend(attachments.attachment_subqueries(salesforce_object))
    return subqueries


def push_extras(context: SyncContext, plans: Sequence[PlannedWrite], issue: dict[str, Any]) -> None:
    """Comments and files of ``issue`` to each planned record."""
    if not issue_has_extras(issue, context.connection):
        return
    account_id = context.metadata.jira_account_id(
        context.connection_id, lambda: str(context.jira.myself().get("accountId", ""))
    )
    for plan in plans:
        _run(
            context,
            plan.association.id,
            plan.result,
            lambda session, association: comments.push_comments(
                session,
                connection=context.connection,
                association=association,
                issue=issue,
                salesforce=context.salesforce,
                jira_account_id=account_id,
                jira=context.jira,
            ),
            "comments",
        )
        if context.connection.sync_attachments:
            _run(
                context,
                plan.association.id,
                plan.result,
                lambda session, association: attachments.push_attachments(
                    session,
                    connection=context.connection,
                    association=association,
                    issue=issue,
                    jira=context.jira,
                    salesforce=context.salesforce,
                ),
                "attachments",
            )


def pull_extras(
    context: SyncContext, association_id: str, result: AssociationResult, record: dict[str, Any]
) -> None:
    """Comments and files of ``record`` to the associated issue."""
    _run(
        context,
        association_id,
        result,
        lambda session, association: comments.pull_comments(
            session,
            connection=context.connection,
            association=association,
            record=record,
            jira=context.jira,
            # The integration user's Salesforce id is not exposed by the auth layer; the link
            # table alone keeps our own copies from echoing back.
            salesforce_user_id="",
        ),
        "comments",
    )
    if context.connection.sync_attachments:
        _run(
            context,
            association_id,
            result,
            lambda session, association: attachments.pull_attachments(
                session,
                connection=context.connection,
                association=association,
                record=record,
                jira=context.jira,
                salesforce=context.salesforce,
            ),
            "attachments",
        )


def issue_has_extras(issue: dict[str, Any], connection: Connection) -> bool:
    """Whether ``issue`` (as read with :func:`issue_fields`) has comments or files to look at."""
    fields = issue.get("fields") or {}
    comment_page = fields.get("comment")
    has_comments = isinstance(comment_page, dict) and bool(comment_page.get("comments"))
    has_files = connection.sync_attachments and bool(fields.get("attachment"))
    return has_comments or has_files


def _run(
    context: SyncContext,
    association_id: str,
    result: AssociationResult,
    action: Any,
    name: str,
) -> None:
    try:
        with context.container.session() as session:
            association = session.get(Association, association_id)
            if association is None:
                return
            outcome = action(session, association)
    except ForceBridgeError as error:
        result.extras[name] = {"error": error_to_wire(error)}
        return
    result.extras[name] = extras_wire(outcome)


def extras_wire(
    outcome: comments.CommentSyncResult | attachments.AttachmentSyncResult,
) -> dict[str, Any]:
    """A comment or attachment result as it is stored on the association's sync result."""
    wire = asdict(outcome)
    wire["skipped"] = [{"id": item[0], "reason": item[1]} for item in wire.get("skipped", [])]
    return wire
