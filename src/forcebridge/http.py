"""The one outbound HTTP layer: every call ForceBridge makes to Jira or Salesforce goes through a
client built by :func:`build_client`.

This is the only module that imports ``httpx2`` (the maintained continuation of httpx); clients
import the names they need from here, so the library can be swapped in one place. A client built
here:

- checks its ``base_url`` and every request URL (absolute ones included) with the SSRF guard
  before any I/O, and refuses to send an ``Authorization`` header to a host other than its own;
- checks every resolved address at connect time, then connects to that exact address (TLS still
  verifies the host name), so a name that rebinds to 127.0.0.1 is refused (DNS rebinding);
- never follows redirects (a 302 to an internal host is an SSRF vector; callers decide);
- verifies TLS against the system trust store, plus ``settings.ca_file`` (the sandbox's CA);
- ignores proxy and ``.netrc`` settings from the environment (credentials must not leak there);
- logs one debug line per call (service, method, path, status, duration; never headers, query
  strings or bodies) and meters calls per connection, service, endpoint and status class.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterable, Sequence
from typing import Any

import anyio.from_thread
import httpcore2
import httpx2 as httpx
from httpx2 import (
    ASGITransport,
    Auth,
    BaseTransport,
    Client,
    HTTPError,
    MockTransport,
    Request,
    Response,
    TimeoutException,
    TransportError,
)

from forcebridge.errors import ValidationFailed
from forcebridge.logging import get_logger
from forcebridge.metrics import NO_CONNECTION, Metrics
from forcebridge.security.urls import check_outbound_url, check_resolved_address
from forcebridge.settings import Settings

__all__ = [
    "ASGITransport",
    "Auth",
    "BaseTransport",
    "BearerRetryAuth",
    "Client",
    "GuardedNetworkBackend",
    "HTTPError",
    "MockTransport",
    "Request",
    "Response",
    "TimeoutException",
    "TransportError",
    "build_client",
    "endpoint_template",
    "httpx",
]

# Connecting should be quick; reads may legitimately take long (bulk queries, attachments).
MAX_CONNECT_TIMEOUT_SECONDS = 10.0
POOL_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30)

Resolver = Callable[[str, int], Sequence[str]]

_logger = get_logger(__name__)

# Path segments that identify one record rather than an endpoint: collapsed so metric label
# cardinality stays bounded.
_NUMERIC_ID = re.compile(r"^\d+$")
_JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-\d+$")
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_SALESFORCE_ID = re.compile(r"^(?=[A-Za-z0-9]*\d)(?:[A-Za-z0-9]{15}|[A-Za-z0-9]{18})$")
_LONG_OPAQUE = re.compile(r"^[A-Za-z0-9_.~%=+-]{24,}$")
_MAX_ENDPOINT_SEGMENTS = 12


class BearerRetryAuth(Auth):
    """A bearer-token auth flow that renews the token once, and retries once, on a 401.

    Jira and Salesforce both revoke or expire tokens before their announced lifetime; one retry
    with a fresh token recovers, and a second 401 goes back to the caller, who classifies it.
    Subclasses say how a token is obtained in :meth:`_token` (under their own lock).
    """

    def auth_flow(self, request: Request) -> Generator[Request, Response, None]:
        token = yield from self._token(rejected=None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        response.read()
        token = yield from self._token(rejected=token)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    @abstractmethod
    def _token(self, *, rejected: str | None) -> Generator[Request, Response, str]:
        """A usable access token; ``rejected`` is the one the vendor just refused with 401.

        Renew when ``rejected`` is still the current token (another thread may already have
        renewed it while this one waited for the lock) or when there is no usable token.
        Token requests may be yielded (they then go through the client carrying this auth).
        """


def build_client(
    *,
    settings: Settings,
    service: str,
    connection_id: str | None,
    base_url: str,
    auth: httpx.Auth | None = None,
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
    metrics: Metrics | None = None,
    resolver: Resolver | None = None,
) -> httpx.Client:
    """A pooled, guarded, metered client for one service of one connection.

    ``transport`` replaces the network (tests: a sandbox transport, ``ASGITransport`` or
    ``MockTransport``); the URL checks still run. ``resolver`` replaces DNS for the connect-time
    guard (tests).
    """
    allowed_hosts = tuple(settings.allowed_hosts)
    checked_base_url = check_outbound_url(base_url, allowed_hosts)
    base_origin = _origin(httpx.URL(checked_base_url))
    network: httpx.BaseTransport
    if transport is None:
        network = _guarded_transport(settings, allowed_hosts, resolver or _system_resolver)
    elif isinstance(transport, httpx.BaseTransport):
        network = transport
    else:
        network = _SyncOverAsyncTransport(transport)

    def check_request(request: httpx.Request) -> None:
        url = str(request.url)
        check_outbound_url(url, allowed_hosts)
        if "authorization" in request.headers and _origin(request.url) != base_origin:
            # Credentials are bound to the host they were issued for (OWASP API10: a
            # nextRecordsUrl or attachment link on another host must not receive them).
            raise ValidationFailed(
                f"Refusing to send credentials for {base_origin[1]} to another host "
                f"({request.url.host}).",
                details={"url": _without_query(request.url)},
            )

    timeout = httpx.Timeout(
        settings.outbound_timeout_seconds,
        connect=min(settings.outbound_timeout_seconds, MAX_CONNECT_TIMEOUT_SECONDS),
    )
    return httpx.Client(
        base_url=checked_base_url,
        auth=auth,
        transport=_MeteredTransport(
            network, service=service, connection_id=connection_id, metrics=metrics
        ),
        event_hooks={"request": [check_request]},
        follow_redirects=False,
        timeout=timeout,
        trust_env=False,
    )


def endpoint_template(path: str) -> str:
    """``/rest/api/3/issue/PROJ-12/comment/10001`` -> ``/rest/api/3/issue/{key}/comment/{id}``."""
    segments = path.split("?", 1)[0].split("/")
    collapsed: list[str] = []
    previous = ""
    for segment in segments[: _MAX_ENDPOINT_SEGMENTS + 1]:
        if previous == "api" and _NUMERIC_ID.match(segment):
            # Jira's API version (/rest/api/3/...), not a record id.
            collapsed.append(segment)
        elif _JIRA_KEY.match(segment):
            collapsed.append("{key}")
        elif (
            _NUMERIC_ID.match(segment)
            or _UUID.match(segment)
            or _SALESFORCE_ID.match(segment)
            or _LONG_OPAQUE.match(segment)
        ):
            collapsed.append("{id}")
        else:
            collapsed.append(segment)
        previous = segment
    if len(segments) > _MAX_ENDPOINT_SEGMENTS + 1:
        collapsed.append("...")
    return "/".join(collapsed) or "/"


class GuardedNetworkBackend(httpcore2.NetworkBackend):
    """Resolves each host once, checks every address, and connects to a checked address.

    The TLS layer still uses the original host name for SNI and certificate checks (httpcore
    passes the origin's host as ``server_hostname``), so pinning the IP costs no security.
    """

    def __init__(
        self,
        allowed_hosts: Sequence[str],
        resolver: Resolver,
        inner: httpcore2.NetworkBackend | None = None,
    ) -> None:
        self._allowed_hosts = tuple(allowed_hosts)
        self._resolver = resolver
        self._inner = inner if inner is not None else httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            addresses = list(self._resolver(host, port))
        except OSError:
            raise httpcore2.ConnectError(f"Could not resolve {host!r}.") from None
        if not addresses:
            raise httpcore2.ConnectError(f"{host!r} resolved to no address.")
        # Every address must pass, not just the first: a resolver answering public-then-private
        # would otherwise let a retry or a second connection reach the private one.
        for address in addresses:
            check_resolved_address(host, address, self._allowed_hosts)
        return self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        raise ValidationFailed("Unix sockets are not an allowed outbound destination.")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedHTTPTransport(httpx.HTTPTransport):
    """httpx2's transport over a :class:`GuardedNetworkBackend`.

    httpx2 exposes no ``network_backend`` argument, so the connection pool it builds is replaced
    by an identical one using the guarded backend (same TLS context and limits).
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, limits: httpx.Limits, backend: GuardedNetworkBackend
    ) -> None:
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore2.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class _MeteredTransport(httpx.BaseTransport):
    """Counts, times and logs each call that reaches the network (or the test transport)."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        *,
        service: str,
        connection_id: str | None,
        metrics: Metrics | None,
    ) -> None:
        self._inner = inner
        self._service = service
        self._connection = connection_id or NO_CONNECTION
        self._metrics = metrics

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        endpoint = endpoint_template(request.url.path)
        try:
            response = self._inner.handle_request(request)
        except Exception as error:
            self._record(request, endpoint, started, status=None, error=error)
            raise
        self._record(request, endpoint, started, status=response.status_code, error=None)
        return response

    def close(self) -> None:
        self._inner.close()

    def _record(
        self,
        request: httpx.Request,
        endpoint: str,
        started: float,
        *,
        status: int | None,
        error: Exception | None,
    ) -> None:
        duration = time.perf_counter() - started
        status_class = f"{status // 100}xx" if status is not None else "error"
        if self._metrics is not None:
            self._metrics.outbound_requests.labels(
                connection=self._connection,
                service=self._service,
                endpoint=endpoint,
                status=status_class,
            ).inc()
            self._metrics.outbound_duration.labels(
                service=self._service, endpoint=endpoint
            ).observe(duration)
        _logger.debug(
            "http.outbound",
            service=self._service,
            connection_id=self._connection,
            method=request.method,
            host=request.url.host,
            path=request.url.path,
            status=status,
            duration_ms=round(duration * 1000, 1),
            error=type(error).__name__ if error is not None else None,
        )


class _SyncOverAsyncTransport(httpx.BaseTransport):
    """Lets the sync client use an async-only transport (``httpx2.ASGITransport`` to an app).

    Each request runs in a short-lived anyio portal thread, as Starlette's TestClient does, so
    nothing outlives the call and it works whether or not the caller's thread runs a loop.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # a sync body stream cannot be consumed from the portal's thread
        with anyio.from_thread.start_blocking_portal() as portal:
            status_code, headers, body = portal.call(self._exchange, request)
        return httpx.Response(
            status_code, headers=headers, stream=httpx.ByteStream(body), request=request
        )

    async def _exchange(
        self, request: httpx.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self._inner.handle_async_request(request)
        try:
            # Raw bytes: the client decodes any Content-Encoding itself, as off the wire.
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        return response.status_code, response.headers.raw, body


def _guarded_transport(
    settings: Settings, allowed_hosts: Sequence[str], resolver: Resolver
) -> httpx.BaseTransport:
    return _GuardedHTTPTransport(
        ssl_context=_ssl_context(settings),
        limits=POOL_LIMITS,
        backend=GuardedNetworkBackend(allowed_hosts, resolver),
    )


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    # httpx2's default context: the system trust store (compiled-in OpenSSL paths, certifi as a
    # fallback), never SSL_CERT_FILE from the environment since trust_env is off.
    context = httpx.create_ssl_context(verify=True, trust_env=False)
    if settings.ca_file is not None:
        # Added to, not instead of, the system store: the sandbox CA and real vendors both work.
        context.load_verify_locations(cafile=str(settings.ca_file))
    return context


def _system_resolver(host: str, port: int) -> list[str]:
    results = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonical, sockaddr in results:
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"https": 443, "http": 80}.get(url.scheme)
    return (url.scheme, url.host.lower(), url.port or default_port)


def _without_query(url: httpx.URL) -> str:
    return str(url.copy_with(query=None, fragment=None))
