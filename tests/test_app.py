"""The application shell: health, readiness, metrics, request ids and the error envelope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from forcebridge.container import build_container
from forcebridge.errors import ConfigurationError
from forcebridge.settings import Settings


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readyz_reports_database_reachable(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": True}


def test_readyz_is_503_when_the_database_is_unreachable(client: TestClient, container) -> None:
    from sqlalchemy import create_engine

    container.engine = create_engine("sqlite:////nonexistent/directory/forcebridge.db")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] is False


def test_metrics_are_exposed_in_prometheus_format(client: TestClient) -> None:
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "forcebridge_http_requests_total" in response.text


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32


def test_unknown_route_answers_the_error_envelope(client: TestClient) -> None:
    response = client.get("/external/api/does-not-exist")
    assert response.status_code == 404
    body = response.json()
    assert body["success"] is False
    assert body["message"]
    assert body["request_id"] == response.headers["x-request-id"]


def test_openapi_document_is_served(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "ForceBridge"


def test_the_server_refuses_to_start_without_a_secret_key(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FORCEBRIDGE_SECRET_KEY", raising=False)
    with pytest.raises(ConfigurationError) as raised:
        build_container(Settings(data_dir=tmp_path, secret_key=None, secret_key_file=None))
    assert "FORCEBRIDGE_SECRET_KEY" in (raised.value.message + (raised.value.hint or ""))
