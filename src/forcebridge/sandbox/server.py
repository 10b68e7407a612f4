"""Serving the emulators over real sockets: the process behind ``forcebridge sandbox``.

``AppServer`` runs one ASGI app with uvicorn in a background thread on a socket bound up front
(so port 0 yields a real, known port before the call returns, and a busy port fails in the
caller's thread). ``start_sandbox`` builds both emulators, serves each on its own port, over
HTTPS with the local CA of ``tls.py`` by default, and returns a ``RunningSandbox`` that describes
itself (URLs, credentials, CA path) and stops cleanly.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp

from forcebridge.sandbox.operator import SandboxDroppedConnection
from forcebridge.sandbox.tls import TlsFiles, ensure_certificates, write_private_file

if TYPE_CHECKING:
    from forcebridge.sandbox.jira import JiraSandbox
    from forcebridge.sandbox.salesforce import SalesforceSandbox

DEFAULT_HOST = "127.0.0.1"
JIRA_STATE_FILE_NAME = "jira.db"
SALESFORCE_STATE_FILE_NAME = "salesforce.db"
SALESFORCE_PRIVATE_KEY_FILE_NAME = "salesforce-private-key.pem"
JIRA_DESCRIBED_CREDENTIALS = (
    "email",
    "api_token",
    "account_id",
    "cloud_id",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_refresh_token",
)
SALESFORCE_DESCRIBED_CREDENTIALS = (
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "username",
    "organization_id",
)
STARTUP_TIMEOUT_SECONDS = 20.0
# Requests still running when asked to stop get this long to finish; keep-alive connections
# that are idle are closed at once.
GRACEFUL_SHUTDOWN_SECONDS = 3

# Hosts that mean "every interface": clients cannot connect to them, so URLs name loopback.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


class SandboxStartupError(RuntimeError):
    """An emulator's server could not start (port busy, bad host, app failed its startup)."""


class _DroppedConnectionLogFilter(logging.Filter):
    """Keeps uvicorn from printing a traceback for faults injected on purpose.

    A ``drop_connection`` fault raises ``SandboxDroppedConnection`` mid-response; uvicorn then
    closes the socket (what we want) and logs "Exception in ASGI application" with a traceback
    (noise that reads like a crash to whoever runs the sandbox).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exception = record.exc_info[1] if record.exc_info else None
        return not isinstance(exception, SandboxDroppedConnection)


_log_filter = _DroppedConnectionLogFilter()


def _install_log_filter() -> None:
    uvicorn_logger = logging.getLogger("uvicorn.error")
    if _log_filter not in uvicorn_logger.filters:
        uvicorn_logger.addFilter(_log_filter)


def url_host(host: str) -> str:
    """The host as it appears in a URL: loopback for wildcards, brackets around IPv6."""
    host = _WILDCARD_HOSTS.get(host, host)
    return f"[{host}]" if ":" in host else host


class _PromptlyStoppingServer(uvicorn.Server):
    """uvicorn, minus a slow stop over TLS.

    uvicorn closes idle keep-alive connections on shutdown with ``transport.close()``; over TLS
    asyncio then waits for the client's close_notify, which an idle client never sends, so
    every stop would hang for the whole graceful-shutdown timeout. Aborting connections that
    have no request in flight loses nothing (the client reconnects) and stops at once.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()
        await super().shutdown(sockets)


