"""Jira's rate limits, shared by every process: record each throttle Jira announces, and hold back
(unsent) the requests it still covers.

Jira Cloud answers 429 with ``Retry-After`` and a ``RateLimit-Reason`` naming one of three
independent limits (api-contracts §A.10; reliability-security §5b). Its client rule is to back off
per endpoint, per issue, or for the whole site, so a throttle is recorded with a scope:

- ``jira-burst-based``, an unknown or absent reason: ``endpoint`` scope (METHOD + path template,
  ``PUT /rest/api/3/issue/{issue}``), until now + ``Retry-After``;
- ``jira-per-issue-on-write``: ``issue`` scope (writes to the issue id or key in the path; reads
  of it and writes to other issues go on), until now + ``Retry-After``;
- ``jira-quota-tenant-based`` / ``jira-quota-global-based``: ``site`` scope (every request), until
  ``X-RateLimit-Reset`` when later than ``Retry-After``;
- a 503 with ``Retry-After``: ``endpoint`` scope, until now + ``Retry-After``.

(no ``Retry-After`` on a 429: :data:`~forcebridge.jira.errors.DEFAULT_THROTTLE_SECONDS`.)

- The site is the connection's normalised Jira base URL (``https://acme.atlassian.net``, or for
  OAuth ``https://api.atlassian.com/ex/jira/<cloudId>``): two connections to one site share its
  throttles, as Jira counts them per site.
- :class:`JiraThrottleGate` is the Jira client's request gate (built for each connection's client
  in ``connections/clients.py``): before a request it raises
  :class:`~forcebridge.errors.VendorThrottled` (``retry_after`` = seconds left, the limit in the
  message and details) if an active throttle holds it, without sending anything; after a 429 or a
  503 with ``Retry-After`` it records the throttle. The job runner re-queues a throttled job for
  the end of the throttle without spending an attempt; the API answers a person 429.
- Database cost: each process keeps, per site, the throttles it last read for
  ``jira_throttle_cache_seconds`` (1 s) and adds its own recordings at once, so the gate reads
  the (small, indexed) table at most once a second per site and process, whatever the request
  rate. Another process's throttle is seen within that second (at worst one more request, which
  gets its own 429).
- Expired rows are deleted by the reader that finds them, and hourly by the retention hook.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2
import structlog
from prometheus_client import CollectorRegistry, Counter
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forcebridge.container import Container
from forcebridge.errors import VendorThrottled
from forcebridge.jira.errors import (
    BURST_REASON,
    PER_ISSUE_REASON,
    QUOTA_REASONS,
    SERVICE,
    JiraRateLimit,
    limit_description,
    throttle_wait_seconds,
)
from forcebridge.metrics import Metrics
from forcebridge.models import Connection
from forcebridge.quota.models import JiraThrottle

log = structlog.get_logger("forcebridge.quota.jira_throttle")

SITE_SCOPE = "site"
ENDPOINT_SCOPE = "endpoint"
ISSUE_SCOPE = "issue"
# A 429 with "Retry-After: 0" must still not let a storm of retries loop.
MIN_THROTTLE_SECONDS = 1.0
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_KNOWN_REASONS = frozenset({BURST_REASON, PER_ISSUE_REASON, *QUOTA_REASONS})

_NUMERIC = re.compile(r"^\d{1,18}$")
_ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,254}-\d{1,18}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_OPAQUE = re.compile(r"^[A-Za-z0-9_.~%=+-]{24,}$")


class JiraThrottleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORCEBRIDGE_", extra="ignore")

    jira_throttle_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long a process reuses the throttles it read for a Jira site.",
    )
    jira_throttle_max_seconds: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Longest pause one Jira throttle can impose (guards against a wild header).",
    )


# -- what a request is, for throttling ---------------------------------------------------------


def normalise_site(base_url: str) -> str:
    """``HTTPS://Acme.atlassian.net:443/`` -> ``https://acme.atlassian.net`` (path kept: OAuth)."""
    parts = urllib.parse.urlsplit(base_url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = host if port in (None, {"https": 443, "http": 80}.get(scheme)) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


@dataclass(frozen=True)
class JiraRequest:
    """A request as the throttles see it: its endpoint template and the issue it writes to."""

    method: str
    endpoint: str  # "PUT /rest/api/3/issue/{issue}"
    issue: str | None  # the issue id or key in the path (keys upper-cased), for writes only

    @property
    def is_write(self) -> bool:
        return self.method not in _READ_METHODS


def describe_request(method: str, path: str) -> JiraRequest:
    """``PUT``, ``/rest/api/3/issue/acme-12/comment/100`` ->
    ``PUT /rest/api/3/issue/{issue}/comment/{id}``, issue ``ACME-12``."""
    method = method.upper()
    segments = urllib.parse.unquote(path.split("?", 1)[0]).split("/")
    template: list[str] = []
    issue: str | None = None
    previous = ""
    for segment in segments:
        if previous == "api" and _NUMERIC.match(segment):
            template.append(segment)  # the REST API version, not an id
        elif previous == "issue" and (_NUMERIC.match(segment) or _ISSUE_KEY.match(segment)):
            template.append("{issue}")
            issue = issue or segment.upper()
        elif previous == "project" and segment:
            template.append("{project}")
        elif _ISSUE_KEY.match(segment):
            template.append("{issue}")
        elif _NUMERIC.match(segment) or _UUID.match(segment) or _OPAQUE.match(segment):
            template.append("{id}")
        else:
            template.append(segment)
        previous = segment
    endpoint = f"{method} {'/'.join(template) or '/'}"
    return JiraRequest(
        method=method, endpoint=endpoint, issue=issue if method not in _READ_METHODS else None
    )


def throttle_scope(reason: str | None, request: JiraRequest) -> tuple[str, str]:
    """(scope, key) a throttle with ``reason`` on ``request`` holds (see the module's table)."""
    if reason in QUOTA_REASONS:
        return SITE_SCOPE, ""
    if reason == PER_ISSUE_REASON and request.issue is not None:
        return ISSUE_SCOPE, request.issue
    # jira-burst-based, an unknown or absent reason, a per-issue limit on a path without an
    # issue, or a 503: the endpoint is the narrowest scope that surely covers it.
    return ENDPOINT_SCOPE, request.endpoint


# -- throttles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveThrottle:
    site: str
    scope: str
    key: str
    reason: str | None
    status: int
    until: datetime

    def holds(self, request: JiraRequest) -> bool:
        if self.scope == SITE_SCOPE:
            return True
        if self.scope == ENDPOINT_SCOPE:
            return request.endpoint == self.key
        return request.is_write and request.issue == self.key

    def what(self) -> str:
        if self.scope == SITE_SCOPE:
            return f"every request to {self.site}"
        if self.scope == ISSUE_SCOPE:
            return f"writes to issue {self.key} on {self.site}"
        return f"{self.key} on {self.site}"

    def held_error(self, unsent: str, now: datetime) -> VendorThrottled:
        """The error for work held back by this throttle; ``unsent`` names what was not sent."""
        seconds = max(0.0, (self.until - now).total_seconds())
        limit = (
            f"{limit_description(self.reason)} was reached"
            if self.status == 429
            else f"Jira answered {self.status} with Retry-After"
        )
        return VendorThrottled(
            f"Jira throttled {self.what()} until {self.until.isoformat()} "
            f"({round(seconds)} s from now; {limit}): {unsent} was not sent.",
            service=SERVICE,
            code=self.reason,
            retry_after=seconds,
            hint="Nothing to fix: background work resumes by itself when the limit ends; "
            "try a manual sync again after that.",
            details={"rateLimitReason": self.reason, "throttle": self.as_dict(), "sent": False},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "key": self.key,
            "reason": self.reason,
            "status": self.status,
            "until": self.until.isoformat(),
        }

    @classmethod
    def from_row(cls, row: JiraThrottle) -> ActiveThrottle:
        return cls(row.site, row.scope, row.scope_key, row.reason, row.status, row.until)


def record_throttle(
    container: Container,
    site: str,
    request: JiraRequest,
    *,
    status: int,
    rate_limit: JiraRateLimit,
    settings: JiraThrottleSettings | None = None,
) -> ActiveThrottle | None:
    """Store what a 429 (or a 503 with ``Retry-After``) announced; None for other answers.

    One row per (site, scope, key): an existing throttle is only ever extended, never shortened.
    """
    settings = settings or JiraThrottleSettings()
    if status == 429:
        wait = throttle_wait_seconds(rate_limit)
    elif status == 503 and rate_limit.retry_after is not None:
        wait = rate_limit.retry_after
    else:
        return None
    wait = min(max(wait, MIN_THROTTLE_SECONDS), settings.jira_throttle_max_seconds)
    now = container.clock()
    scope, key = throttle_scope(rate_limit.reason, request)
    throttle = ActiveThrottle(
        site=normalise_site(site),
        scope=scope,
        key=key,
        reason=rate_limit.reason,
        status=status,
        until=now + timedelta(seconds=wait),
    )
    for attempt in range(2):
        try:
            with container.session() as session:
                return _upsert(session, throttle, now)
        except IntegrityError:
            # Another process inserted the same (site, scope, key) meanwhile: update it instead.
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _upsert(session: Session, throttle: ActiveThrottle, now: datetime) -> ActiveThrottle:
    row = session.scalar(
        select(JiraThrottle).where(
            JiraThrottle.site == throttle.site,
            JiraThrottle.scope == throttle.scope,
            JiraThrottle.scope_key == throttle.key,
        )
    )
    if row is None:
        session.add(
            JiraThrottle(
                site=throttle.site,
                scope=throttle.scope,
                scope_key=throttle.key,
                reason=throttle.reason,
                status=throttle.status,
                until=throttle.until,
                recorded_at=now,
            )
        )
        session.flush()
        return throttle
    if row.until < throttle.until:
        row.reason, row.status, row.until, row.recorded_at = (
            throttle.reason,
            throttle.status,
            throttle.until,
            now,
        )
        return throttle
    return ActiveThrottle.from_row(row)


def active_throttles(session: Session, site: str, *, now: datetime) -> list[ActiveThrottle]:
    """The throttles of ``site`` still in force; the expired ones found are deleted."""
    site = normalise_site(site)
    rows = list(session.scalars(select(JiraThrottle).where(JiraThrottle.site == site)))
    expired = [row.id for row in rows if row.until <= now]
    if expired:
        # ``until <= now`` again: another process may have just extended one of them.
        session.execute(
            delete(JiraThrottle).where(JiraThrottle.id.in_(expired), JiraThrottle.until <= now)
        )
    active = [ActiveThrottle.from_row(row) for row in rows if row.until > now]
    return sorted(active, key=lambda throttle: (throttle.scope, throttle.key))


def delete_expired_throttles(session: Session, *, now: datetime) -> int:
    """Delete every ended throttle of every site (the retention hook; sites nobody reads)."""
    result = session.execute(delete(JiraThrottle).where(JiraThrottle.until <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def connection_site(container: Container, connection: Connection) -> str:
    """The Jira site a connection's requests go to (as its client's base URL), normalised."""
    if connection.jira_auth_type == "basic":
        return normalise_site(connection.jira_url)
    from forcebridge.connections.service import read_credentials

    api_url = str(read_credentials(container, connection, "jira")["api_url"]).rstrip("/")
    return normalise_site(f"{api_url}/ex/jira/{connection.jira_cloud_id}")


def site_pause(container: Container, connection: Connection) -> ActiveThrottle | None:
    """The throttle holding the whole Jira site of the connection (a quota reason), if any.

    The quota guard asks this before a background job starts: the job would only be held at its
    first Jira request, after spending its Salesforce reads for nothing. It reads through the
    same per-process cache as the gate, so it costs no query on most jobs.
    """
    return JiraThrottleGate(container, connection_site(container, connection)).site_pause()


def connection_throttles(
    session: Session, container: Container, connection: Connection
) -> list[dict[str, Any]]:
    """The active throttles of the connection's Jira site, as shown to admins."""
    site = connection_site(container, connection)
    return [t.as_dict() for t in active_throttles(session, site, now=container.clock())]


# -- the gate -----------------------------------------------------------------------------------


class JiraThrottleGate:
    """The request gate of one connection's ``JiraClient`` (see the module docs)."""

    def __init__(
        self, container: Container, site: str, *, settings: JiraThrottleSettings | None = None
    ) -> None:
        self._container = container
        self.site = normalise_site(site)
        self._settings = settings or JiraThrottleSettings()
        self._board = _board_for(container.engine)
        self._metrics = jira_throttle_metrics(container.metrics)

    def before_request(self, method: str, path: str) -> None:
        """Raise ``VendorThrottled`` (nothing is sent) when an active throttle holds the request."""
        request = describe_request(method, path)
        now = self._container.clock()
        for throttle in self._active(now):
            if throttle.holds(request):
                self._metrics.requests_held.labels(scope=throttle.scope).inc()
                log.info(
                    "jira.throttle.held",
                    site=self.site,
                    endpoint=request.endpoint,
                    scope=throttle.scope,
                    key=throttle.key,
                    reason=throttle.reason,
                    until=throttle.until.isoformat(),
                )
                unsent = "the request" if throttle.scope == ENDPOINT_SCOPE else request.endpoint
                raise throttle.held_error(unsent, now)

    def site_pause(self) -> ActiveThrottle | None:
        """The active throttle of the whole site that lasts longest, if any."""
        held = [t for t in self._active(self._container.clock()) if t.scope == SITE_SCOPE]
        return max(held, key=lambda throttle: throttle.until, default=None)

    def after_response(self, method: str, path: str, response: httpx2.Response) -> None:
        """Record the throttle a 429 (or a 503 with ``Retry-After``) announces.

        Never raises: the caller raises the error of the response itself, and a failure to
        record only costs another 429 later.
        """
        if response.status_code not in (429, 503):
            return
        request = describe_request(method, path)
        try:
            throttle = record_throttle(
                self._container,
                self.site,
                request,
                status=response.status_code,
                rate_limit=JiraRateLimit.from_headers(response.headers),
                settings=self._settings,
            )
        except Exception:
            log.warning("jira.throttle.record_failed", site=self.site, exc_info=True)
            return
        if throttle is None:
            return
        self._board.add(throttle)
        reason = throttle.reason if throttle.reason in _KNOWN_REASONS else "other"
        self._metrics.throttles_recorded.labels(
            reason=reason if throttle.reason else "none", scope=throttle.scope
        ).inc()
        log.warning(
            "jira.throttle.recorded",
            site=self.site,
            status=throttle.status,
            scope=throttle.scope,
            key=throttle.key,
            reason=throttle.reason,
            until=throttle.until.isoformat(),
        )

    def _active(self, now: datetime) -> list[ActiveThrottle]:
        cached = self._board.fresh(self.site, self._settings.jira_throttle_cache_seconds)
        if cached is None:
            try:
                with self._container.session() as session:
                    cached = active_throttles(session, self.site, now=now)
            except Exception:
                # The database blinked: send rather than stall; a 429 would be recorded again.
                log.warning("jira.throttle.read_failed", site=self.site, exc_info=True)
                cached = []
            self._board.replace(self.site, cached)
        return [throttle for throttle in cached if throttle.until > now]


class _ThrottleBoard:
    """What one process knows of each site's throttles, and when it last read them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sites: dict[str, tuple[float, dict[tuple[str, str], ActiveThrottle]]] = {}

    def fresh(self, site: str, max_age_seconds: float) -> list[ActiveThrottle] | None:
        with self._lock:
            entry = self._sites.get(site)
            if entry is None or time.monotonic() - entry[0] >= max_age_seconds:
                return None
            return list(entry[1].values())

    def replace(self, site: str, throttles: list[ActiveThrottle]) -> None:
        with self._lock:
            self._sites[site] = (
                time.monotonic(),
                {(throttle.scope, throttle.key): throttle for throttle in throttles},
            )

    def add(self, throttle: ActiveThrottle) -> None:
        """This process's own recording counts at once, whatever the age of the last read."""
        with self._lock:
            read_at, known = self._sites.get(throttle.site, (float("-inf"), {}))
            current = known.get((throttle.scope, throttle.key))
            if current is None or current.until < throttle.until:
                known = {**known, (throttle.scope, throttle.key): throttle}
            self._sites[throttle.site] = (read_at, known)


# One board per database: every client of a process shares it (clients live for one job).
_boards: weakref.WeakKeyDictionary[Engine, _ThrottleBoard] = weakref.WeakKeyDictionary()
_boards_lock = threading.Lock()


def _board_for(engine: Engine) -> _ThrottleBoard:
    with _boards_lock:
        board = _boards.get(engine)
        if board is None:
            board = _ThrottleBoard()
            _boards[engine] = board
        return board


# -- metrics ------------------------------------------------------------------------------------


class JiraThrottleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.throttles_recorded = Counter(
            "forcebridge_jira_throttles_recorded",
            "Throttles Jira announced (429, or 503 with Retry-After), by RateLimit-Reason "
            "(none when absent, other when unknown) and scope (site, endpoint, issue).",
            ["reason", "scope"],
            registry=registry,
        )
        self.requests_held = Counter(
            "forcebridge_jira_requests_held",
            "Jira requests held back unsent because a throttle of that scope was active.",
            ["scope"],
            registry=registry,
        )


_metrics_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, JiraThrottleMetrics] = (
    weakref.WeakKeyDictionary()
)


def jira_throttle_metrics(metrics: Metrics) -> JiraThrottleMetrics:
    """The throttle metric families of ``metrics`` (created on first use)."""
    with _boards_lock:
        found = _metrics_by_registry.get(metrics.registry)
        if found is None:
            found = JiraThrottleMetrics(metrics.registry)
            _metrics_by_registry[metrics.registry] = found
        return found
