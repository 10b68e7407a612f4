"""Single-record read and write throughput of the sandbox emulators.

Measures, for the Jira and Salesforce emulators and for a trivial FastAPI baseline app:

- in process: a synchronous httpx2 client on ``forcebridge.sandbox.testing.SandboxTransport``
  (what the test suite uses);
- over HTTPS: a keep-alive httpx2 client against the servers of ``start_sandbox`` running in a
  child process (so client and server each get a core, as in real use).

Each target gets a fixed number of requests (``--requests``, default 2,000) per operation and
mode, sent in batches of 50 taken in turn by the three targets (so a noisy neighbour slows them
alike), stopping early after ``--budget`` seconds per target so the run stays bounded (< 60 s).
Throughputs are noisy, so the table also gives each as a ratio of the baseline measured
alongside it.

    .venv/bin/python bench/sandbox_throughput.py [--requests 2000] [--budget 3] [--json-only]
"""

from __future__ import annotations

import argparse
import base64
import json
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI, Response

from forcebridge.sandbox.testing import SandboxTransport

SALESFORCE_API = "/services/data/v59.0"
JIRA_PROJECT_KEY = "TEST"  # seeded by the Jira emulator
READ_TARGET_PER_SECOND = 1_000
WRITE_TARGET_PER_SECOND = 500

Operation = Callable[[httpx2.Client, int], httpx2.Response]


@dataclass
class Measurement:
    target: str
    operation: str
    mode: str
    requests: int
    seconds: float
    requests_per_second: float
    failures: int
    baseline_ratio: float | None = None


def baseline_app() -> FastAPI:
    """The smallest realistic JSON API: one record in memory, read and patched."""
    app = FastAPI()
    records: dict[str, dict[str, Any]] = {"1": {"id": "1", "summary": "baseline"}}

    @app.get("/records/{record_id}")
    def read_record(record_id: str) -> dict[str, Any]:
        return records[record_id]

    @app.patch("/records/{record_id}", status_code=204)
    def write_record(record_id: str, body: dict[str, Any]) -> Response:
        records[record_id].update(body)
        return Response(status_code=204)

    return app


# -- what each target's "single-record read" and "write" are ----------------------------------
def baseline_operations(client: httpx2.Client) -> tuple[Operation, Operation]:
    def read(http: httpx2.Client, index: int) -> httpx2.Response:
        return http.get("/records/1")

    def write(http: httpx2.Client, index: int) -> httpx2.Response:
        return http.patch("/records/1", json={"summary": f"baseline {index}"})

    return read, write


def jira_operations(client: httpx2.Client) -> tuple[Operation, Operation]:
    created = client.post(
        "/rest/api/3/issue",
        json={
            "fields": {
                "project": {"key": JIRA_PROJECT_KEY},
                "issuetype": {"name": "Task"},
                "summary": "bench",
            }
        },
    )
    created.raise_for_status()
    issue_key = created.json()["id"]

    def read(http: httpx2.Client, index: int) -> httpx2.Response:
        return http.get(f"/rest/api/3/issue/{issue_key}")

    def write(http: httpx2.Client, index: int) -> httpx2.Response:
        return http.put(
            f"/rest/api/3/issue/{issue_key}", json={"fields": {"summary": f"bench {index}"}}
        )

    return read, write


def salesforce_operations(client: httpx2.Client) -> tuple[Operation, Operation]:
    created = client.post(f"{SALESFORCE_API}/sobjects/Case/", json={"Subject": "bench"})
    created.raise_for_status()
    case_id = created.json()["id"]

    def read(http: httpx2.Client, index: int) -> httpx2.Response:
        return http.get(f"{SALESFORCE_API}/sobjects/Case/{case_id}")

    def write(http: httpx2.Client, index: int) -> httpx2.Response:
        return http.patch(
            f"{SALESFORCE_API}/sobjects/Case/{case_id}", json={"Subject": f"b{index}"}
        )

    return read, write


OPERATIONS = {
    "baseline": baseline_operations,
    "jira": jira_operations,
    "salesforce": salesforce_operations,
}


def jira_headers(credentials: dict[str, Any]) -> dict[str, str]:
    pair = f"{credentials['email']}:{credentials['api_token']}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def salesforce_headers(credentials: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {credentials['access_token']}"}


# -- measuring -------------------------------------------------------------------------------
BATCH_SIZE = 50
WARM_UP_REQUESTS = 20