class AppServer:
    """One ASGI app served by uvicorn in a daemon thread; ``stop()`` shuts it down gracefully."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        tls_files: TlsFiles | None = None,
        name: str = "app",
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.tls_files = tls_files
        self.name = name
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self.port = 0

    @property
    def scheme(self) -> str:
        return "https" if self.tls_files is not None else "http"

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash, e.g. ``https://127.0.0.1:8701``."""
        return f"{self.scheme}://{url_host(self.host)}:{self.port}"

    def start(self) -> AppServer:
        """Binds the port, starts serving and returns once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} server already started")
        _install_log_filter()
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            # log_config=None: never let uvicorn reconfigure the host process's logging.
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="auto",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            ssl_certfile=str(self.tls_files.cert_file) if self.tls_files else None,
            ssl_keyfile=str(self.tls_files.key_file) if self.tls_files else None,
        )
        self._server = _PromptlyStoppingServer(config)
        self._thread = threading.Thread(
            target=self._serve, name=f"sandbox-{self.name}-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxStartupError(
                    f"the {self.name} server did not start on {self.url}: {self._failure!r}"
                )
            time.sleep(0.01)
        return self

    def _bind(self) -> socket.socket:
        host = self.host or "0.0.0.0"
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP, not the default 0: asyncio only sets TCP_NODELAY on accepted
        # sockets whose proto says TCP, and without it Nagle's algorithm plus delayed ACKs add
        # ~40 ms to every response written in two parts (headers, then body).
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # Lets a restarted sandbox take its fixed port back while old connections sit in
        # TIME_WAIT; it does not allow two live listeners on one port.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, self.requested_port))
        except OSError as error:
            listener.close()
            raise SandboxStartupError(
                f"cannot listen on {host}:{self.requested_port} for {self.name}: {error.strerror}"
            ) from error
        return listener

    def _serve(self) -> None:
        assert self._server is not None and self._socket is not None
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as error:  # reported to the starting thread by start()
            self._failure = error

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = GRACEFUL_SHUTDOWN_SECONDS + 5) -> None:
        """Stops accepting connections, lets running requests finish and joins the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()


def serve_app(
    app: ASGIApp,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    tls_files: TlsFiles | None = None,
    name: str = "app",
) -> AppServer:
    """Serves ``app`` in a background thread and returns the running server."""
    return AppServer(app, host=host, port=port, tls_files=tls_files, name=name).start()


