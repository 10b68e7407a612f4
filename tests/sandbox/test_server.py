"""Serving ASGI apps over real sockets: HTTPS trusted by CA path, free ports, clean stops."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI

from forcebridge.sandbox.server import (
    AppServer,
    SandboxStartupError,
    serve_app,
    split_emulator_options,
    start_sandbox,
    url_host,
)
from forcebridge.sandbox.tls import TlsFiles, ensure_certificates


def _stand_in_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    def hello() -> dict[str, str]:
        return {"hello": "world"}

    return app


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    return ensure_certificates(tmp_path / "tls")


@pytest.fixture
def https_server(tls_files: TlsFiles) -> Iterator[AppServer]:
    server = serve_app(_stand_in_app(), tls_files=tls_files, name="stand-in")
    yield server
    server.stop()


def test_port_zero_binds_a_free_port_and_reports_it(https_server: AppServer) -> None:
    assert https_server.port > 0
    assert https_server.url == f"https://127.0.0.1:{https_server.port}"


def test_https_is_reachable_by_clients_that_trust_the_ca_file(
    https_server: AppServer, tls_files: TlsFiles
) -> None:
    with httpx2.Client(verify=tls_files.client_context()) as client:
        response = client.get(f"{https_server.url}/hello")

    assert response.json() == {"hello": "world"}


def test_https_is_reachable_under_the_localhost_name(
    https_server: AppServer, tls_files: TlsFiles
) -> None:
    with httpx2.Client(verify=tls_files.client_context()) as client:
        response = client.get(f"https://localhost:{https_server.port}/hello")

    assert response.status_code == 200


def test_https_is_refused_by_clients_that_do_not_trust_the_ca(https_server: AppServer) -> None:
    with (
        httpx2.Client(verify=ssl.create_default_context()) as client,
        pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get(f"{https_server.url}/hello")


def test_plain_http_is_served_without_tls_files() -> None:
    server = serve_app(_stand_in_app(), name="plain")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        assert httpx2.get(f"{server.url}/hello").json() == {"hello": "world"}
    finally:
        server.stop()


def test_busy_port_fails_to_start_with_a_clear_error(https_server: AppServer) -> None:
    with pytest.raises(
        SandboxStartupError, match=f"cannot listen on 127.0.0.1:{https_server.port}"
    ):
        serve_app(_stand_in_app(), port=https_server.port, name="second")


def test_stop_closes_the_port_and_is_idempotent(tls_files: TlsFiles) -> None:
    server = serve_app(_stand_in_app(), tls_files=tls_files, name="stopping")
    port = server.port

    server.stop()
    server.stop()

    assert not server.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_stop_closes_idle_keep_alive_connections(tls_files: TlsFiles) -> None:
    server = serve_app(_stand_in_app(), tls_files=tls_files, name="keep-alive")
    with httpx2.Client(verify=tls_files.client_context()) as client:
        assert client.get(f"{server.url}/hello").status_code == 200

        server.stop()

        assert not server.running
        with pytest.raises(httpx2.TransportError):
            client.get(f"{server.url}/hello")


def test_ipv6_loopback_is_served_and_bracketed_in_the_url(tls_files: TlsFiles) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server = serve_app(_stand_in_app(), host="::1", tls_files=tls_files, name="ipv6")
    except SandboxStartupError as error:
        pytest.skip(f"::1 not available: {error}")
    try:
        assert server.url == f"https://[::1]:{server.port}"
        with httpx2.Client(verify=tls_files.client_context()) as client:
            assert client.get(f"{server.url}/hello").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("::", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_urls_name_a_connectable_host(host: str, expected: str) -> None:
    assert url_host(host) == expected


class _JiraLike:
    def __init__(
        self, *, state_path: Path | None = None, seed: bool = True, webhook_verify: bool = True
    ) -> None:
        pass


class _SalesforceLike:
    def __init__(
        self, *, state_path: Path | None = None, seed: bool = True, daily_api_limit: int = 1
    ) -> None:
        pass


def test_emulator_options_go_to_each_emulator_that_accepts_them() -> None:
    jira_options, salesforce_options = split_emulator_options(
        {"seed": False, "webhook_verify": False, "daily_api_limit": 5}, _JiraLike, _SalesforceLike
    )

    assert jira_options == {"seed": False, "webhook_verify": False}
    assert salesforce_options == {"seed": False, "daily_api_limit": 5}


@pytest.mark.parametrize("option", ["daily_api_limt", "state_path"])
def test_unknown_or_derived_emulator_options_are_refused(option: str) -> None:
    with pytest.raises(TypeError, match=option):
        split_emulator_options({option: 1}, _JiraLike, _SalesforceLike)


def _require_emulators() -> None:
    for module, name in (
        ("forcebridge.sandbox.jira", "JiraSandbox"),
        ("forcebridge.sandbox.salesforce", "SalesforceSandbox"),
    ):
        if not hasattr(pytest.importorskip(module, reason=f"{module} not written yet"), name):
            pytest.skip(f"{module} does not export {name} yet")


def test_start_sandbox_serves_both_emulators_over_https(tmp_path: Path) -> None:
    _require_emulators()
    with start_sandbox(data_dir=tmp_path) as running:
        assert running.ca_file == tmp_path.resolve() / "ca.pem"
        context = ssl.create_default_context(cafile=str(running.ca_file))
        credentials = running.jira.credentials
        with httpx2.Client(verify=context) as client:
            jira = client.get(
                f"{running.jira_url}/rest/api/3/myself",
                auth=(credentials["email"], credentials["api_token"]),
            )
            salesforce = client.get(f"{running.salesforce_url}/services/data/")
        described = running.describe()

    assert jira.status_code == 200, jira.text
    assert salesforce.status_code == 200, salesforce.text
    assert described["jira"]["url"] == running.jira_url
    assert described["salesforce"]["access_token"] == running.salesforce.credentials["access_token"]
    assert (tmp_path / "jira.db").is_file()
    assert (tmp_path / "salesforce.db").is_file()


def test_start_sandbox_without_data_dir_keeps_nothing_after_stop() -> None:
    _require_emulators()
    running = start_sandbox(jira_port=0, salesforce_port=0)
    files_dir = running.files_dir
    assert running.describe()["data_dir"] is None
    assert (files_dir / "ca.pem").is_file()

    running.stop()

    assert not files_dir.exists()
    assert not running.jira_server.running
    assert not running.salesforce_server.running


def test_start_sandbox_plain_http_has_no_ca(tmp_path: Path) -> None:
    _require_emulators()
    with start_sandbox(data_dir=tmp_path, tls=False) as running:
        assert running.ca_file is None
        assert running.jira_url.startswith("http://")
        assert httpx2.get(f"{running.salesforce_url}/services/data/").status_code == 200
    assert not (tmp_path / "ca.pem").exists()


def test_start_sandbox_releases_the_first_port_when_the_second_is_busy(tmp_path: Path) -> None:
    _require_emulators()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy_port = taken.getsockname()[1]
        free_port = _free_port()

        with pytest.raises(SandboxStartupError):
            start_sandbox(data_dir=tmp_path, jira_port=free_port, salesforce_port=busy_port)

    with socket.socket() as again:
        again.bind(("127.0.0.1", free_port))  # raises if the Jira server were still listening


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