def measure_interleaved(
    clients: dict[str, httpx2.Client], mode: str, requests: int, budget: float
) -> list[Measurement]:
    """Measures every target in batches taken in turn, so noise hits them all alike.

    On a shared machine a neighbour's burst lasts seconds; measuring targets one after the
    other would pin it on whichever ran then, and the baseline ratio would mean nothing.
    """
    operations = {target: OPERATIONS[target](client) for target, client in clients.items()}
    results = []
    for index, name in enumerate(("read", "write")):
        for target, client in clients.items():
            for warm_up in range(WARM_UP_REQUESTS):
                operations[target][index](client, warm_up)
        seconds = dict.fromkeys(clients, 0.0)
        sent = dict.fromkeys(clients, 0)
        failures = dict.fromkeys(clients, 0)
        deadline = time.perf_counter() + budget * len(clients)
        while min(sent.values()) < requests and time.perf_counter() < deadline:
            for target, client in clients.items():
                operation = operations[target][index]
                batch = min(BATCH_SIZE, requests - sent[target])
                started = time.perf_counter()
                for _ in range(batch):
                    if operation(client, sent[target]).status_code >= 400:
                        failures[target] += 1
                    sent[target] += 1
                seconds[target] += time.perf_counter() - started
        for target in clients:
            results.append(
                Measurement(
                    target=target,
                    operation=name,
                    mode=mode,
                    requests=sent[target],
                    seconds=round(seconds[target], 3),
                    requests_per_second=round(sent[target] / seconds[target], 1),
                    failures=failures[target],
                )
            )
    return results


def measure_in_process(requests: int, budget: float) -> list[Measurement]:
    from forcebridge.sandbox.jira import JiraSandbox
    from forcebridge.sandbox.salesforce import SalesforceSandbox

    jira = JiraSandbox()
    salesforce = SalesforceSandbox()
    targets = {
        "baseline": (baseline_app(), {}),
        "jira": (jira.app, jira_headers(jira.credentials)),
        "salesforce": (salesforce.app, salesforce_headers(salesforce.credentials)),
    }
    clients = {
        target: httpx2.Client(
            transport=SandboxTransport(app), base_url="https://sandbox.test", headers=headers
        )
        for target, (app, headers) in targets.items()
    }
    try:
        return measure_interleaved(clients, "in-process", requests, budget)
    finally:
        for client in clients.values():
            client.close()
        jira.close()
        salesforce.close()


def measure_over_https(requests: int, budget: float) -> list[Measurement]:
    with tempfile.TemporaryDirectory(prefix="forcebridge-bench-") as directory:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", directory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            description = json.loads(server.stdout.readline())
            context = ssl.create_default_context(cafile=description["ca_file"])
            targets = {
                "baseline": (description["baseline_url"], {}),
                "jira": (description["jira"]["url"], jira_headers(description["jira"])),
                "salesforce": (
                    description["salesforce"]["url"],
                    salesforce_headers(description["salesforce"]),
                ),
            }
            clients = {
                target: httpx2.Client(base_url=url, verify=context, headers=headers, timeout=10)
                for target, (url, headers) in targets.items()
            }
            try:
                return measure_interleaved(clients, "https", requests, budget)
            finally:
                for client in clients.values():
                    client.close()
        finally:
            assert server.stdin is not None
            server.stdin.close()  # the child stops when its stdin closes
            server.wait(timeout=30)


def serve(directory: Path) -> None:
    """Child process: both emulators plus the baseline app over HTTPS until stdin closes."""
    from forcebridge.sandbox.server import serve_app, start_sandbox

    with start_sandbox(data_dir=None) as running:
        baseline = serve_app(baseline_app(), tls_files=running.tls_files, name="baseline")
        try:
            description = running.describe()
            description["baseline_url"] = baseline.url
            print(json.dumps(description), flush=True)
            sys.stdin.read()
        finally:
            baseline.stop()


def with_baseline_ratios(results: list[Measurement]) -> list[Measurement]:
    baselines = {
        (m.operation, m.mode): m.requests_per_second for m in results if m.target == "baseline"
    }
    for measurement in results:
        baseline = baselines.get((measurement.operation, measurement.mode))
        if baseline:
            measurement.baseline_ratio = round(measurement.requests_per_second / baseline, 3)
    return results


def print_table(results: list[Measurement]) -> None:
    header = (
        f"{'target':<11} {'op':<6} {'mode':<11} {'requests':>8} {'req/s':>9}"
        f" {'x baseline':>10} {'goal':>7}"
    )
    print(header)
    print("-" * len(header))
    for m in results:
        goal = (
            ""
            if m.target == "baseline"
            else (READ_TARGET_PER_SECOND if m.operation == "read" else WRITE_TARGET_PER_SECOND)
        )
        verdict = "" if goal == "" else ("ok" if m.requests_per_second >= goal else "BELOW")
        print(
            f"{m.target:<11} {m.operation:<6} {m.mode:<11} {m.requests:>8} "
            f"{m.requests_per_second:>9.1f} {m.baseline_ratio or 0:>10.3f} {verdict:>7}"
            + (f"  ({m.failures} failed)" if m.failures else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2_000, help="requests per measurement")
    parser.add_argument("--budget", type=float, default=3.0, help="max seconds per measurement")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve is not None:
        serve(arguments.serve)
        return
    started = time.perf_counter()
    results = measure_in_process(arguments.requests, arguments.budget)
    results += measure_over_https(arguments.requests, arguments.budget)
    results = with_baseline_ratios(results)
    report = {
        "total_seconds": round(time.perf_counter() - started, 1),
        "targets": {
            "read_per_second": READ_TARGET_PER_SECOND,
            "write_per_second": WRITE_TARGET_PER_SECOND,
        },
        "measurements": [asdict(m) for m in results],
    }
    if not arguments.json_only:
        print_table(results)
        print()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
