"""Turning a stored Jira webhook event into ``sync.push`` jobs (the ``webhook.jira_event`` job).

For an issue update, a comment event or an attachment event, every association of that issue with
``autoPush`` — on a connection whose ``allow_auto_push`` (and ``allow_modification``) is on — gets
a ``sync.push`` job ``{association_id, jira_issue_id, event_timestamp}``, coalesced per
association. Skipped, with the reason kept in ``webhook_events.outcome``:
- events older than the newest already applied for the issue (Jira delivers late and out of
  order: a stale body must not push old values over new ones);
- events caused by ForceBridge's own Jira account (an echo of our own write; the sync engine's
  value hashes suppress echoes too, this is the cheap fast path);
- event kinds that change nothing to push (issue created/deleted are not associated yet / gone).

Marking the event processed and enqueueing its pushes happen in one transaction, so a worker
killed in between redoes the whole step, and a processed event is never applied twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.models import IssueEventVersion, WebhookEvent, WebhookSecret
from forcebridge.jobs.service import enqueue
from forcebridge.models import Association, Connection
from forcebridge.webhooks.intake import PROCESS_EVENT_JOB

SYNC_PUSH_JOB = "sync.push"
PUSH_EVENTS = frozenset(
    {
        "jira:issue_updated",
        "comment_created",
        "comment_updated",
        "comment_deleted",
        "attachment_created",
        "attachment_deleted",
    }
)


def association_key(association_id: str) -> str:
    """The coalesce key of every sync job of one association (they run one at a time, in order)."""
    return f"association:{association_id}"


def process_jira_event(context: JobContext) -> None:
    event_id = context.payload.get("event_id")
    container = context.container
    with container.session() as session:
        event = session.get(WebhookEvent, event_id) if isinstance(event_id, str) else None
        if event is None or event.processed_at is not None:
            return  # deleted with its connection, or already applied by an earlier attempt
        event.outcome = _apply(session, event)
        event.processed_at = container.clock()


def _apply(session: Session, event: WebhookEvent) -> str:
    if event.webhook_event not in PUSH_EVENTS:
        return "ignored:event_kind"
    if not event.jira_issue_id:
        return "ignored:no_issue"
    connection = session.get(Connection, event.connection_id)
    if connection is None or not connection.allow_modification or not connection.allow_auto_push:
        return "ignored:auto_push_off"
    own_account = session.scalar(
        select(WebhookSecret.jira_account_id).where(
            WebhookSecret.connection_id == event.connection_id
        )
    )
    if own_account and _actor_account_id(event.payload) == own_account:
        return "ignored:echo"
    if event.event_timestamp is not None and not _is_newest(session, event):
        return "ignored:stale"
    associations = list(
        session.scalars(
            select(Association)
            .where(
                Association.connection_id == event.connection_id,
                Association.jira_issue_id == event.jira_issue_id,
                Association.auto_push.is_(True),
            )
            .order_by(Association.created_at, Association.id)
        )
    )
    for association in associations:
        enqueue(
            session,
            SYNC_PUSH_JOB,
            {
                "association_id": association.id,
                "jira_issue_id": event.jira_issue_id,
                "event_timestamp": event.event_timestamp,
            },
            connection_id=event.connection_id,
            coalesce_key=association_key(association.id),
        )
    return f"push:{len(associations)}" if associations else "ignored:no_auto_push_association"


def _is_newest(session: Session, event: WebhookEvent) -> bool:
    """Records the event's timestamp as the issue's newest; False if a newer one was applied."""
    assert event.jira_issue_id is not None and event.event_timestamp is not None
    version = session.get(IssueEventVersion, (event.connection_id, event.jira_issue_id))
    if version is None:
        session.add(
            IssueEventVersion(
                connection_id=event.connection_id,
                jira_issue_id=event.jira_issue_id,
                event_timestamp=event.event_timestamp,
            )
        )
        return True
    # Equal timestamps are distinct changes made in the same millisecond (a comment also
    # fires issue_updated): both are applied; the push jobs coalesce anyway.
    if event.event_timestamp < version.event_timestamp:
        return False
    version.event_timestamp = event.event_timestamp
    return True


def _actor_account_id(payload: dict[str, Any]) -> str | None:
    """Who made the change: ``user`` on issue events, the comment's author on comment events."""
    for path in (("user",), ("comment", "updateAuthor"), ("comment", "author")):
        node: Any = payload
        for step in path:
            node = node.get(step) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get("accountId"), str):
            return str(node["accountId"])
    return None


def register_handlers(registry: HandlerRegistry) -> None:
    registry.register(PROCESS_EVENT_JOB, process_jira_event)
