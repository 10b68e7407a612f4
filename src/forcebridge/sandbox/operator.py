"""The operator API of an emulator, under ``/__sandbox/`` (not part of any vendor API).

- Request log: every vendor-API request with its time, method, path, route template, status and
  the credential that made it, plus exact counts per endpoint. Tests assert ForceBridge's call
  counts through it.
- Fault injection: the next N requests matching a method and a path pattern get a chosen status
  (with ``Retry-After`` and extra headers), added latency, a dropped connection or a malformed body.
- Reset: clears the log and the faults and calls the emulator's own reset hooks (state → seed).

Emulators add their own operator routes (quota, "edit as a user") under the same prefix.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, Field, field_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPERATOR_PREFIX = "/__sandbox"
MAX_LOGGED_REQUESTS = 100_000

# What HTTP/1.1 lets through (RFC 9110 token / field-value): anything else makes the server's
# HTTP layer raise while answering, i.e. a crash and a traceback instead of the fault asked for.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_HEADER_VALUE = re.compile(r"^[\t\x20-\x7e]*$")
# Framing headers are computed from the body; a second, conflicting one breaks the response.
_FRAMING_HEADERS = {"content-length", "transfer-encoding", "connection"}

CredentialOf = Callable[[dict[str, str]], str | None]


@dataclass
class LoggedRequest:
    sequence: int
    time: float
    method: str
    path: str
    query: str
    route: str
    status: int
    credential: str | None
    duration_ms: float
    fault: bool


@dataclass
class FaultRule:
    id: int
    method: str | None
    path: str
    remaining: int
    status: int | None = None
    retry_after: str | None = None
    latency_ms: int = 0
    drop_connection: bool = False
    malformed_body: bool = False
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None


class FaultRequest(BaseModel):
    """What to inject into the next ``count`` requests matching ``method`` and ``path``."""

    method: str | None = Field(default=None, description="HTTP method; any when absent.")
    path: str = Field(default=".*", description="Regular expression searched in the request path.")
    count: int = Field(default=1, ge=1, le=1_000_000)
    status: int | None = Field(default=None, ge=100, le=599)
    retry_after: str | None = Field(default=None, description="Value of the Retry-After header.")
    latency_ms: int = Field(default=0, ge=0, le=120_000)
    drop_connection: bool = False
    malformed_body: bool = False
    body: Any = Field(default=None, description="JSON body to answer with (with status).")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra response headers (replace defaults by name)."
    )

    @field_validator("headers")
    @classmethod
    def _headers_can_be_sent(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"invalid header name {name!r}")
            if name.lower() in _FRAMING_HEADERS:
                raise ValueError(f"{name} is computed by the server and cannot be injected")
            if not _HEADER_VALUE.match(value):
                raise ValueError(f"invalid value for header {name!r} (printable ASCII only)")
        return headers

    @field_validator("retry_after")
    @classmethod
    def _retry_after_can_be_sent(cls, value: str | None) -> str | None:
        if value is not None and not _HEADER_VALUE.match(value):
            raise ValueError("invalid Retry-After value (printable ASCII only)")
        return value


class Operator:
    """Request log, fault rules and reset hooks of one emulator (thread-safe)."""

    def __init__(self, service: Literal["jira", "salesforce"] | str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._log: deque[LoggedRequest] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._counts: Counter[str] = Counter()
        self._sequence = 0
        self._faults: list[FaultRule] = []
        self._fault_ids = 0
        self._reset_hooks: list[Callable[[], None]] = []

    # -- request log -------------------------------------------------------------------------
    def record(self, entry_fields: dict[str, Any]) -> None:
        with self._lock:
            self._sequence += 1
            entry = LoggedRequest(sequence=self._sequence, **entry_fields)
            self._log.append(entry)
            self._counts[f"{entry.method} {entry.route}"] += 1

    def requests(self, since: int = 0) -> list[LoggedRequest]:
        with self._lock:
            return [entry for entry in self._log if entry.sequence > since]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def last_sequence(self) -> int:
        return self._sequence

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._counts.clear()

    # -- faults ------------------------------------------------------------------------------
    def add_fault(self, request: FaultRequest) -> FaultRule:
        re.compile(request.path)  # fail early on a bad pattern
        with self._lock:
            self._fault_ids += 1
            rule = FaultRule(
                id=self._fault_ids,
                method=request.method,
                path=request.path,
                remaining=request.count,
                status=request.status,
                retry_after=request.retry_after,
                latency_ms=request.latency_ms,
                drop_connection=request.drop_connection,
                malformed_body=request.malformed_body,
                body=request.body,
                headers=dict(request.headers),
            )
            self._faults.append(rule)
            return rule

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule, with one use consumed; None when no rule matches."""
        with self._lock:
            for rule in self._faults:
                if rule.remaining > 0 and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.remaining == 0:
                        self._faults.remove(rule)
                    return rule
            return None

    def faults(self) -> list[FaultRule]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- reset -------------------------------------------------------------------------------
    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        self.clear_log()
        self.clear_faults()
        for hook in self._reset_hooks:
            hook()


