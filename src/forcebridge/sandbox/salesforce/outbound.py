"""Outbound messages: Salesforce's no-code change notifications, sent as SOAP to a listener URL.

An outbound message is defined per object (the fields to send, the endpoint URL, whether it fires
on create, on update or both). Each committed change of a matching record becomes one
``notifications`` envelope POSTed to the URL. A delivery counts as done only when the listener
answers 2xx with ``<Ack>true</Ack>``; otherwise it is retried after each of the configured delays
and then given up (a real org retries for 24 hours with growing intervals).

Deliveries run on one background thread per sandbox; ``wait_until_idle`` lets tests wait for them.
"""

from __future__ import annotations

import heapq
import itertools
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import httpx2

from forcebridge.sandbox.salesforce.ids import make_id
from forcebridge.sandbox.salesforce.records import ChangeEvent
from forcebridge.sandbox.storage import DocumentStore

_ACK = re.compile(rb"<(?:[\w.-]+:)?Ack>\s*true\s*</(?:[\w.-]+:)?Ack>", re.IGNORECASE)
_CONFIGURATIONS = "outbound:configuration"
MAX_LOGGED_DELIVERIES = 1000
MAX_NOTIFICATIONS_PER_MESSAGE = 100
SOAP_API_VERSION = "59.0"


@dataclass
class OutboundMessage:
    id: str
    name: str
    sobject: str
    fields: list[str]
    endpoint_url: str
    on_create: bool = True
    on_update: bool = True


@dataclass
class Delivery:
    id: str
    message_id: str
    record_ids: list[str]
    endpoint_url: str
    body: str
    status: str = "pending"  # pending | delivered | failed
    attempts: list[dict[str, Any]] = field(default_factory=list)


