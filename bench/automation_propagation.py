"""Automatic sync, measured end to end over real HTTP: how long a person's edit takes to reach
the other side, how many edits per second the pipeline sustains, and how many Salesforce API
calls each synced change costs.

Everything runs as in production, on this machine: both sandboxes over HTTPS, ForceBridge under
uvicorn, a worker loop (the JobRunner a ``forcebridge worker`` drives), a Jira admin webhook
posting to ForceBridge, and Salesforce polling every ``--poll-interval`` seconds. The harness is
the end-to-end tests' (``tests/e2e/harness.py``).

- auto push: the issue's summary is edited through the Jira sandbox's operator route; delay =
  until the associated Case's Subject holds the new value.
- auto pull: the Case's Subject is edited through the Salesforce operator route; delay = until
  the issue's summary holds it. Polling bounds it from below (``--poll-interval``).
- sustained: ``--burst`` edits sent back to back; events/s = edits / time until the last value
  arrived (bursts coalesce into fewer syncs, which is the point).
- Salesforce calls per change: the sandbox's request log over the sequential phase (OAuth
  token requests excluded: they cost no API quota), divided by the edits. For auto pull this
  includes the polls made while waiting.

    .venv/bin/python bench/automation_propagation.py [--edits 10] [--burst 20]

Prints a table and then one JSON object. Bounded: each wait gives up after 20 s, and the run
stops starting new edits after ``--budget`` seconds (default 60).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cryptography.fernet import Fernet

from e2e.harness import LiveWorld, live_world, wait_for
from forcebridge.jobs.settings import JobSettings
from forcebridge.webhooks.registration import register_jira_webhook

WAIT_SECONDS = 20.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def salesforce_data_calls(world: LiveWorld) -> int:
    counts = world.sandbox.salesforce.operator.counts()
    return sum(count for route, count in counts.items() if "/services/data/" in route)


def measure(
    world: LiveWorld,
    edits: int,
    burst: int,
    deadline: float,
    edit: Callable[[str], None],
    arrived: Callable[[str], bool],
    label: str,
) -> dict[str, Any]:
    delays: list[float] = []
    calls_before = salesforce_data_calls(world)
    for number in range(edits):
        if time.monotonic() > deadline:
            break
        value = f"{label} sequential {number} {time.time_ns()}"
        started = time.perf_counter()
        edit(value)
        wait_for(lambda v=value: arrived(v), bool, timeout=WAIT_SECONDS, what=f"{label} {number}")
        delays.append(time.perf_counter() - started)
    calls = salesforce_data_calls(world) - calls_before
    burst_started = time.perf_counter()
    last = ""
    for number in range(burst):
        last = f"{label} burst {number} {time.time_ns()}"
        edit(last)
    wait_for(lambda: arrived(last), bool, timeout=WAIT_SECONDS, what=f"{label} burst")
    burst_seconds = time.perf_counter() - burst_started
    return {
        "direction": label,
        "edits": len(delays),
        "p50_seconds": round(statistics.median(delays), 3),
        "p99_seconds": round(percentile(delays, 0.99), 3),
        "burst_edits": burst,
        "burst_seconds": round(burst_seconds, 3),
        "events_per_second": round(burst / burst_seconds, 2),
        "salesforce_calls_per_change": round(calls / max(1, len(delays)), 2),
    }


def run(edits: int, burst: int, budget: float, poll_interval: float) -> dict[str, Any]:
    started = time.monotonic()
    settings = JobSettings(
        poll_interval_seconds=poll_interval,
        sweep_interval_seconds=0.1,
        job_backoff_base_seconds=0.2,
    )
    with tempfile.TemporaryDirectory(prefix="forcebridge-bench-") as directory:
        tmp_path = Path(directory)
        database_url = f"sqlite:///{tmp_path / 'forcebridge.db'}"
        with live_world(
            tmp_path, database_url, Fernet.generate_key().decode(), job_settings=settings
        ) as world:
            register_jira_webhook(world.container, world.connection.id)
            push_case = world.create_case_as_user("bench push")
            world.associate("TEST-1", push_case, auto_pull=False)
            pull_case = world.create_case_as_user("bench pull")
            world.associate("TEST-2", pull_case, auto_push=False)
            deadline = started + budget
            push = measure(
                world,
                edits,
                burst,
                deadline,
                lambda value: world.edit_issue_as_user("TEST-1", fields={"summary": value}),
                lambda value: world.case(push_case)["Subject"] == value,
                "auto push",
            )
            pull = measure(
                world,
                edits,
                burst,
                deadline + budget / 2,
                lambda value: world.edit_case_as_user(pull_case, {"Subject": value}),
                lambda value: world.issue("TEST-2")["fields"]["summary"] == value,
                "auto pull",
            )
    return {
        "total_seconds": round(time.monotonic() - started, 1),
        "poll_interval_seconds": poll_interval,
        "measurements": [push, pull],
    }


def print_table(result: dict[str, Any]) -> None:
    header = (
        f"{'direction':<10} {'edits':>5} {'p50 s':>7} {'p99 s':>7} {'events/s':>9} "
        f"{'SF calls/change':>16}"
    )
    print(header)
    print("-" * len(header))
    for row in result["measurements"]:
        print(
            f"{row['direction']:<10} {row['edits']:>5} {row['p50_seconds']:>7.3f} "
            f"{row['p99_seconds']:>7.3f} {row['events_per_second']:>9.2f} "
            f"{row['salesforce_calls_per_change']:>16.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10, help="sequential edits per direction")
    parser.add_argument("--burst", type=int, default=20, help="back-to-back edits per direction")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds before edits stop")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="Salesforce polling")
    arguments = parser.parse_args()
    result = run(arguments.edits, arguments.burst, arguments.budget, arguments.poll_interval)
    print_table(result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