class RunningSandbox:
    """Both emulators, served; use as a context manager or call ``stop()``."""

    def __init__(
        self,
        *,
        jira: JiraSandbox,
        salesforce: SalesforceSandbox,
        jira_server: AppServer,
        salesforce_server: AppServer,
        tls_files: TlsFiles | None,
        data_dir: Path | None,
        files_dir: Path,
        temporary_dir: Path | None,
    ) -> None:
        self.jira = jira
        self.salesforce = salesforce
        self.jira_server = jira_server
        self.salesforce_server = salesforce_server
        self.tls_files = tls_files
        self.data_dir = data_dir
        self.files_dir = files_dir
        self._temporary_dir = temporary_dir
        self._stopped = False

    @property
    def jira_url(self) -> str:
        return self.jira_server.url

    @property
    def salesforce_url(self) -> str:
        return self.salesforce_server.url

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients must trust; None when serving plain HTTP."""
        return self.tls_files.ca_file if self.tls_files is not None else None

    @property
    def salesforce_private_key_file(self) -> Path | None:
        path = self.files_dir / SALESFORCE_PRIVATE_KEY_FILE_NAME
        return path if path.exists() else None

    def describe(self) -> dict[str, Any]:
        """URLs, credentials and file paths, as printed by ``forcebridge sandbox --json``.

        Exactly the keys of the documented contract (docs/sandbox.md), whatever else the
        emulators keep in their credentials; key material is referred to by file, never
        printed, because this output ends up in terminals, CI logs and shell history.
        """
        private_key_file = self.salesforce_private_key_file
        return {
            "jira": {
                "url": self.jira_url,
                **{key: self.jira.credentials.get(key) for key in JIRA_DESCRIBED_CREDENTIALS},
            },
            "salesforce": {
                "url": self.salesforce_url,
                **{
                    key: self.salesforce.credentials.get(key)
                    for key in SALESFORCE_DESCRIBED_CREDENTIALS
                },
                "private_key_file": str(private_key_file) if private_key_file else None,
            },
            "ca_file": str(self.ca_file) if self.ca_file is not None else None,
            "data_dir": str(self.data_dir) if self.data_dir is not None else None,
        }

    def stop(self) -> None:
        """Stops both servers, closes the emulators' state and removes temporary files."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.jira_server.stop()
            self.salesforce_server.stop()
        finally:
            self.jira.close()
            self.salesforce.close()
            if self._temporary_dir is not None:
                shutil.rmtree(self._temporary_dir, ignore_errors=True)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def split_emulator_options(
    options: Mapping[str, Any], jira_class: type, salesforce_class: type
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Routes keyword options to the emulator(s) whose constructor accepts them.

    An option both accept (``seed``) goes to both; one that neither accepts is a caller's typo
    and raises ``TypeError`` rather than being silently ignored.
    """
    jira_parameters = set(inspect.signature(jira_class).parameters)
    salesforce_parameters = set(inspect.signature(salesforce_class).parameters)
    jira_options: dict[str, Any] = {}
    salesforce_options: dict[str, Any] = {}
    for name, value in options.items():
        if name in {"state_path"}:
            raise TypeError("state_path is derived from data_dir; pass data_dir instead")
        if name not in jira_parameters | salesforce_parameters:
            raise TypeError(f"neither emulator accepts the option {name!r}")
        if name in jira_parameters:
            jira_options[name] = value
        if name in salesforce_parameters:
            salesforce_options[name] = value
    return jira_options, salesforce_options


def start_sandbox(
    *,
    host: str = DEFAULT_HOST,
    jira_port: int = 0,
    salesforce_port: int = 0,
    data_dir: Path | None = None,
    tls: bool = True,
    **emulator_options: Any,
) -> RunningSandbox:
    """Starts both emulators and returns once both accept connections.

    ``data_dir`` keeps state (``jira.db``, ``salesforce.db``), the CA and certificates across
    restarts; None keeps state in memory and certificates in a temporary directory removed by
    ``stop()``. Port 0 picks a free port. Other keyword options go to the emulator constructors
    that accept them (``seed``, ``daily_api_limit``, ``webhook_transport`` ...).
    """
    from forcebridge.sandbox.jira import JiraSandbox
    from forcebridge.sandbox.salesforce import SalesforceSandbox

    jira_options, salesforce_options = split_emulator_options(
        emulator_options, JiraSandbox, SalesforceSandbox
    )
    temporary_dir = None
    if data_dir is None:
        temporary_dir = Path(tempfile.mkdtemp(prefix="forcebridge-sandbox-"))
        files_dir = temporary_dir
    else:
        data_dir = data_dir.expanduser().resolve()
        # Owner-only when we create it: the state files hold the emulators' tokens.
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        files_dir = data_dir
    started: list[Any] = []
    try:
        tls_files = ensure_certificates(files_dir) if tls else None
        jira = JiraSandbox(
            state_path=data_dir / JIRA_STATE_FILE_NAME if data_dir else None, **jira_options
        )
        started.append(jira)
        salesforce = SalesforceSandbox(
            state_path=data_dir / SALESFORCE_STATE_FILE_NAME if data_dir else None,
            **salesforce_options,
        )
        started.append(salesforce)
        private_key_pem = salesforce.credentials.get("private_key_pem")
        if private_key_pem:
            write_private_file(
                files_dir / SALESFORCE_PRIVATE_KEY_FILE_NAME, str(private_key_pem).encode()
            )
        jira_server = serve_app(
            jira.app, host=host, port=jira_port, tls_files=tls_files, name="jira"
        )
        started.insert(0, jira_server)
        salesforce_server = serve_app(
            salesforce.app, host=host, port=salesforce_port, tls_files=tls_files, name="salesforce"
        )
    except BaseException:
        for component in started:
            (component.stop if isinstance(component, AppServer) else component.close)()
        if temporary_dir is not None:
            shutil.rmtree(temporary_dir, ignore_errors=True)
        raise
    return RunningSandbox(
        jira=jira,
        salesforce=salesforce,
        jira_server=jira_server,
        salesforce_server=salesforce_server,
        tls_files=tls_files,
        data_dir=data_dir,
        files_dir=files_dir,
        temporary_dir=temporary_dir,
    )
