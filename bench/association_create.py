"""Association-create throughput and p99 latency, as a ratio to a trivial FastAPI endpoint.

Run from the repository root:

    .venv/bin/python bench/association_create.py [--requests 200] [--budget-seconds 40]

Everything runs in this process on this machine: the Jira and Salesforce emulators (reached
through the sandbox's in-process transports), ForceBridge on a fresh SQLite database,
and a TestClient sending ``POST /external/api/association`` with a real API token. Each request
does the full work: token check, Jira issue lookup, the Salesforce record check (describe is
cached), and the database write. The baseline is a one-route FastAPI app answering a constant,
driven by the same kind of TestClient in the same run, so the ratio, not the absolute numbers,
is what compares across machines. Prints a short summary, then one JSON line.

The two endpoints are measured interleaved (one request each in turn), so that load from other
processes on the machine weighs on both alike. Bounded: the measured loop stops after
``--budget-seconds`` (default 40 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from cryptography.fernet import Fernet
from fastapi import FastAPI
from fastapi.testclient import TestClient

from forcebridge.app import create_app
from forcebridge.connections.clients import clients_for
from forcebridge.connections.schemas import ConnectionCreate
from forcebridge.connections.service import create_connection
from forcebridge.container import Container, build_container
from forcebridge.logging import configure_logging
from forcebridge.models import EntityMapping, ProjectBinding
from forcebridge.sandbox.jira import JiraSandbox
from forcebridge.sandbox.salesforce import SalesforceSandbox
from forcebridge.sandbox.testing import jira_transport, salesforce_transport
from forcebridge.settings import Settings
from forcebridge.tokens.service import create_token

JIRA_URL = "https://sandbox.atlassian.net"
SALESFORCE_URL = "https://sandbox.my.salesforce.com"
ISSUE_KEYS = ("TEST-1", "TEST-2", "TEST-3", "TEST-4", "TEST-5")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per phase")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured requests per phase")
    parser.add_argument("--budget-seconds", type=float, default=40.0, help="measured-loop budget")
    arguments = parser.parse_args()
    requests = max(1, min(arguments.requests, 2000))

    with tempfile.TemporaryDirectory(prefix="forcebridge-bench-") as data_dir:
        jira, salesforce = JiraSandbox(), SalesforceSandbox()
        container = _container(Path(data_dir), jira, salesforce)
        try:
            token, record_ids = _prepare(container, jira, salesforce, requests + arguments.warmup)
            baseline, association = _measure(
                container, token, record_ids, requests, arguments.warmup, arguments.budget_seconds
            )
        finally:
            container.close()
            jira.close()
            salesforce.close()

    ratio = association["throughput_per_second"] / baseline["throughput_per_second"]
    result = {
        "benchmark": "association_create",
        "baseline_trivial_endpoint": baseline,
        "association_create": association,
        "throughput_ratio": round(ratio, 4),
        "p99_ratio": round(baseline["p99_ms"] / association["p99_ms"], 4),
        "target_ratio": 0.5,
    }
    print(
        f"trivial endpoint : {baseline['throughput_per_second']:8.1f} req/s  "
        f"p50 {baseline['p50_ms']:.2f} ms  p99 {baseline['p99_ms']:.2f} ms"
    )
    print(
        f"association POST : {association['throughput_per_second']:8.1f} req/s  "
        f"p50 {association['p50_ms']:.2f} ms  p99 {association['p99_ms']:.2f} ms  "
        f"({association['requests']} requests, {association['outbound_calls_per_request']:.2f} "
        "outbound calls each)"
    )
    print(f"throughput ratio : {ratio:.3f} (target >= 0.5)")
    print(json.dumps(result))
    return 0


def _container(data_dir: Path, jira: JiraSandbox, salesforce: SalesforceSandbox) -> Container:
    # The sandbox's own in-process transports: one shared event loop for every call, as a
    # pooled network client would reuse connections, rather than a thread per request.
    to_jira, to_salesforce = jira_transport(jira), salesforce_transport(salesforce)

    def route(service: str, base_url: str) -> httpx2.BaseTransport | None:
        if base_url.startswith(JIRA_URL):
            return to_jira
        if base_url.startswith(SALESFORCE_URL):
            return to_salesforce
        return None

    settings = Settings(
        data_dir=data_dir,
        secret_key=Fernet.generate_key().decode(),
        instance_id="forcebridge-bench",
        log_level="WARNING",
        log_format="json",
    )
    # As `forcebridge serve` runs: JSON logs at the configured level (here WARNING, so the
    # per-request lines do not dominate what is measured).
    configure_logging(settings, stream=sys.stderr)
    return build_container(settings, apply_migrations=True, transport_override=route)


def _prepare(
    container: Container, jira: JiraSandbox, salesforce: SalesforceSandbox, pairs_needed: int
) -> tuple[str, list[str]]:
    """A connection bound to TEST with Case mapped, a token, and enough Cases for unique pairs."""
    jira_credentials, salesforce_credentials = jira.credentials, salesforce.credentials
    connection = create_connection(
        container,
        ConnectionCreate.model_validate(
            {
                "name": "bench",
                "jira": {
                    "url": JIRA_URL,
                    "auth": {
                        "type": "basic",
                        "email": jira_credentials["email"],
                        "api_token": jira_credentials["api_token"],
                    },
                },
                "salesforce": {
                    "url": SALESFORCE_URL,
                    "auth": {
                        "type": "client_credentials",
                        "client_id": salesforce_credentials["client_id"],
                        "client_secret": salesforce_credentials["client_secret"],
                    },
                },
            }
        ),
    )
    with clients_for(container, connection) as clients:
        project = clients.jira.get_project("TEST")
        cases_needed = -(-pairs_needed // len(ISSUE_KEYS))
        case_ids = [row["Id"] for row in clients.salesforce.query("SELECT Id FROM Case")]
        while len(case_ids) < cases_needed:
            case_ids.append(
                clients.salesforce.create_record(
                    "Case", {"Subject": f"bench {len(case_ids)}", "Origin": "Web"}
                )
            )
    with container.session() as session:
        binding = ProjectBinding(
            connection_id=connection.id,
            jira_project_id=str(project["id"]),
            jira_project_key=str(project["key"]),
        )
        session.add(binding)
        session.flush()
        session.add(EntityMapping(binding_id=binding.id, salesforce_object="Case"))
    _, token = create_token(container, connection.id, timedelta(days=30), "bench")
    return token, case_ids[:cases_needed]


def _measure(
    container: Container,
    token: str,
    case_ids: list[str],
    requests: int,
    warmup: int,
    budget_seconds: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both endpoints, interleaved one request each, so that load from other processes on this
    machine weighs on both alike; throughput is requests over the time spent in them."""
    trivial = FastAPI()

    @trivial.post("/trivial")
    def answer() -> dict[str, Any]:
        return {"data": {"ok": True}, "message": "ok", "success": True}

    pairs = [(issue, case_id) for case_id in case_ids for issue in ISSUE_KEYS]
    headers = {"Authorization": f"JWT {token}"}

    with TestClient(trivial) as baseline, TestClient(create_app(container=container)) as app:

        def send_trivial(_: int) -> None:
            baseline.post("/trivial", json={})

        def send_association(index: int) -> None:
            issue, case_id = pairs[index]
            response = app.post(
                "/external/api/association",
                headers=headers,
                json={"jiraIssueId": issue, "son": "Case", "soid": case_id, "autoPush": True},
            )
            if response.status_code != 201:
                raise SystemExit(f"unexpected answer {response.status_code}: {response.text}")

        for index in range(warmup):
            send_trivial(index)
            send_association(index)
        outbound_before = _outbound_calls(container)
        trivial_latencies: list[float] = []
        association_latencies: list[float] = []
        deadline = time.perf_counter() + budget_seconds
        for index in range(warmup, warmup + requests):
            trivial_latencies.append(_timed(send_trivial, index))
            association_latencies.append(_timed(send_association, index))
            if time.perf_counter() > deadline:
                break
        calls = _outbound_calls(container) - outbound_before

    association = _summary(association_latencies, warmup)
    association["outbound_calls_per_request"] = round(calls / len(association_latencies), 3)
    return _summary(trivial_latencies, warmup), association


def _timed(send: Callable[[int], None], index: int) -> float:
    before = time.perf_counter()
    send(index)
    return time.perf_counter() - before


def _summary(latencies: list[float], warmup: int) -> dict[str, Any]:
    latencies_ms = sorted(latency * 1000 for latency in latencies)
    busy_seconds = sum(latencies)
    return {
        "requests": len(latencies),
        "warmup": warmup,
        "seconds": round(busy_seconds, 3),
        "throughput_per_second": round(len(latencies) / busy_seconds, 2),
        "p50_ms": round(statistics.median(latencies_ms), 3),
        "p99_ms": round(_percentile(latencies_ms, 0.99), 3),
    }


def _percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def _outbound_calls(container: Container) -> float:
    """Outbound calls so far, from ForceBridge's own metering (every Jira/Salesforce request)."""
    return sum(
        sample.value
        for family in container.metrics.outbound_requests.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    )


if __name__ == "__main__":
    sys.exit(main())