class OutboundMessenger:
    """Holds the definitions, turns change events into deliveries, and sends them with retries."""

    def __init__(
        self,
        store: DocumentStore,
        organization_id: Callable[[], str],
        transport: httpx2.BaseTransport | None,
        verify: str | bool,
        retry_delays: Sequence[float],
    ) -> None:
        self.store = store
        self._organization_id = organization_id
        self._retry_delays = list(retry_delays)
        self._transport = transport
        self._verify = verify
        # Created on first delivery: loading the CA bundle costs ~0.1 s, most sandboxes never send.
        self._client: httpx2.Client | None = None
        self._lock = threading.Condition()
        self._queue: list[
            tuple[float, int, Delivery, int]
        ] = []  # (due, tiebreak, delivery, attempt)
        self._tiebreak = itertools.count()
        self._deliveries: list[Delivery] = []
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None
        self.base_url = "http://127.0.0.1"

    # -- definitions ---------------------------------------------------------------------------
    def define(
        self,
        name: str,
        sobject: str,
        fields: list[str],
        endpoint_url: str,
        on_create: bool,
        on_update: bool,
    ) -> OutboundMessage:
        number = self.store.next_sequence("outbound-message")
        message = OutboundMessage(
            id=make_id("04k", number),
            name=name,
            sobject=sobject,
            fields=fields,
            endpoint_url=endpoint_url,
            on_create=on_create,
            on_update=on_update,
        )
        self.store.put(_CONFIGURATIONS, message.id, asdict(message))
        return message

    def definitions(self) -> list[OutboundMessage]:
        return [OutboundMessage(**document) for document in self.store.values(_CONFIGURATIONS)]

    def remove(self, message_id: str) -> bool:
        return self.store.delete(_CONFIGURATIONS, message_id)

    def clear(self) -> None:
        for message in self.definitions():
            self.remove(message.id)
        with self._lock:
            self._queue.clear()
            self._deliveries.clear()

    def deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(delivery) for delivery in self._deliveries]

    # -- events --------------------------------------------------------------------------------
    def on_changes(self, events: list[ChangeEvent]) -> None:
        """Queues the notifications of one committed transaction.

        Like a real org, the changes of one transaction that match one outbound message travel
        together: one envelope holds up to 100 ``Notification`` elements, so listeners must
        handle several per request.
        """
        definitions = self.definitions()
        if not definitions:
            return
        for message in definitions:
            matching = [
                event
                for event in events
                if event.sobject == message.sobject
                and (
                    (event.kind == "created" and message.on_create)
                    or (event.kind == "updated" and message.on_update)
                )
            ]
            for start in range(0, len(matching), MAX_NOTIFICATIONS_PER_MESSAGE):
                self._enqueue(message, matching[start : start + MAX_NOTIFICATIONS_PER_MESSAGE])

    def _enqueue(self, message: OutboundMessage, events: list[ChangeEvent]) -> None:
        notifications = [
            (make_id("04l", self.store.next_sequence("outbound-notification")), event.record)
            for event in events
        ]
        delivery = Delivery(
            id=notifications[0][0],
            message_id=message.id,
            record_ids=[event.record_id for event in events],
            endpoint_url=message.endpoint_url,
            body=self.envelope(message, notifications),
        )
        with self._lock:
            self._deliveries.append(delivery)
            del self._deliveries[:-MAX_LOGGED_DELIVERIES]
            heapq.heappush(self._queue, (time.monotonic(), next(self._tiebreak), delivery, 0))
            self._ensure_thread()
            self._lock.notify_all()

    def envelope(
        self, message: OutboundMessage, notifications: list[tuple[str, dict[str, Any]]]
    ) -> str:
        """The SOAP ``notifications`` body a real org sends (enterprise-WSDL sObject types)."""
        organization_id = self._organization_id()
        soap_base = f"{escape(self.base_url)}/services/Soap"
        soap_path = f"{SOAP_API_VERSION}/{organization_id}"
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
            ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
            " <soapenv:Body>",
            '  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">',
            f"   <OrganizationId>{organization_id}</OrganizationId>",
            f"   <ActionId>{message.id}</ActionId>",
            '   <SessionId xsi:nil="true"/>',
            f"   <EnterpriseUrl>{soap_base}/c/{soap_path}</EnterpriseUrl>",
            f"   <PartnerUrl>{soap_base}/u/{soap_path}</PartnerUrl>",
        ]
        for notification_id, record in notifications:
            parts += [
                "   <Notification>",
                f"    <Id>{notification_id}</Id>",
                f'    <sObject xsi:type="sf:{message.sobject}"'
                ' xmlns:sf="urn:sobject.enterprise.soap.sforce.com">',
                f"     <sf:Id>{escape(str(record['Id']))}</sf:Id>",
            ]
            for name in message.fields:
                if name == "Id":
                    continue
                value = record.get(name)
                if value is None:
                    parts.append(f'     <sf:{name} xsi:nil="true"/>')
                else:
                    text = str(value).lower() if isinstance(value, bool) else str(value)
                    parts.append(f"     <sf:{name}>{escape(text)}</sf:{name}>")
            parts += ["    </sObject>", "   </Notification>"]
        parts += ["  </notifications>", " </soapenv:Body>", "</soapenv:Envelope>", ""]
        return "\n".join(parts)

    # -- delivery ------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="salesforce-outbound-messages", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (
                    not self._queue or self._queue[0][0] > time.monotonic()
                ):
                    timeout = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._lock.wait(timeout)
                if self._closed:
                    return
                _, _, delivery, attempt = heapq.heappop(self._queue)
                self._in_flight += 1
            try:
                acknowledged, outcome = self._send(delivery)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    delivery.attempts.append(
                        {"attempt": attempt + 1, "time": time.time(), **outcome}
                    )
                    if acknowledged:
                        delivery.status = "delivered"
                    elif attempt < len(self._retry_delays):
                        due = time.monotonic() + self._retry_delays[attempt]
                        heapq.heappush(
                            self._queue, (due, next(self._tiebreak), delivery, attempt + 1)
                        )
                    else:
                        delivery.status = "failed"
                    self._lock.notify_all()

    def _send(self, delivery: Delivery) -> tuple[bool, dict[str, Any]]:
        if self._client is None:
            self._client = httpx2.Client(
                transport=self._transport, verify=self._verify, timeout=10.0
            )
        try:
            response = self._client.post(
                delivery.endpoint_url,
                content=delivery.body.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            )
        except httpx2.HTTPError as error:
            return False, {"status": None, "error": f"{type(error).__name__}: {error}"}
        acknowledged = response.is_success and _ACK.search(response.content) is not None
        return acknowledged, {"status": response.status_code, "acknowledged": acknowledged}

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Waits until no delivery is queued or being sent; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._client is not None:
            self._client.close()
