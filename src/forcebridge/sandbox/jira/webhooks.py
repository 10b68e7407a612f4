"""Webhooks: registration (admin ``/rest/webhooks/1.0`` and dynamic ``/rest/api/3/webhook``),
payloads built from issue events, and delivery by a background thread with Jira's retry policy.

Delivery details that receivers depend on (https://developer.atlassian.com/cloud/jira/platform/webhooks/):
- ``X-Atlassian-Webhook-Identifier`` is the same on every attempt of one delivery (dedupe key);
- ``X-Atlassian-Webhook-Retry: <n>`` appears on retries only;
- ``X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` only for admin webhooks with a
  secret;
- retried on 408/409/425/429/5xx and connection failures, at ``retry_delays`` after each failure.

Operator switches reproduce what receivers must survive: every delivery sent twice
(``duplicate``) and deliveries held back then released newest-first (``reorder``).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import os
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx2

from forcebridge.sandbox.jira.catalog import Catalog
from forcebridge.sandbox.jira.issues import IssueEvent, IssueStore, IssueView
from forcebridge.sandbox.jira.jql import JqlError
from forcebridge.sandbox.jira.search import JqlCompiler, jql_error_message
from forcebridge.sandbox.jira.wire import JiraError
from forcebridge.sandbox.storage import DocumentStore

WEBHOOKS = "webhooks"
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
DYNAMIC_WEBHOOK_LIFETIME_MS = 30 * 86_400_000
MAX_KEPT_DELIVERIES = 10_000
DELIVERY_TIMEOUT_SECONDS = 10.0
FIRED_EVENTS = frozenset(
    {
        "jira:issue_created",
        "jira:issue_updated",
        "jira:issue_deleted",
        "comment_created",
        "comment_updated",
        "comment_deleted",
    }
)
# Accepted at registration (real Jira knows them) but never fired by the sandbox.
ACCEPTED_EVENTS = FIRED_EVENTS | {
    "issue_property_set",
    "issue_property_deleted",
    "attachment_created",
    "attachment_deleted",
    "worklog_created",
    "worklog_updated",
    "worklog_deleted",
    "issuelink_created",
    "issuelink_deleted",
    "project_created",
    "project_updated",
    "project_deleted",
}
URL_VARIABLE = re.compile(r"\$\{(issue\.id|issue\.key|project\.id|project\.key)\}")


@dataclass
class DeliveryAttempt:
    number: int
    time: float
    status: int | None
    error: str | None
    duration_ms: float


@dataclass
class Delivery:
    id: int
    identifier: str
    webhook_id: int
    webhook_kind: str
    event: str
    url: str
    body: bytes
    headers: dict[str, str]
    state: str = "pending"  # pending, held, delivered, failed
    duplicate: bool = False
    due: float = 0.0
    attempts: list[DeliveryAttempt] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body) if self.body else None
        except ValueError:
            payload = None
        return {
            "id": self.id,
            "identifier": self.identifier,
            "webhook_id": self.webhook_id,
            "webhook_kind": self.webhook_kind,
            "event": self.event,
            "url": self.url,
            "state": self.state,
            "duplicate": self.duplicate,
            "headers": self.headers,
            "payload": payload,
            "attempts": [asdict(attempt) for attempt in self.attempts],
        }


def _tls_verification(verify: str | bool) -> ssl.SSLContext | bool:
    """A CA file or directory as an SSL context (httpx2 deprecates ``verify=<path>``)."""
    if not isinstance(verify, str):
        return verify
    if os.path.isdir(verify):
        return ssl.create_default_context(capath=verify)
    return ssl.create_default_context(cafile=verify)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookRegistry:
    """Stored webhook registrations; validation answers in Jira's error shapes."""

    def __init__(
        self,
        store: DocumentStore,
        compiler_factory: Callable[[], JqlCompiler],
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.compiler_factory = compiler_factory
        self.clock = clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def all(self) -> list[dict[str, Any]]:
        return list(self.store.values(WEBHOOKS))

    def _check_jql(self, jql: Any) -> str | None:
        if jql is None or jql == "":
            return None
        if not isinstance(jql, str):
            raise JiraError(400, "The JQL filter must be a string.")
        try:
            self.compiler_factory().compile(jql)
        except JqlError as error:
            raise JiraError(400, jql_error_message(error)) from None
        return jql

    @staticmethod
    def _check_url(url: Any) -> str:
        if not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url):
            raise JiraError(400, "The webhook URL must be an absolute http or https URL.")
        return url

    @staticmethod
    def _check_events(events: Any) -> list[str]:
        if not isinstance(events, list) or not events:
            raise JiraError(400, "Specify at least one webhook event.")
        for event in events:
            if not isinstance(event, str) or event not in ACCEPTED_EVENTS:
                raise JiraError(400, f"Webhook event '{event}' is not supported.")
        return list(dict.fromkeys(events))

    # -- admin webhooks ----------------------------------------------------------------------
    def create_admin(self, body: Any, account_id: str) -> dict[str, Any]:
        webhook = self._admin_document(body, account_id)
        webhook["id"] = self.store.next_sequence("admin_webhook_id")
        self.store.put(WEBHOOKS, f"admin:{webhook['id']}", webhook)
        return webhook

    def update_admin(self, webhook_id: int, body: Any, account_id: str) -> dict[str, Any]:
        existing = self.admin(webhook_id)
        webhook = self._admin_document(body, account_id)
        webhook["id"] = existing["id"]
        self.store.put(WEBHOOKS, f"admin:{webhook_id}", webhook)
        return webhook

    def _admin_document(self, body: Any, account_id: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise JiraError(400, "The webhook needs a name.")
        filters = body.get("filters") or {}
        if not isinstance(filters, dict):
            raise JiraError(400, "'filters' must be a JSON object.")
        secret = body.get("secret")
        if secret is not None and not isinstance(secret, str):
            raise JiraError(400, "'secret' must be a string.")
        exclude_body = body.get("excludeBody", False)
        if not isinstance(exclude_body, bool):
            raise JiraError(400, "'excludeBody' must be a boolean.")
        enabled = body.get("enabled", True)
        return {
            "kind": "admin",
            "name": name,
            "url": self._check_url(body.get("url")),
            "events": self._check_events(body.get("events")),
            "jql": self._check_jql(filters.get("issue-related-events-section")),
            "excludeBody": exclude_body,
            "secret": secret or None,
            "enabled": bool(enabled),
            "lastUpdatedUser": account_id,
            "lastUpdated": self.now_ms(),
        }

    def admin(self, webhook_id: int) -> dict[str, Any]:
        webhook = self.store.get(WEBHOOKS, f"admin:{webhook_id}")
        if webhook is None:
            raise JiraError(404, f"No webhook with id {webhook_id}.")
        return webhook

    def delete_admin(self, webhook_id: int) -> None:
        if not self.store.delete(WEBHOOKS, f"admin:{webhook_id}"):
            raise JiraError(404, f"No webhook with id {webhook_id}.")

    def admin_bean(
        self, webhook: dict[str, Any], base_url: str, catalog: Catalog
    ) -> dict[str, Any]:
        user = catalog.users.get(webhook["lastUpdatedUser"]) or {}
        return {
            "self": f"{base_url}/rest/webhooks/1.0/webhook/{webhook['id']}",
            "name": webhook["name"],
            "url": webhook["url"],
            "excludeBody": webhook["excludeBody"],
            "filters": {"issue-related-events-section": webhook["jql"] or ""},
            "events": webhook["events"],
            "enabled": webhook["enabled"],
            "lastUpdatedUser": webhook["lastUpdatedUser"],
            "lastUpdatedDisplayName": user.get("displayName", ""),
            "lastUpdated": webhook["lastUpdated"],
        }

    # -- dynamic webhooks --------------------------------------------------------------------
    def register_dynamic(self, body: Any, app_id: str) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise JiraError(400, "The request body must be a JSON object.")
        url = self._check_url(body.get("url"))
        details = body.get("webhooks")
        if not isinstance(details, list) or not details:
            raise JiraError(400, "Specify at least one webhook.")
        results: list[dict[str, Any]] = []
        for detail in details:
            try:
                if not isinstance(detail, dict):
                    raise JiraError(400, "Each webhook must be a JSON object.")
                events = self._check_events(detail.get("events"))
                jql = detail.get("jqlFilter")
                if not isinstance(jql, str) or not jql.strip():
                    raise JiraError(400, "The jqlFilter is required.")
                self._check_jql(jql)
                field_ids = detail.get("fieldIdsFilter")
                if field_ids is not None and (
                    not isinstance(field_ids, list)
                    or not all(isinstance(f, str) for f in field_ids)
                ):
                    raise JiraError(400, "fieldIdsFilter must be a list of field ids.")
            except JiraError as error:
                results.append({"errors": error.messages or list(error.errors.values())})
                continue
            webhook_id = self.store.next_sequence("dynamic_webhook_id", start=10000)
            self.store.put(
                WEBHOOKS,
                f"dynamic:{webhook_id}",
                {
                    "kind": "dynamic",
                    "id": webhook_id,
                    "app": app_id,
                    "url": url,
                    "events": events,
                    "jql": jql,
                    "fieldIdsFilter": field_ids,
                    "secret": None,
                    "excludeBody": False,
                    "enabled": True,
                    "expirationDate": self.now_ms() + DYNAMIC_WEBHOOK_LIFETIME_MS,
                },
            )
            results.append({"createdWebhookId": webhook_id})
        return results

    def dynamic_for_app(self, app_id: str) -> list[dict[str, Any]]:
        return [w for w in self.all() if w["kind"] == "dynamic" and w["app"] == app_id]

    @staticmethod
    def dynamic_bean(webhook: dict[str, Any]) -> dict[str, Any]:
        bean = {
            "id": webhook["id"],
            "jqlFilter": webhook["jql"],
            "events": webhook["events"],
            "expirationDate": webhook["expirationDate"],
            "url": webhook["url"],
        }
        if webhook.get("fieldIdsFilter"):
            bean["fieldIdsFilter"] = webhook["fieldIdsFilter"]
        return bean

    def _owned_ids(self, body: Any, app_id: str) -> list[int]:
        if not isinstance(body, dict) or not isinstance(body.get("webhookIds"), list):
            raise JiraError(400, "Specify 'webhookIds' as a list of webhook ids.")
        ids = body["webhookIds"]
        if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise JiraError(400, "Specify 'webhookIds' as a list of webhook ids.")
        owned = {w["id"] for w in self.dynamic_for_app(app_id)}
        return [i for i in ids if i in owned]

    def delete_dynamic(self, body: Any, app_id: str) -> None:
        for webhook_id in self._owned_ids(body, app_id):
            self.store.delete(WEBHOOKS, f"dynamic:{webhook_id}")

    def refresh_dynamic(self, body: Any, app_id: str) -> int:
        expiration = self.now_ms() + DYNAMIC_WEBHOOK_LIFETIME_MS
        for webhook_id in self._owned_ids(body, app_id):
            webhook = self.store.get(WEBHOOKS, f"dynamic:{webhook_id}")
            if webhook is not None:
                self.store.put(
                    WEBHOOKS, f"dynamic:{webhook_id}", {**webhook, "expirationDate": expiration}
                )
        return expiration


class WebhookDispatcher:
    """Turns issue events into deliveries and sends them from one background thread."""

    def __init__(
        self,
        registry: WebhookRegistry,
        catalog: Catalog,
        issues: IssueStore,
        compiler_factory: Callable[[str], JqlCompiler],
        *,
        transport: httpx2.BaseTransport | None,
        verify: str | bool,
        retry_delays: Sequence[float],
    ) -> None:
        self.registry = registry
        self.catalog = catalog
        self.issues = issues
        self.compiler_factory = compiler_factory
        self.retry_delays = list(retry_delays)
        self.duplicate = False
        self.reorder = False
        self._client = httpx2.Client(
            transport=transport, verify=_tls_verification(verify), timeout=DELIVERY_TIMEOUT_SECONDS
        )
        self._condition = threading.Condition()
        self._queue: list[tuple[float, int, int]] = []
        self._held: list[Delivery] = []
        self._deliveries: dict[int, Delivery] = {}
        self._ids = itertools.count(1)
        self._order = itertools.count()
        self._in_flight = 0
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="jira-sandbox-webhooks", daemon=True)
        self._thread.start()

    # -- EventSink ---------------------------------------------------------------------------
    def wants(self, webhook_event: str) -> bool:
        return any(
            webhook_event in webhook["events"] and webhook["enabled"]
            for webhook in self.registry.all()
        )

    def publish(self, event: IssueEvent) -> None:
        now_ms = self.registry.now_ms()
        for webhook in self.registry.all():
            if not webhook["enabled"] or event.webhook_event not in webhook["events"]:
                continue
            if webhook["kind"] == "dynamic" and webhook["expirationDate"] < now_ms:
                continue
            if not self._matches_filter(webhook, event):
                continue
            self._enqueue(webhook, event)

    def _matches_filter(self, webhook: dict[str, Any], event: IssueEvent) -> bool:
        field_ids = webhook.get("fieldIdsFilter")
        if field_ids and event.webhook_event == "jira:issue_updated":
            changed = {item.get("fieldId") for item in (event.changelog or {}).get("items", [])}
            if not changed & set(field_ids):
                return False
        jql = webhook.get("jql")
        if not jql:
            return True
        # Compiled per event, not cached: relative dates ("-1d") must mean "now".
        try:
            predicate = self.compiler_factory(event.context.account_id).compile(jql).predicate
            return predicate(event.issue)
        except JqlError:
            return False  # e.g. a filter naming an issue that has since been deleted
        except (KeyError, TypeError):
            return False

    def payload(self, webhook: dict[str, Any], event: IssueEvent) -> dict[str, Any]:
        # Observed deliveries use the REST v2 representation (description as a string).
        view = IssueView(self.catalog, self.issues.store, event.context.base_url, "2")
        payload: dict[str, Any] = {
            "timestamp": event.timestamp,
            "webhookEvent": event.webhook_event,
        }
        if event.webhook_event.startswith("comment_"):
            payload["comment"] = view.comment(event.issue, event.comment or {})
            payload["issue"] = view.issue(
                event.issue,
                {"summary", "issuetype", "project", "assignee", "priority", "status"},
            )
        else:
            if event.issue_event_type_name:
                payload["issue_event_type_name"] = event.issue_event_type_name
            payload["user"] = self.catalog.user_bean(
                event.context.account_id, event.context.base_url
            )
            payload["issue"] = view.issue(event.issue, set(self.catalog.fields))
            if event.changelog is not None:
                payload["changelog"] = event.changelog
            if event.comment is not None:
                payload["comment"] = view.comment(event.issue, event.comment)
        if webhook["kind"] == "admin":
            payload["matchedWebhookIds"] = [webhook["id"]]
        return payload

    def _enqueue(self, webhook: dict[str, Any], event: IssueEvent) -> None:
        body = b"" if webhook["excludeBody"] else json.dumps(self.payload(webhook, event)).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Atlassian Webhook HTTP Client",
            "X-Atlassian-Webhook-Identifier": str(uuid.uuid4()),
            "X-Atlassian-Webhook-Flow": "Primary",
        }
        if webhook.get("secret"):
            headers["X-Hub-Signature"] = signature(webhook["secret"], body)
        url = self._expand_url(webhook["url"], event)
        copies = 2 if self.duplicate else 1
        with self._condition:
            for copy_index in range(copies):
                delivery = Delivery(
                    id=next(self._ids),
                    identifier=headers["X-Atlassian-Webhook-Identifier"],
                    webhook_id=webhook["id"],
                    webhook_kind=webhook["kind"],
                    event=event.webhook_event,
                    url=url,
                    body=body,
                    headers=dict(headers),
                    duplicate=copy_index > 0,
                )
                self._deliveries[delivery.id] = delivery
                if self.reorder:
                    delivery.state = "held"
                    self._held.append(delivery)
                else:
                    self._schedule(delivery, time.monotonic())
            self._prune()
            self._condition.notify_all()

    def _expand_url(self, url: str, event: IssueEvent) -> str:
        issue = event.issue
        project = self.catalog.projects.get(issue.get("project_id", ""), {})
        values = {
            "issue.id": issue.get("id", ""),
            "issue.key": issue.get("key", ""),
            "project.id": project.get("id", ""),
            "project.key": project.get("key", ""),
        }
        return URL_VARIABLE.sub(lambda match: str(values[match.group(1)]), url)

    def _schedule(self, delivery: Delivery, due: float) -> None:
        delivery.state = "pending"
        delivery.due = due
        heapq.heappush(self._queue, (due, next(self._order), delivery.id))

    def _prune(self) -> None:
        if len(self._deliveries) <= MAX_KEPT_DELIVERIES:
            return
        for delivery_id in sorted(self._deliveries)[: len(self._deliveries) - MAX_KEPT_DELIVERIES]:
            if self._deliveries[delivery_id].state in ("delivered", "failed"):
                del self._deliveries[delivery_id]

    # -- operator controls -------------------------------------------------------------------
    def set_mode(self, *, duplicate: bool | None = None, reorder: bool | None = None) -> None:
        if duplicate is not None:
            self.duplicate = duplicate
        if reorder is not None:
            self.reorder = reorder
            if not reorder:
                self.release_held()

    def release_held(self) -> int:
        """Send held deliveries, newest first (the reordering receivers must cope with)."""
        with self._condition:
            held, self._held = self._held, []
            now = time.monotonic()
            for delivery in reversed(held):
                self._schedule(delivery, now)
            self._condition.notify_all()
            return len(held)

    def deliveries(self) -> list[dict[str, Any]]:
        with self._condition:
            return [delivery.as_json() for delivery in self._deliveries.values()]

    def clear(self) -> None:
        with self._condition:
            self._queue.clear()
            self._held.clear()
            self._deliveries.clear()
            self.duplicate = False
            self.reorder = False
            self._condition.notify_all()

    def pending_count(self) -> int:
        with self._condition:
            return len(self._queue) + self._in_flight

    def wait_until_drained(self, timeout: float) -> bool:
        """Block until nothing is queued or in flight (held deliveries do not count)."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True

    def close(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._thread.join(timeout=5)
        self._client.close()

    # -- the delivery thread -----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._condition:
                delivery = self._next_due()
                if delivery is None:
                    return
                self._in_flight += 1
            try:
                self._attempt(delivery)
            finally:
                with self._condition:
                    self._in_flight -= 1
                    self._condition.notify_all()

    def _next_due(self) -> Delivery | None:
        """The next delivery whose time has come (waiting for it); None once stopped."""
        while not self._stopped:
            if not self._queue:
                self._condition.wait()
                continue
            due, _, delivery_id = self._queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                self._condition.wait(wait)
                continue
            heapq.heappop(self._queue)
            delivery = self._deliveries.get(delivery_id)
            if delivery is not None:
                return delivery
        return None

    def _attempt(self, delivery: Delivery) -> None:
        number = len(delivery.attempts)
        headers = dict(delivery.headers)
        if number > 0:
            headers["X-Atlassian-Webhook-Retry"] = str(number)
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            response = self._client.post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
        except httpx2.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"
        except Exception as failure:  # a receiver's transport bug must not kill the thread
            error = f"{type(failure).__name__}: {failure}"
        attempt = DeliveryAttempt(
            number=number,
            time=time.time(),
            status=status,
            error=error,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        retryable = status is None or status in RETRYABLE_STATUSES or status >= 500
        with self._condition:
            delivery.attempts.append(attempt)
            if not retryable:
                delivery.state = "delivered" if status is not None and status < 400 else "failed"
            elif number < len(self.retry_delays):
                self._schedule(delivery, time.monotonic() + self.retry_delays[number])
            else:
                delivery.state = "failed"
