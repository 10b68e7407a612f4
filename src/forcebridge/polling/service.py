"""Salesforce → Jira change capture by polling (no Apex, any edition with API access).

Per connection and object that has ``autoPull`` associations (on a connection with
``allow_auto_pull``), a ``poll.salesforce`` job runs every ``poll_interval_seconds``:

    SELECT Id, SystemModstamp FROM <object>
    WHERE SystemModstamp > <watermark - overlap> AND Id IN (<≤ 200 associated ids>)

``SystemModstamp`` moves on every change, including system ones, and is indexed. The watermark is
the newest ``SystemModstamp`` seen (Salesforce's clock, not ours); the overlap window (default 60 s)
re-reads changes whose transaction committed after a later-stamped one was already read. Each
(record, SystemModstamp) is turned into jobs once (``polled_changes``), so the overlap costs no
duplicate pulls. Found changes become ``sync.pull`` jobs ``{association_id, salesforce_id,
modstamp}``, coalesced per association. The watermark, the dedupe rows and the jobs are written in
one transaction: a worker killed mid-poll polls again from the old watermark.

A first poll starts at "now": changes older than the association are the association's own
initial sync, not polling's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import structlog
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from forcebridge.connections.clients import clients_for
from forcebridge.container import Container
from forcebridge.jobs.handlers import HandlerRegistry, JobContext
from forcebridge.jobs.metrics import automation_metrics
from forcebridge.jobs.models import PolledChange, PollWatermark
from forcebridge.jobs.service import enqueue
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association, Connection
from forcebridge.salesforce.soql import format_soql
from forcebridge.webhooks.processing import association_key

log = structlog.get_logger("forcebridge.polling")

POLL_JOB = "poll.salesforce"
SYNC_PULL_JOB = "sync.pull"
MAX_IDS_PER_QUERY = 200
MAX_ENCODED_QUERY_LENGTH = 3500
POLL_QUERY = (
    "SELECT Id, SystemModstamp FROM {:identifier} "
    "WHERE SystemModstamp > {} AND Id IN {} ORDER BY SystemModstamp"
)


def poll_key(connection_id: str, salesforce_object: str) -> str:
    return f"poll:{connection_id}:{salesforce_object}"


def polled_objects(session: Session) -> list[tuple[str, str]]:
    """(connection id, object) pairs that have at least one association to auto-pull."""
    rows = session.execute(
        select(Association.connection_id, Association.salesforce_object)
        .join(Connection, Connection.id == Association.connection_id)
        .where(
            Association.auto_pull.is_(True),
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
        record_ids = _auto_pull_ids(session, connection_id, salesforce_object)
        since = (watermark.watermark if watermark else container.clock()) - timedelta(
            seconds=settings.poll_overlap_seconds
        )
    if not record_ids:
        return
    changes: list[tuple[str, datetime]] = []
    with clients_for(container, connection) as clients:
        for soql in poll_queries(salesforce_object, since, record_ids):
            for record in clients.salesforce.query(soql):
                modstamp = parse_salesforce_datetime(record.get("SystemModstamp"))
                record_id = record.get("Id")
                if modstamp is not None and isinstance(record_id, str):
                    changes.append((record_id, modstamp))
    _record_changes(context, connection_id, salesforce_object, changes, settings)


def _record_changes(
    context: JobContext,
    connection_id: str,
    salesforce_object: str,
    changes: list[tuple[str, datetime]],
    settings: JobSettings,
) -> None:
    container = context.container
    now = container.clock()
    new_changes = 0
    with container.session() as session:
        watermark = _watermark(session, connection_id, salesforce_object, now)
        for record_id, modstamp in changes:
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
            new_changes += 1
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
        newest = max((modstamp for _, modstamp in changes), default=None)
        if newest is not None and newest > watermark.watermark:
            watermark.watermark = newest
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


def _auto_pull_ids(session: Session, connection_id: str, salesforce_object: str) -> list[str]:
    return list(
        session.scalars(
            select(Association.salesforce_id)
            .where(
                Association.connection_id == connection_id,
                Association.salesforce_object == salesforce_object,
                Association.auto_pull.is_(True),
            )
            .distinct()
            .order_by(Association.salesforce_id)
        )
    )


def _auto_pull_associations(session: Session, connection_id: str, salesforce_id: str) -> list[str]:
    return list(
        session.scalars(
            select(Association.id)
            .where(
                Association.connection_id == connection_id,
                Association.salesforce_id == salesforce_id,
                Association.auto_pull.is_(True),
            )
            .order_by(Association.created_at, Association.id)
        )
    )


def poll_queries(
    salesforce_object: str, since: datetime, record_ids: Sequence[str]
) -> Iterator[str]:
    """The poll's SOQL, ids packed into as few ``IN`` lists as fit: at most 200 ids each, and a
    query whose URL-encoded form stays under :data:`MAX_ENCODED_QUERY_LENGTH` (the query goes in
    a GET's query string; Salesforce refuses URIs over 16 KB and our HTTP layer over 4 KB)."""
    chunk: list[str] = []
    for record_id in record_ids:
        candidate = [*chunk, record_id]
        if chunk and (
            len(candidate) > MAX_IDS_PER_QUERY
            or _encoded_length(salesforce_object, since, candidate) > MAX_ENCODED_QUERY_LENGTH
        ):
            yield format_soql(POLL_QUERY, salesforce_object, since, chunk)
            candidate = [record_id]
        chunk = candidate
    if chunk:
        yield format_soql(POLL_QUERY, salesforce_object, since, chunk)


def _encoded_length(salesforce_object: str, since: datetime, record_ids: list[str]) -> int:
    return len(urlencode({"q": format_soql(POLL_QUERY, salesforce_object, since, record_ids)}))


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