class SandboxDroppedConnection(ConnectionResetError):
    """Raised mid-response to make the server close the connection without a complete answer."""


class OperatorMiddleware:
    """Pure ASGI middleware: applies faults and logs every request outside ``/__sandbox/``."""

    def __init__(self, app: ASGIApp, operator: Operator, credential_of: CredentialOf) -> None:
        self.app = app
        self.operator = operator
        self.credential_of = credential_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPERATOR_PREFIX):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method: str = scope["method"]
        path: str = scope["path"]
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope["headers"]
        }
        status_holder = {"status": 500}
        rule = self.operator.take_fault(method, path)

        async def logging_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            if rule is not None:
                await self._apply_fault(rule, scope, receive, logging_send)
            else:
                await self.app(scope, receive, logging_send)
        finally:
            route = scope.get("route")
            self.operator.record(
                {
                    "time": time.time(),
                    "method": method,
                    "path": path,
                    "query": scope.get("query_string", b"").decode("latin-1"),
                    "route": getattr(route, "path", None) or path,
                    "status": status_holder["status"],
                    "credential": self.credential_of(headers),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "fault": rule is not None,
                }
            )

    async def _apply_fault(
        self, rule: FaultRule, scope: Scope, receive: Receive, send: Send
    ) -> None:
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.drop_connection:
            # Start a response that promises a body, then abort: the client sees the connection
            # closed mid-response, as when a proxy or the vendor drops it.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-length", b"1000"),
                        (b"content-type", b"application/json"),
                    ],
                }
            )
            raise SandboxDroppedConnection("sandbox fault: connection dropped")
        if rule.status is None and not rule.malformed_body:
            await self.app(scope, receive, send)  # latency only
            return
        status = rule.status or 200
        if rule.malformed_body:
            body = b'{"truncated": tru'
        elif rule.body is not None:
            import json

            body = json.dumps(rule.body).encode()
        else:
            body = _default_fault_body(self.operator.service, status)
        headers = {"content-type": "application/json;charset=UTF-8"}
        if rule.retry_after is not None:
            headers["retry-after"] = rule.retry_after
        headers.update({name.lower(): value for name, value in rule.headers.items()})
        headers["content-length"] = str(len(body))
        raw_headers = [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


def _default_fault_body(service: str, status: int) -> bytes:
    import json

    if service == "salesforce":
        code = {429: "REQUEST_LIMIT_EXCEEDED", 503: "SERVER_UNAVAILABLE"}.get(
            status, "UNKNOWN_EXCEPTION"
        )
        return json.dumps([{"message": f"Injected fault ({status})", "errorCode": code}]).encode()
    return json.dumps({"errorMessages": [f"Injected fault ({status})"], "errors": {}}).encode()


def install_operator(app: FastAPI, operator: Operator, credential_of: CredentialOf) -> None:
    """Adds the logging/fault middleware and the generic ``/__sandbox/`` routes to ``app``."""
    app.add_middleware(OperatorMiddleware, operator=operator, credential_of=credential_of)
    router = APIRouter(prefix=OPERATOR_PREFIX, tags=["sandbox operator"])

    @router.get("/requests", summary="The request log (optionally only entries after `since`).")
    def list_requests(since: int = 0, limit: int = 1000) -> dict[str, Any]:
        entries = operator.requests(since)
        return {
            "last_sequence": operator.last_sequence,
            "requests": [asdict(entry) for entry in entries[-limit:]] if limit > 0 else [],
        }

    @router.get("/requests/counts", summary="Exact request counts per 'METHOD route'.")
    def request_counts() -> dict[str, Any]:
        counts = operator.counts()
        return {"total": sum(counts.values()), "by_endpoint": counts}

    @router.delete("/requests", status_code=204, summary="Clear the request log and counts.")
    def clear_requests() -> None:
        operator.clear_log()

    @router.post(
        "/faults", status_code=201, summary="Inject a fault into the next matching requests."
    )
    def add_fault(request: FaultRequest) -> dict[str, Any]:
        try:
            rule = operator.add_fault(request)
        except re.error as error:
            from fastapi import HTTPException

            raise HTTPException(status_code=400, detail=f"bad path pattern: {error}") from error
        return asdict(rule)

    @router.get("/faults", summary="Pending fault rules.")
    def list_faults() -> list[dict[str, Any]]:
        return [asdict(rule) for rule in operator.faults()]

    @router.delete("/faults", status_code=204, summary="Remove every pending fault rule.")
    def clear_faults() -> None:
        operator.clear_faults()

    @router.post("/reset", status_code=204, summary="Clear log and faults; state back to the seed.")
    def reset() -> None:
        operator.reset()

    app.include_router(router)
