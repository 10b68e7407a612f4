"""Salesforce outbound messages: the no-code, near-real-time way an org announces changed records.

An admin defines an outbound message in Salesforce (Setup → Outbound Messages, fired by a flow
or workflow rule) with the endpoint ``<public base URL>/webhooks/salesforce/<connection id>/
outbound-message``. Salesforce posts a SOAP ``notifications`` envelope and retries (for up to
24 hours) until it gets ``<Ack>true</Ack>``; outbound messages carry no signature, so the only
authentication is that the ``OrganizationId`` matches the org the connection signed in to.

Order (like the Jira webhook intake): size, parse (no DTD: the body is untrusted XML), org check,
then one transaction enqueueing a ``sync.pull`` per notified record with an autoPull association;
the Ack is sent only after it commits. A failure to store answers a SOAP fault with 500, so
Salesforce delivers again; a bad envelope answers a fault with 400 (retrying cannot fix it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from xml.sax.saxutils import escape

import structlog
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.jobs.queue import job_queue
from forcebridge.jobs.service import enqueue
from forcebridge.models import Association, Connection
from forcebridge.polling.service import SYNC_PULL_JOB
from forcebridge.salesforce.ids import normalize_id
from forcebridge.webhooks.processing import association_key

log = structlog.get_logger("forcebridge.webhooks.outbound_messages")

MAX_BODY_BYTES = 1024 * 1024
MAX_NOTIFICATIONS = 100  # Salesforce batches at most 100 notifications per message
SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


class OutboundMessageRejected(Exception):
    """Answered as a SOAP fault with ``status``; ``fault_code`` is ``Client`` or ``Server``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fault_code = "Server" if status >= 500 else "Client"


@dataclass(frozen=True)
class NotifiedRecord:
    notification_id: str
    salesforce_object: str
    salesforce_id: str
    modstamp: str | None


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str | None
    records: list[NotifiedRecord]


