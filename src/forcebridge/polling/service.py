"""Salesforce → Jira change capture by polling (no Apex, any edition with API access).

Per connection and object that has ``autoPull`` associations (on a connection with
``allow_auto_pull``), a ``poll.salesforce`` job runs every ``poll_interval_seconds``. Each chunk of
at most 200 associated record ids costs exactly ONE Salesforce API call: a ``POST /composite``
(Salesforce counts it as one request; at most 5 of its subrequests may be queries) holding

- the records, through ``queryAll`` so that deleted ones come back with ``IsDeleted = true``::

      SELECT Id, SystemModstamp, IsDeleted FROM <object>
      WHERE Id IN (<ids>) AND (SystemModstamp > <since> OR IsDeleted = true [OR Id IN (<flagged>)])

  (``flagged``: records whose associations are flagged as deleted, read every time so that a
  restore is seen even when it does not move ``SystemModstamp`` past the watermark);
- their new or edited comments, which do not move the parent's ``SystemModstamp``:
  ``CaseComment`` (Cases) or Chatter ``FeedItem`` text posts (other objects), as
  :func:`forcebridge.sync.comments.salesforce_comment_object` decides;
- their new files (``ContentDocumentLink`` by ``LinkedEntityId``), when the connection syncs
  attachments.

``since`` is the watermark minus the overlap window (default 60 s), which re-reads changes whose
transaction committed after a later-stamped one was already read. ``SystemModstamp`` moves on
every change, including system ones, and is indexed. The watermark is the newest
``SystemModstamp`` seen in any subrequest (Salesforce's clock, not ours). Each (record,
SystemModstamp) is turned into jobs once (``polled_changes``; a comment or file counts as a
change of its parent record at the child's ``SystemModstamp``), so the overlap costs no duplicate
pulls. Found changes become ``sync.pull`` jobs ``{association_id, salesforce_id, modstamp}``,
coalesced per association. Deleted and restored records are handed to
:mod:`forcebridge.polling.deletions` (flag or unlink; clear the flag). The watermark, the dedupe
rows, the flags and the jobs are written in one transaction: a worker killed mid-poll polls again
from the old watermark.

A first poll starts at "now": changes older than the association are the association's own
initial sync, not polling's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from forcebridge.connections.clients import clients_for
from forcebridge.container import Container
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.metrics import automation_metrics
from forcebridge.jobs.models import PolledChange, PollWatermark
from forcebridge.jobs.service import enqueue
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association, Connection
from forcebridge.polling.deletions import handle_deleted_record, handle_restored_record
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.comments import CASE_COMMENT, salesforce_comment_object
from forcebridge.webhooks.processing import association_key

log = structlog.get_logger("forcebridge.polling")

POLL_JOB = "poll.salesforce"
SYNC_PULL_JOB = "sync.pull"
MAX_IDS_PER_QUERY = 200

# Composite reference ids of the poll's subrequests, and the field naming each row's record.
RECORDS_REFERENCE = "records"
COMMENTS_REFERENCE = "comments"
FILES_REFERENCE = "files"
PARENT_FIELDS = {
    RECORDS_REFERENCE: "Id",
    COMMENTS_REFERENCE: "ParentId",
    FILES_REFERENCE: "LinkedEntityId",
}
RECORDS_QUERY = (
    "SELECT Id, SystemModstamp, IsDeleted FROM {:identifier} "
    "WHERE Id IN {} AND (SystemModstamp > {} OR IsDeleted = true)"
)
RECORDS_QUERY_WITH_FLAGGED = (
    "SELECT Id, SystemModstamp, IsDeleted FROM {:identifier} "
    "WHERE Id IN {} AND (SystemModstamp > {} OR IsDeleted = true OR Id IN {})"
)
CASE_COMMENTS_QUERY = (
    "SELECT ParentId, SystemModstamp FROM CaseComment WHERE ParentId IN {} AND SystemModstamp > {}"
)
# Only text posts: the kind of feed item comment sync copies (sync/comments.py).
FEED_ITEMS_QUERY = (
    "SELECT ParentId, SystemModstamp FROM FeedItem "
    "WHERE ParentId IN {} AND SystemModstamp > {} AND Type = 'TextPost'"
)
# Salesforce requires ContentDocumentLink queries to filter on LinkedEntityId (or the document).
FILES_QUERY = (
    "SELECT LinkedEntityId, SystemModstamp FROM ContentDocumentLink "
    "WHERE LinkedEntityId IN {} AND SystemModstamp > {}"
)


def poll_key(connection_id: str, salesforce_object: str) -> str:
    return f"poll:{connection_id}:{salesforce_object}"


def polled_objects(session: Session) -> list[tuple[str, str]]:
    """(connection id, object) pairs with at least one association to auto-pull, or flagged as
    deleted in Salesforce (polled so that the record's restore is seen)."""
    rows = session.execute(
        select(Association.connection_id, Association.salesforce_object)
        .join(Connection, Connection.id == Association.connection_id)
        .where(
            or_(Association.auto_pull.is_(True), Association.salesforce_deleted_at.is_not(None)),
            Connection.allow_auto_pull.is_(True),
            Connection.allow_modification.is_(True),
        )
        .distinct()
        .order_by(Association.connection_id, Association.salesforce_object)
    )
    return [(row[0], row[1]) for row in rows]


def schedule_polls(container: Container, settings: JobSettings, now: datetime) -> int:
    """Enqueue a poll for every polled object whose interval has passed (the sweeper calls this)."""
    scheduled = 0
    interval = timedelta(seconds=settings.poll_interval_seconds)
    with container.session() as session:
        for connection_id, salesforce_object in polled_objects(session):
            watermark = _watermark(session, connection_id, salesforce_object, now)
            if watermark.next_poll_at > now:
                continue
            watermark.next_poll_at = now + interval
            enqueue(
                session,
                POLL_JOB,
                {"connection_id": connection_id, "salesforce_object": salesforce_object},
                connection_id=connection_id,
                coalesce_key=poll_key(connection_id, salesforce_object),
                now=now,
            )
            scheduled += 1
    return scheduled


def poll_object(context: JobContext) -> None:
    """The ``poll.salesforce`` job: read changed associated records, enqueue their pulls."""
    settings = context.settings
    container = context.container
    connection_id = str(context.payload.get("connection_id", ""))
    salesforce_object = str(context.payload.get("salesforce_object", ""))
    with container.session() as session:
        connection = session.get(Connection, connection_id)
        watermark = session.get(PollWatermark, (connection_id, salesforce_object))
        if (
            connection is None
            or not connection.allow_auto_pull
            or not connection.allow_modification
        ):
            return
        record_ids, flagged_ids = _polled_ids(session, connection_id, salesforce_object)
        since = (watermark.watermark if watermark else container.clock()) - timedelta(
            seconds=settings.poll_overlap_seconds
        )
    if not record_ids:
        return
    observed = PollObservations()
    with clients_for(container, connection) as clients:
        for batch in poll_batches(
            salesforce_object,
            since,
            record_ids,
            flagged_ids=flagged_ids,
            with_files=connection.sync_attachments,
        ):
            results = clients.salesforce.composite_queries(
                batch, include_deleted=(RECORDS_REFERENCE,)
            )
            observed.add(results)
    _record_changes(context, connection_id, salesforce_object, observed, flagged_ids, settings)


@dataclass
class PollObservations:
    """What one poll read: changed records (own or child change), deleted and live records."""

    changes: list[tuple[str, datetime]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    live: set[str] = field(default_factory=set)
    newest: datetime | None = None

    def add(self, results: Mapping[str, list[dict[str, Any]]]) -> None:
        for reference, rows in results.items():
            parent_field = PARENT_FIELDS[reference]
            for row in rows:
                modstamp = parse_salesforce_datetime(row.get("SystemModstamp"))
                record_id = row.get(parent_field)
                if modstamp is None or not isinstance(record_id, str):
                    continue
                if self.newest is None or modstamp > self.newest:
                    self.newest = modstamp
                if reference == RECORDS_REFERENCE and row.get("IsDeleted") is True:
                    self.deleted.add(record_id)
                    continue
                if reference == RECORDS_REFERENCE:
                    self.live.add(record_id)
                self.changes.append((record_id, modstamp))


def _record_changes(
    context: JobContext,
    connection_id: str,
    salesforce_object: str,
    observed: PollObservations,
    flagged_ids: set[str],
    settings: JobSettings,
) -> None:
    container = context.container
    now = container.clock()
    new_changes = 0
    with container.session() as session:
        connection = session.get(Connection, connection_id)
        if connection is None:
            return
        watermark = _watermark(session, connection_id, salesforce_object, now)
        for record_id in sorted(observed.deleted):
            handle_deleted_record(
                session,
                connection,
                salesforce_object,
                record_id,
                trigger="poll",
                now=now,
                in_recycle_bin=True,
            )
        restored: set[str] = set()
        for record_id in sorted(observed.live & flagged_ids):
            if handle_restored_record(
                session, connection_id, salesforce_object, record_id, trigger="poll", now=now
            ):
                restored.add(record_id)
        to_pull: dict[str, datetime] = {}
        for record_id, modstamp in observed.changes:
            if session.get(PolledChange, (connection_id, record_id, modstamp)) is not None:
                continue  # read again through the overlap window
            session.add(
                PolledChange(
                    connection_id=connection_id,
                    salesforce_id=record_id,
                    modstamp=modstamp,
                    salesforce_object=salesforce_object,
                    seen_at=now,
                )
            )
            session.flush()  # a record and its comment may share a SystemModstamp
            new_changes += 1
            if record_id not in to_pull or modstamp > to_pull[record_id]:
                to_pull[record_id] = modstamp
        # A restored record is pulled even when its SystemModstamp was seen before it was
        # deleted (a record made visible again to the integration user does not move it).
        for record_id in restored - set(to_pull):
            to_pull[record_id] = max(
                (stamp for changed, stamp in observed.changes if changed == record_id),
                default=now,
            )
        for record_id, modstamp in sorted(to_pull.items()):
            for association_id in _auto_pull_associations(session, connection_id, record_id):
                enqueue(
                    session,
                    SYNC_PULL_JOB,
                    {
                        "association_id": association_id,
                        "salesforce_id": record_id,
                        "modstamp": modstamp.isoformat(),
                    },
                    connection_id=connection_id,
                    coalesce_key=association_key(association_id),
                    now=now,
                )
        if observed.newest is not None and observed.newest > watermark.watermark:
            watermark.watermark = observed.newest
        watermark.last_polled_at = now
        # Dedupe rows older than the overlap window can never be read again.
        forget_before = watermark.watermark - timedelta(seconds=settings.poll_overlap_seconds + 1)
        session.execute(
            delete(PolledChange).where(
                PolledChange.connection_id == connection_id,
                PolledChange.salesforce_object == salesforce_object,
                PolledChange.modstamp < forget_before,
            )
        )
    if new_changes:
        automation_metrics(container.metrics).polled_changes.labels(
            salesforce_object=salesforce_object
        ).inc(new_changes)
        log.info(
            "polling.changes",
            connection_id=connection_id,
            salesforce_object=salesforce_object,
            changes=new_changes,
        )


def _polled_ids(
    session: Session, connection_id: str, salesforce_object: str
) -> tuple[list[str], set[str]]:
    """Ids to poll (records with an auto-pull or a flagged association) and the flagged ones."""
    rows = session.execute(
        select(Association.salesforce_id, Association.salesforce_deleted_at).where(
            Association.connection_id == connection_id,
            Association.salesforce_object == salesforce_object,
            or_(Association.auto_pull.is_(True), Association.salesforce_deleted_at.is_not(None)),
        )
    ).all()
    record_ids = sorted({row[0] for row in rows})
    flagged = {row[0] for row in rows if row[1] is not None}
    return record_ids, flagged


def _auto_pull_associations(session: Session, connection_id: str, salesforce_id: str) -> list[str]:
    """Associations of the record to pull automatically (flagged ones are left alone)."""
    return list(
        session.scalars(
            select(Association.id)
            .where(
                Association.connection_id == connection_id,
                Association.salesforce_id == salesforce_id,
                Association.auto_pull.is_(True),
                Association.salesforce_deleted_at.is_(None),
            )
            .order_by(Association.created_at, Association.id)
        )
    )


def poll_batches(
    salesforce_object: str,
    since: datetime,
    record_ids: Sequence[str],
    *,
    flagged_ids: Collection[str] = (),
    with_files: bool = True,
) -> Iterator[dict[str, str]]:
    """The poll's queries, one composite request (reference → SOQL) per chunk of ≤ 200 ids.

    The queries travel in the composite request's body, so no URL length limit applies to them
    (SOQL statements may be 100,000 characters long); 200 ids keep each well below that.
    """
    for start in range(0, len(record_ids), MAX_IDS_PER_QUERY):
        chunk = list(record_ids[start : start + MAX_IDS_PER_QUERY])
        flagged = [record_id for record_id in chunk if record_id in flagged_ids]
        batch = {
            RECORDS_REFERENCE: (
                format_soql(RECORDS_QUERY_WITH_FLAGGED, salesforce_object, chunk, since, flagged)
                if flagged
                else format_soql(RECORDS_QUERY, salesforce_object, chunk, since)
            )
        }
        comment_object = salesforce_comment_object(salesforce_object)
        batch[COMMENTS_REFERENCE] = format_soql(
            CASE_COMMENTS_QUERY if comment_object == CASE_COMMENT else FEED_ITEMS_QUERY,
            chunk,
            since,
        )
        if with_files:
            batch[FILES_REFERENCE] = format_soql(FILES_QUERY, chunk, since)
        yield batch


def parse_salesforce_datetime(value: object) -> datetime | None:
    """``2026-01-17T12:34:56.000+0000`` (Salesforce's REST form) as an aware UTC datetime."""
    if not isinstance(value, str):
        return None
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(value.replace("Z", "+0000"), pattern).astimezone(UTC)
        except ValueError:
            continue
    return None


def register_handlers(registry: HandlerRegistry) -> None:
    registry.register(POLL_JOB, poll_object)
    registry.register_periodic(schedule_polls)


def _watermark(
    session: Session, connection_id: str, salesforce_object: str, now: datetime
) -> PollWatermark:
    """The object's poll watermark, created (at ``now``, due now) on first use."""
    watermark = session.get(PollWatermark, (connection_id, salesforce_object))
    if watermark is None:
        watermark = PollWatermark(
            connection_id=connection_id,
            salesforce_object=salesforce_object,
            watermark=now,
            next_poll_at=now,
        )
        session.add(watermark)
    return watermark
