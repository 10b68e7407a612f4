"""The operator API over real HTTP: request log counts, fault injection, reset.

Runs against a small stand-in emulator built on the same ``install_operator`` as the real ones,
served by ``serve_app`` over HTTPS, so faults are observed exactly as a client on the wire sees
them. The in-process transport is checked to give the same observations.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI, HTTPException

from forcebridge.sandbox.operator import FaultRequest, Operator, install_operator
from forcebridge.sandbox.server import AppServer, serve_app
from forcebridge.sandbox.storage import DocumentStore
from forcebridge.sandbox.testing import app_transport
from forcebridge.sandbox.tls import ensure_certificates


class StandInEmulator:
    """A tiny "vendor": items in a DocumentStore, the operator API, bearer credentials."""

    def __init__(self, service: str = "jira") -> None:
        self.store = DocumentStore()
        self.operator = Operator(service)
        self.reset_calls = 0
        self.app = FastAPI()
        install_operator(self.app, self.operator, self._credential_of)
        self.operator.on_reset(self._reset)

        @self.app.get("/rest/items/{item_id}")
        def get_item(item_id: str) -> dict[str, object]:
            item = self.store.get("items", item_id)
            if item is None:
                raise HTTPException(status_code=404, detail="no such item")
            return item

        @self.app.post("/rest/items", status_code=201)
        def create_item(body: dict[str, object]) -> dict[str, object]:
            item_id = str(self.store.next_sequence("items", start=10000))
            item = {"id": item_id, **body}
            self.store.put("items", item_id, item)
            return item

    @staticmethod
    def _credential_of(headers: dict[str, str]) -> str | None:
        authorization = headers.get("authorization", "")
        return authorization.removeprefix("Bearer ") or None

    def _reset(self) -> None:
        self.reset_calls += 1
        self.store.clear()


@pytest.fixture(scope="module")
def emulator() -> StandInEmulator:
    return StandInEmulator()


@pytest.fixture(scope="module")
def served(
    emulator: StandInEmulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    tls_files = ensure_certificates(tmp_path_factory.mktemp("tls"))
    server = serve_app(emulator.app, tls_files=tls_files, name="stand-in")
    server.ca_context = tls_files.client_context()  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def client(served: AppServer, emulator: StandInEmulator) -> Iterator[httpx2.Client]:
    emulator.operator.reset()
    with httpx2.Client(
        base_url=served.url,
        verify=served.ca_context,  # type: ignore[attr-defined]
        headers={"Authorization": "Bearer token-a"},
        timeout=5,
    ) as http:
        yield http


def _inject(client: httpx2.Client, **fault: object) -> dict[str, object]:
    response = client.post("/__sandbox/faults", json=fault)
    assert response.status_code == 201, response.text
    return response.json()


def test_request_log_counts_each_call_by_route_template(client: httpx2.Client) -> None:
    created = client.post("/rest/items", json={"name": "a"}).json()
    client.get(f"/rest/items/{created['id']}")
    client.get(f"/rest/items/{created['id']}")
    client.get("/rest/items/missing")

    counts = client.get("/__sandbox/requests/counts").json()

    assert counts == {
        "total": 4,
        "by_endpoint": {"POST /rest/items": 1, "GET /rest/items/{item_id}": 3},
    }


def test_request_log_records_status_credential_and_query(client: httpx2.Client) -> None:
    client.get("/rest/items/missing", params={"expand": "names"})

    (entry,) = client.get("/__sandbox/requests").json()["requests"]

    assert entry["method"] == "GET"
    assert entry["path"] == "/rest/items/missing"
    assert entry["query"] == "expand=names"
    assert entry["route"] == "/rest/items/{item_id}"
    assert entry["status"] == 404
    assert entry["credential"] == "token-a"
    assert entry["fault"] is False


def test_operator_calls_are_not_logged(client: httpx2.Client) -> None:
    client.get("/__sandbox/faults")
    client.get("/__sandbox/requests")

    assert client.get("/__sandbox/requests/counts").json()["total"] == 0


def test_request_log_since_returns_only_newer_entries(client: httpx2.Client) -> None:
    client.get("/rest/items/1")
    since = client.get("/__sandbox/requests").json()["last_sequence"]
    client.get("/rest/items/2")

    entries = client.get("/__sandbox/requests", params={"since": since}).json()["requests"]

    assert [entry["path"] for entry in entries] == ["/rest/items/2"]


def test_rate_limit_fault_answers_429_with_retry_after_then_recovers(client: httpx2.Client) -> None:
    _inject(
        client,
        method="GET",
        path="^/rest/items/",
        status=429,
        retry_after="7",
        count=2,
        headers={"X-RateLimit-Limit": "100"},
    )

    first = client.get("/rest/items/1")
    second = client.get("/rest/items/1")
    third = client.get("/rest/items/1")

    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 404]
    assert first.headers["retry-after"] == "7"
    assert first.headers["x-ratelimit-limit"] == "100"
    assert first.json() == {"errorMessages": ["Injected fault (429)"], "errors": {}}


def test_fault_only_hits_the_matching_method_and_path(client: httpx2.Client) -> None:
    _inject(client, method="POST", path="^/rest/items$", status=503)

    assert client.get("/rest/items/1").status_code == 404
    assert client.post("/rest/items", json={}).status_code == 503
    assert client.post("/rest/items", json={}).status_code == 201


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_faults_use_the_vendor_error_body(client: httpx2.Client, status: int) -> None:
    _inject(client, status=status)

    response = client.get("/rest/items/1")

    assert response.status_code == status
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    assert response.json()["errorMessages"] == [f"Injected fault ({status})"]


def test_salesforce_faults_answer_with_an_error_array() -> None:
    salesforce = StandInEmulator("salesforce")
    with httpx2.Client(transport=app_transport(salesforce.app), base_url="https://sf.test") as http:
        http.post("/__sandbox/faults", json={"status": 429})
        response = http.get("/rest/items/1")

    assert response.status_code == 429
    assert response.json() == [
        {"message": "Injected fault (429)", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_fault_with_a_custom_body(client: httpx2.Client) -> None:
    _inject(client, status=409, body={"errorMessages": ["conflict"], "errors": {}})

    response = client.get("/rest/items/1")

    assert (response.status_code, response.json()) == (
        409,
        {"errorMessages": ["conflict"], "errors": {}},
    )


def test_latency_fault_delays_the_real_answer(client: httpx2.Client) -> None:
    created = client.post("/rest/items", json={"name": "slow"}).json()
    _inject(client, path="/rest/items/", latency_ms=300)

    started = time.perf_counter()
    response = client.get(f"/rest/items/{created['id']}")
    elapsed = time.perf_counter() - started

    assert response.json() == created
    assert elapsed >= 0.3


def test_latency_fault_trips_a_client_read_timeout(client: httpx2.Client) -> None:
    _inject(client, latency_ms=1500)

    with pytest.raises(httpx2.ReadTimeout):
        client.get("/rest/items/1", timeout=0.2)


def test_dropped_connection_is_a_protocol_error_not_a_500(client: httpx2.Client) -> None:
    _inject(client, path="/rest/items/", drop_connection=True)

    with pytest.raises(httpx2.RemoteProtocolError):
        client.get("/rest/items/1")
    assert client.get("/rest/items/1").status_code == 404  # the server keeps serving


def test_malformed_body_fault_sends_json_that_does_not_parse(client: httpx2.Client) -> None:
    _inject(client, status=200, malformed_body=True)

    response = client.get("/rest/items/1")

    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_faulted_requests_are_logged_as_faults(client: httpx2.Client) -> None:
    _inject(client, status=503)
    client.get("/rest/items/1")

    (entry,) = client.get("/__sandbox/requests").json()["requests"]

    assert (entry["status"], entry["fault"]) == (503, True)


def test_pending_faults_are_listed_and_can_be_cleared(client: httpx2.Client) -> None:
    _inject(client, status=503, count=3)
    assert [rule["remaining"] for rule in client.get("/__sandbox/faults").json()] == [3]

    assert client.delete("/__sandbox/faults").status_code == 204

    assert client.get("/__sandbox/faults").json() == []
    assert client.get("/rest/items/1").status_code == 404


@pytest.mark.parametrize(
    "fault",
    [{"path": "("}, {"status": 99}, {"count": 0}, {"latency_ms": -1}, {"status": "soon"}],
)
def test_bad_fault_requests_are_rejected_with_a_4xx(
    client: httpx2.Client, fault: dict[str, object]
) -> None:
    response = client.post("/__sandbox/faults", json=fault)

    assert 400 <= response.status_code < 500
    assert client.get("/__sandbox/faults").json() == []


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 429, "headers": {"X-Limit": "1\r\nX-Injected: yes"}},
        {"status": 429, "headers": {"bad name": "x"}},
        {"status": 429, "headers": {"X-Accent-\u00e9": "x"}},
        {"status": 200, "headers": {"Content-Length": "5"}},
        {"status": 429, "retry_after": "1\r\nX-Injected: yes"},
    ],
)
def test_headers_http_cannot_carry_are_refused_up_front_not_crashing_later(
    client: httpx2.Client, fault: dict[str, object]
) -> None:
    assert client.post("/__sandbox/faults", json=fault).status_code == 422

    assert client.get("/rest/items/1").status_code == 404


def test_injected_headers_replace_the_default_ones_by_name(client: httpx2.Client) -> None:
    _inject(
        client, status=502, headers={"Content-Type": "text/html"}, body="<html>bad gateway</html>"
    )

    response = client.get("/rest/items/1")

    assert response.status_code == 502
    assert response.headers.get_list("content-type") == ["text/html"]


def test_reset_clears_log_and_faults_and_runs_the_emulator_hooks(
    client: httpx2.Client, emulator: StandInEmulator
) -> None:
    client.post("/rest/items", json={"name": "a"})
    _inject(client, status=503)
    calls_before = emulator.reset_calls

    assert client.post("/__sandbox/reset").status_code == 204

    assert client.get("/__sandbox/requests/counts").json()["total"] == 0
    assert client.get("/__sandbox/faults").json() == []
    assert emulator.reset_calls == calls_before + 1
    assert emulator.store.count("items") == 0


def test_clearing_the_log_keeps_sequence_numbers_increasing(client: httpx2.Client) -> None:
    client.get("/rest/items/1")
    before = client.get("/__sandbox/requests").json()["last_sequence"]

    client.delete("/__sandbox/requests")
    client.get("/rest/items/1")

    (entry,) = client.get("/__sandbox/requests").json()["requests"]
    assert entry["sequence"] == before + 1


def test_in_process_transport_sees_a_dropped_connection_as_a_protocol_error() -> None:
    emulator = StandInEmulator()
    emulator.operator.add_fault(FaultRequest(drop_connection=True))
    with httpx2.Client(transport=app_transport(emulator.app), base_url="https://jira.test") as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            http.get("/rest/items/1")
        assert http.get("/rest/items/1").status_code == 404


async def _async_round_trip(emulator: StandInEmulator) -> list[int]:
    async with httpx2.AsyncClient(
        transport=app_transport(emulator.app), base_url="https://j.test"
    ) as http:
        created = await http.post("/rest/items", json={"name": "x"})
        fetched = await http.get(f"/rest/items/{created.json()['id']}")
        return [created.status_code, fetched.status_code]


def test_in_process_transport_serves_async_clients_too() -> None:
    assert asyncio.run(_async_round_trip(StandInEmulator())) == [201, 200]


def test_storage_backed_stand_in_persists_through_the_operator_stack(tmp_path: Path) -> None:
    emulator = StandInEmulator()
    emulator.store = DocumentStore(tmp_path / "state.db")
    with httpx2.Client(transport=app_transport(emulator.app), base_url="https://jira.test") as http:
        created = http.post("/rest/items", json={"name": "kept"}).json()
    emulator.store.close()

    reopened = DocumentStore(tmp_path / "state.db")

    assert reopened.get("items", created["id"]) == created
    reopened.close()