def parse_outbound_message(body: bytes) -> OutboundMessage:
    """The notifications of a SOAP envelope; ``OutboundMessageRejected`` (400) if malformed."""
    # A DTD could define entities that expand without bound or read local files: an outbound
    # message never has one, so any is refused.
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise OutboundMessageRejected(400, "DTDs are not accepted in outbound messages.") from None
    except ParseError as error:
        raise OutboundMessageRejected(400, f"The body is not well-formed XML: {error}") from None
    if root.tag != f"{{{SOAP_ENVELOPE_NS}}}Envelope":
        raise OutboundMessageRejected(400, "The body is not a SOAP 1.1 envelope.")
    notifications = root.find(f"{{{SOAP_ENVELOPE_NS}}}Body/{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise OutboundMessageRejected(400, "The envelope holds no outbound-message notifications.")
    organization_id = (notifications.findtext(f"{{{OUTBOUND_NS}}}OrganizationId") or "").strip()
    if len(organization_id) not in (15, 18) or not organization_id.isalnum():
        raise OutboundMessageRejected(400, "The notifications carry no valid OrganizationId.")
    records = []
    for notification in notifications.findall(f"{{{OUTBOUND_NS}}}Notification"):
        records.append(_notified_record(notification))
        if len(records) > MAX_NOTIFICATIONS:
            raise OutboundMessageRejected(
                400, f"More than {MAX_NOTIFICATIONS} notifications in one message."
            )
    return OutboundMessage(
        organization_id=organization_id,
        action_id=notifications.findtext(f"{{{OUTBOUND_NS}}}ActionId"),
        records=records,
    )


def _notified_record(notification: Any) -> NotifiedRecord:
    sobject = notification.find(f"{{{OUTBOUND_NS}}}sObject")
    record_id = (
        (sobject.findtext(f"{{{SOBJECT_NS}}}Id") or "").strip() if sobject is not None else ""
    )
    declared_type = sobject.get(f"{{{XSI_NS}}}type", "") if sobject is not None else ""
    salesforce_object = declared_type.rpartition(":")[2]
    if not record_id or not salesforce_object.replace("_", "").isalnum():
        raise OutboundMessageRejected(400, "A notification has no sObject type or Id.")
    try:
        canonical_id = normalize_id(record_id)
    except Exception:  # the ids helper raises ForceBridge's validation error: same answer
        raise OutboundMessageRejected(400, f"{record_id!r} is not a Salesforce id.") from None
    modstamp = sobject.findtext(f"{{{SOBJECT_NS}}}SystemModstamp") if sobject is not None else None
    return NotifiedRecord(
        notification_id=(notification.findtext(f"{{{OUTBOUND_NS}}}Id") or "").strip(),
        salesforce_object=salesforce_object,
        salesforce_id=canonical_id,
        modstamp=modstamp,
    )


def accept_outbound_message(container: Container, connection_id: str, body: bytes) -> int:
    """Check, then enqueue the pulls in one transaction; returns how many jobs were enqueued."""
    message = parse_outbound_message(body)
    try:
        with container.session() as session:
            connection = session.get(Connection, connection_id)
            expected = connection.salesforce_organization_id if connection else None
            # 15 and 18-character forms of one id share their first 15 characters.
            if not expected or expected[:15] != message.organization_id[:15]:
                raise OutboundMessageRejected(
                    403, "The OrganizationId is not the org of this connection."
                )
            if not (connection and connection.allow_auto_pull and connection.allow_modification):
                return 0
            return _enqueue_pulls(session, connection_id, message.records)
    except SQLAlchemyError:
        log.warning("outbound_message.store_failed", connection_id=connection_id, exc_info=True)
        raise OutboundMessageRejected(
            500, "The notification could not be stored; deliver it again later."
        ) from None


def _enqueue_pulls(session: Session, connection_id: str, records: list[NotifiedRecord]) -> int:
    if not records:
        return 0
    associations = session.execute(
        select(Association.id, Association.salesforce_id).where(
            Association.connection_id == connection_id,
            Association.salesforce_id.in_({record.salesforce_id for record in records}),
            Association.auto_pull.is_(True),
        )
    ).all()
    by_record: dict[str, list[str]] = {}
    for association_id, salesforce_id in associations:
        by_record.setdefault(salesforce_id, []).append(association_id)
    enqueued = 0
    for record in records:
        for association_id in by_record.get(record.salesforce_id, []):
            enqueue(
                session,
                SYNC_PULL_JOB,
                {
                    "association_id": association_id,
                    "salesforce_id": record.salesforce_id,
                    "modstamp": record.modstamp,
                },
                connection_id=connection_id,
                coalesce_key=association_key(association_id),
            )
            enqueued += 1
    return enqueued


# -- SOAP answers ---------------------------------------------------------------------------

ACK_BODY = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


def soap_fault(fault_code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENVELOPE_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:{fault_code}</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def _xml(body: str, status: int) -> Response:
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/salesforce/{connection_id}/outbound-message",
    summary="Receive a Salesforce outbound message (SOAP); acknowledged once stored.",
    response_class=Response,
    responses={
        200: {"description": "`<Ack>true</Ack>`: every notified autoPull association queued."},
        400: {"description": "SOAP fault: not an outbound-message envelope."},
        403: {"description": "SOAP fault: the OrganizationId is not the connection's org."},
        413: {"description": "SOAP fault: body over 1 MiB."},
        500: {"description": "SOAP fault: could not be stored; Salesforce retries."},
    },
)
async def receive_outbound_message(
    request: Request, connection_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> Response:
    container: Container = request.app.state.container
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_BODY_BYTES:
            return _xml(soap_fault("Client", "Outbound messages are limited to 1 MiB."), 413)
    try:
        enqueued = await run_in_threadpool(_accept, container, connection_id, bytes(body))
    except OutboundMessageRejected as rejected:
        log.info("outbound_message.rejected", connection_id=connection_id, status=rejected.status)
        return _xml(soap_fault(rejected.fault_code, rejected.message), rejected.status)
    log.info("outbound_message.accepted", connection_id=connection_id, pulls=enqueued)
    return _xml(ACK_BODY, 200)


def _accept(container: Container, connection_id: str, body: bytes) -> int:
    job_queue(container)  # committed jobs go to the queue at once (built on first use)
    return accept_outbound_message(container, connection_id, body)
