"""Helpers the test suite uses to talk to the sandbox (plain functions; pytest stays in tests/).

Two ways to reach an emulator:

- over real sockets: ``running_sandbox()`` serves both emulators over HTTPS (or HTTP) on free
  ports, exactly as ``forcebridge sandbox`` does, for tests of TLS, timeouts and third-party
  clients;
- in process, for speed: ``jira_transport(jira)`` / ``salesforce_transport(salesforce)`` return an
  httpx2 transport that calls the emulator's ASGI app directly. It works with both
  ``httpx2.Client`` and ``httpx2.AsyncClient``, and turns a ``drop_connection`` fault into the
  ``httpx2.RemoteProtocolError`` a client would see from a real dropped connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx2
from starlette.types import ASGIApp

from forcebridge.sandbox.operator import SandboxDroppedConnection
from forcebridge.sandbox.server import RunningSandbox, start_sandbox

if TYPE_CHECKING:
    from forcebridge.sandbox.jira import JiraSandbox
    from forcebridge.sandbox.salesforce import SalesforceSandbox

_Result = TypeVar("_Result")


class _HasApp(Protocol):
    @property
    def app(self) -> Any: ...


class _BackgroundLoop:
    """One asyncio loop in a daemon thread, shared by every in-process transport.

    Synchronous clients cannot await an ASGI app, so their requests run on this loop. A daemon
    thread (unlike anyio's blocking portal, which needs closing) can never keep the test
    process alive at exit, so transports need no cleanup.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coroutine: Coroutine[Any, Any, _Result]) -> _Result:
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            coroutine.close()
            # Blocking the loop's own thread on work queued to that loop would never return.
            raise RuntimeError(
                "a synchronous client was used from async code on the sandbox's own loop;"
                " use httpx2.AsyncClient there"
            )
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="sandbox-in-process-loop", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop


_background_loop = _BackgroundLoop()


class SandboxTransport(httpx2.ASGITransport, httpx2.BaseTransport):
    """An in-process transport to an ASGI app, usable by sync and async httpx2 clients."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1") -> None:
        # raise_app_exceptions: an emulator bug must fail the test, not pass as a fake 500.
        super().__init__(app=app, raise_app_exceptions=True, client=(host, 50000))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        try:
            return await super().handle_async_request(request)
        except SandboxDroppedConnection as error:
            raise httpx2.RemoteProtocolError(
                "Server disconnected without sending a complete response.", request=request
            ) from error

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()  # a sync body stream cannot be consumed from the loop's thread
        status_code, headers, body = _background_loop.run(self._exchange(request))
        return httpx2.Response(
            status_code, headers=headers, stream=httpx2.ByteStream(body), request=request
        )

    async def _exchange(
        self, request: httpx2.Request
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self.handle_async_request(request)
        # Raw bytes: the client decodes any Content-Encoding itself, as it would off the wire.
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        return response.status_code, response.headers.raw, body

    def close(self) -> None:
        """Nothing to release: the shared loop lives for the whole process."""


def app_transport(app: ASGIApp) -> SandboxTransport:
    """An in-process transport to any ASGI app (e.g. a stand-in app in a test)."""
    return SandboxTransport(app)


def jira_transport(jira: JiraSandbox | _HasApp) -> SandboxTransport:
    """An in-process transport to a ``JiraSandbox`` (use with base URL ``https://jira.test``)."""
    return SandboxTransport(jira.app)


def salesforce_transport(salesforce: SalesforceSandbox | _HasApp) -> SandboxTransport:
    """An in-process transport to a ``SalesforceSandbox``."""
    return SandboxTransport(salesforce.app)


@contextmanager
def running_sandbox(
    tmp_path: Path | None = None, tls: bool = True, **kwargs: Any
) -> Iterator[RunningSandbox]:
    """Both emulators served on free loopback ports for the duration of the ``with`` block.

    ``tmp_path`` keeps state and certificates there (pass pytest's ``tmp_path``); None keeps
    state in memory. Other keyword arguments go to ``start_sandbox``.
    """
    kwargs.setdefault("jira_port", 0)
    kwargs.setdefault("salesforce_port", 0)
    sandbox = start_sandbox(data_dir=tmp_path, tls=tls, **kwargs)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def sandbox_client(sandbox: RunningSandbox, service: str, **client_options: Any) -> httpx2.Client:
    """A keep-alive httpx2 client for ``service`` ("jira" or "salesforce") trusting the CA."""
    urls = {"jira": sandbox.jira_url, "salesforce": sandbox.salesforce_url}
    if service not in urls:
        raise ValueError(f"unknown sandbox service {service!r}; expected one of {sorted(urls)}")
    verify: Any = sandbox.tls_files.client_context() if sandbox.tls_files is not None else True
    client_options.setdefault("timeout", 10.0)
    return httpx2.Client(base_url=urls[service], verify=verify, **client_options)
