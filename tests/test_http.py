"""The outbound HTTP layer: the URL guard runs before any I/O, redirects are not followed,
credentials stay on their host, every call is metered and logged without secrets, and real
connections go only to checked addresses over verified TLS."""

from __future__ import annotations

import datetime as dt
import http.server
import io
import ipaddress
import json
import logging
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import fastapi
import httpcore2
import pytest
import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from forcebridge.errors import ValidationFailed
from forcebridge.http import (
    GuardedNetworkBackend,
    MockTransport,
    Request,
    Response,
    TransportError,
    build_client,
    endpoint_template,
    httpx,
)
from forcebridge.logging import configure_logging
from forcebridge.metrics import Metrics
from forcebridge.settings import Settings

JIRA = "https://acme.atlassian.net"
SENTINEL_TOKEN = "SENTINEL-jira-token-9c1e2d7f"


class RecordingHandler:
    """A MockTransport handler that remembers what reached "the network"."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.requests: list[Request] = []
        self.status = status
        self.headers = headers or {}

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(self.status, headers=self.headers, json={"ok": True})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, allowed_hosts=["127.0.0.1:8443"])


def client_for(
    settings: Settings,
    handler: Any,
    *,
    base_url: str = JIRA,
    metrics: Metrics | None = None,
    connection_id: str | None = "connection-1",
    **kwargs: Any,
) -> httpx.Client:
    return build_client(
        settings=settings,
        service="jira",
        connection_id=connection_id,
        base_url=base_url,
        transport=MockTransport(handler),
        metrics=metrics,
        **kwargs,
    )


# --- the URL guard ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url", ["http://acme.atlassian.net", "https://127.0.0.1", "https://evil.test", "file:///x"]
)
def test_client_for_a_disallowed_base_url_is_never_built(settings: Settings, base_url: str) -> None:
    handler = RecordingHandler()
    with pytest.raises(ValidationFailed):
        client_for(settings, handler, base_url=base_url)


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:6379/",
        "https://acme.atlassian.net.evil.test/",
        "https://0x7f.1/",
        "https://[::1]/",
    ],
)
def test_request_to_a_disallowed_url_fails_before_any_network_io(
    settings: Settings, url: str
) -> None:
    handler = RecordingHandler()
    with client_for(settings, handler) as client, pytest.raises(ValidationFailed):
        client.get(url)
    assert handler.requests == []


def test_request_to_an_allowed_sandbox_host_goes_through(settings: Settings) -> None:
    handler = RecordingHandler()
    with client_for(settings, handler, base_url="http://127.0.0.1:8443") as client:
        assert client.get("/rest/api/3/myself").status_code == 200
    assert str(handler.requests[0].url) == "http://127.0.0.1:8443/rest/api/3/myself"


def test_credentials_are_not_sent_to_another_host(settings: Settings) -> None:
    handler = RecordingHandler()
    headers = {"Authorization": f"Bearer {SENTINEL_TOKEN}"}
    with client_for(settings, handler) as client:
        with pytest.raises(ValidationFailed, match="another host"):
            client.get("https://other.atlassian.net/rest/api/3/myself", headers=headers)
        client.get("/rest/api/3/myself", headers=headers)
        # A pre-signed link on another vendor host, without our credentials, is fine.
        client.get("https://api.media.atlassian.com/file/abc/binary?token=x")
    assert [request.url.host for request in handler.requests] == [
        "acme.atlassian.net",
        "api.media.atlassian.com",
    ]


def test_credentials_from_an_auth_object_are_not_sent_to_another_host(settings: Settings) -> None:
    handler = RecordingHandler()
    auth = httpx.BasicAuth("admin@example.com", SENTINEL_TOKEN)
    with (
        client_for(settings, handler, auth=auth) as client,
        pytest.raises(ValidationFailed, match="another host"),
    ):
        client.get("https://acme.my.salesforce.com/services/data/")
    assert handler.requests == []


def test_redirects_are_returned_not_followed(settings: Settings) -> None:
    handler = RecordingHandler(status=302, headers={"Location": "http://127.0.0.1:5432/"})
    with client_for(settings, handler) as client:
        response = client.get("/rest/api/3/attachment/content/10001")
    assert response.status_code == 302
    assert len(handler.requests) == 1


def test_client_uses_the_configured_timeouts_and_ignores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    settings = Settings(data_dir=tmp_path, outbound_timeout_seconds=7.5)
    with client_for(settings, RecordingHandler()) as client:
        assert client.timeout.read == 7.5
        assert client.timeout.connect == 7.5
        assert client.follow_redirects is False
        assert client.trust_env is False


# --- metering and logging ---------------------------------------------------------------------


def test_every_call_is_metered_per_connection_service_and_endpoint(settings: Settings) -> None:
    metrics = Metrics()
    with client_for(settings, RecordingHandler(), metrics=metrics) as client:
        client.get("/rest/api/3/issue/PROJ-12")
        client.get("/rest/api/3/issue/PROJ-13")
        client.post("/rest/api/3/issue/10001/comment", json={})
    with client_for(settings, RecordingHandler(), metrics=metrics, connection_id="other") as client:
        client.get("/rest/api/3/myself")

    assert metrics.outbound_call_count(service="jira") == 4
    assert metrics.outbound_call_count(service="jira", connection="connection-1") == 3
    assert metrics.outbound_call_count(service="salesforce") == 0
    body, content_type = metrics.render()
    text = body.decode()
    assert content_type.startswith("text/plain")
    assert (
        'forcebridge_outbound_requests_total{connection="connection-1",'
        'endpoint="/rest/api/3/issue/{key}",service="jira",status="2xx"} 2.0'
    ) in text
    assert 'endpoint="/rest/api/3/issue/{id}/comment"' in text


def test_blocked_requests_are_not_metered(settings: Settings) -> None:
    metrics = Metrics()
    with (
        client_for(settings, RecordingHandler(), metrics=metrics) as client,
        pytest.raises(ValidationFailed),
    ):
        client.get("https://127.0.0.1:1/")
    assert metrics.outbound_call_count(service="jira") == 0


def test_failed_calls_are_metered_with_status_class(settings: Settings) -> None:
    metrics = Metrics()

    def dropped(request: Request) -> Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client_for(settings, RecordingHandler(status=503), metrics=metrics) as client:
        client.get("/rest/api/3/myself")
    with client_for(settings, dropped, metrics=metrics) as client, pytest.raises(TransportError):
        client.get("/rest/api/3/myself")

    text = metrics.render()[0].decode()
    assert 'status="5xx"} 1.0' in text
    assert 'status="error"} 1.0' in text
    assert metrics.outbound_call_count(service="jira") == 2


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("restore_logging")
def test_log_line_has_the_call_but_no_credentials_query_or_body(
    tmp_path: Path, settings: Settings
) -> None:
    stream = io.StringIO()
    configure_logging(
        Settings(data_dir=tmp_path, log_format="json", log_level="DEBUG"), stream=stream
    )
    with client_for(settings, RecordingHandler()) as client:
        client.post(
            f"/rest/api/3/search/jql?jql=secret&token={SENTINEL_TOKEN}",
            headers={"Authorization": f"Bearer {SENTINEL_TOKEN}"},
            json={"password": SENTINEL_TOKEN},
        )
    output = stream.getvalue()
    assert SENTINEL_TOKEN not in output
    lines = [json.loads(line) for line in output.splitlines()]
    call = next(line for line in lines if line["event"] == "http.outbound")
    assert call["service"] == "jira"
    assert call["method"] == "POST"
    assert call["path"] == "/rest/api/3/search/jql"
    assert call["status"] == 200
    assert isinstance(call["duration_ms"], float)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/rest/api/3/issue/PROJ-12", "/rest/api/3/issue/{key}"),
        ("/rest/api/3/issue/10001/comment/10002", "/rest/api/3/issue/{id}/comment/{id}"),
        (
            "/services/data/v62.0/sobjects/Account/001xx000003DGb2AAG",
            "/services/data/v62.0/sobjects/Account/{id}",
        ),
        (
            "/services/data/v62.0/sobjects/Case/500xx000000Abcd",
            "/services/data/v62.0/sobjects/Case/{id}",
        ),
        (
            "/ex/jira/0a1b2c3d-1111-2222-3333-444455556666/rest/api/3/field",
            "/ex/jira/{id}/rest/api/3/field",
        ),
        ("/services/data/v62.0/composite/sobjects", "/services/data/v62.0/composite/sobjects"),
        (
            "/services/data/v62.0/sobjects/ContentVersion",
            "/services/data/v62.0/sobjects/ContentVersion",
        ),
        ("/", "/"),
    ],
)
def test_endpoint_template_collapses_record_ids(path: str, template: str) -> None:
    assert endpoint_template(path) == template


# --- connect-time guard -----------------------------------------------------------------------


class RecordingBackend(httpcore2.NetworkBackend):
    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []

    def connect_tcp(
        self, host: str, port: int, *args: Any, **kwargs: Any
    ) -> httpcore2.NetworkStream:
        self.connected.append((host, port))
        return httpcore2.MockStream([])


def resolver_returning(*addresses: str) -> Any:
    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "addresses", [("127.0.0.1",), ("104.192.142.1", "10.0.0.5"), ("::ffff:169.254.169.254",)]
)
def test_vendor_name_rebound_to_an_internal_address_is_never_connected(
    addresses: tuple[str, ...],
) -> None:
    inner = RecordingBackend()
    backend = GuardedNetworkBackend((), resolver_returning(*addresses), inner=inner)
    with pytest.raises(ValidationFailed, match="possible DNS rebinding|metadata"):
        backend.connect_tcp("acme.atlassian.net", 443)
    assert inner.connected == []


def test_connection_goes_to_the_checked_address_not_a_second_lookup() -> None:
    inner = RecordingBackend()
    backend = GuardedNetworkBackend((), resolver_returning("104.192.142.1"), inner=inner)
    backend.connect_tcp("acme.atlassian.net", 443)
    assert inner.connected == [("104.192.142.1", 443)]


def test_rebinding_is_refused_through_a_real_client(settings: Settings) -> None:
    with (
        build_client(
            settings=settings,
            service="jira",
            connection_id=None,
            base_url=JIRA,
            resolver=resolver_returning("127.0.0.1"),
        ) as client,
        pytest.raises(ValidationFailed, match="possible DNS rebinding"),
    ):
        client.get("/rest/api/3/myself")


# --- real sockets and TLS ---------------------------------------------------------------------


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ForceBridge test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"hello": "world"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    ca_path, cert_path, key_path = make_certificates(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_https_to_an_allowed_host_works_with_the_configured_ca(
    tmp_path: Path, tls_server: tuple[int, Path]
) -> None:
    port, ca_path = tls_server
    settings = Settings(data_dir=tmp_path, allowed_hosts=[f"127.0.0.1:{port}"], ca_file=ca_path)
    with build_client(
        settings=settings, service="jira", connection_id=None, base_url=f"https://127.0.0.1:{port}"
    ) as client:
        response = client.get("/rest/api/3/serverInfo")
    assert response.json() == {"hello": "world"}


def test_https_to_a_server_with_an_unknown_ca_is_refused(
    tmp_path: Path, tls_server: tuple[int, Path]
) -> None:
    port, _ = tls_server
    settings = Settings(data_dir=tmp_path, allowed_hosts=[f"127.0.0.1:{port}"])
    with (
        build_client(
            settings=settings,
            service="jira",
            connection_id=None,
            base_url=f"https://127.0.0.1:{port}",
        ) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
    ):
        client.get("/rest/api/3/serverInfo")


# --- in-process ASGI apps ---------------------------------------------------------------------


comment_app = FastAPI()


@comment_app.post("/rest/api/3/issue/{key}/comment")
async def add_comment(key: str, request: fastapi.Request) -> dict[str, Any]:
    return {"key": key, "body": await request.json()}


def test_async_asgi_transport_works_with_the_sync_client_and_is_metered(settings: Settings) -> None:
    metrics = Metrics()
    with build_client(
        settings=settings,
        service="jira",
        connection_id="c1",
        base_url=JIRA,
        transport=httpx.ASGITransport(app=comment_app),
        metrics=metrics,
    ) as client:
        response = client.post("/rest/api/3/issue/PROJ-1/comment", json={"text": "hi"})
        with pytest.raises(ValidationFailed):
            client.get("https://127.0.0.1:9/")
    assert response.json() == {"key": "PROJ-1", "body": {"text": "hi"}}
    assert metrics.outbound_call_count(service="jira", connection="c1") == 1
