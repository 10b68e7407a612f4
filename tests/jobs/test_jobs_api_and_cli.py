"""The admin API and CLI over jobs: list, summary, dead letters, show, replay; and the metrics."""

from __future__ import annotations

import json

import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from builders import admin_headers, api
from forcebridge.container import Container
from forcebridge.jobs.cli import register
from forcebridge.jobs.runner import JobRunner
from jobs.builders import CRASH, NEEDS_ADMIN_KIND, RECORD, add_job, job_row

__all__ = ["admin_headers", "api"]


def test_the_admin_api_lists_dead_letters_and_replays_one_once(
    container: Container, api: TestClient, runner: JobRunner
) -> None:
    dead = add_job(container, CRASH, {"association_id": "a1"}, max_attempts=1)
    stuck = add_job(container, NEEDS_ADMIN_KIND)
    done = add_job(container, RECORD)
    runner.run_due()

    letters = api.get("/api/v1/dead-letters").json()["data"]
    assert {letter["id"]: letter["state"] for letter in letters} == {
        dead: "dead",
        stuck: "needs_admin",
    }
    summary = api.get("/api/v1/jobs/summary").json()["data"]
    assert (summary["dead"], summary["needs_admin"], summary["done"]) == (1, 1, 1)
    shown = api.get(f"/api/v1/jobs/{dead}").json()["data"]
    assert shown["payload"] == {"association_id": "a1"}
    assert "a bug in a handler" in shown["lastError"]

    assert api.post(f"/api/v1/jobs/{dead}/replay").status_code == 200
    assert api.post(f"/api/v1/jobs/{dead}/replay").status_code == 409
    assert api.post(f"/api/v1/jobs/{done}/replay").status_code == 409
    assert api.get("/api/v1/jobs/unknown").status_code == 404
    assert api.get("/api/v1/jobs?state=bogus").status_code == 422
    assert job_row(container, dead).state == "queued"
    listed = api.get("/api/v1/jobs", params={"state": "queued"}).json()["data"]
    assert [job["id"] for job in listed] == [dead]


def test_job_routes_require_an_admin(client: TestClient) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.get("/api/v1/dead-letters").status_code == 401


def test_metrics_show_queue_depth_and_outcomes(
    container: Container, client: TestClient, runner: JobRunner
) -> None:
    from forcebridge.jobs.queue import job_queue

    job_queue(container)
    add_job(container, RECORD)
    add_job(container, RECORD)
    runner.run_due()
    add_job(container, RECORD)
    text = client.get("/metrics").text
    assert 'forcebridge_jobs{state="done"} 2.0' in text
    assert 'forcebridge_jobs{state="queued"} 1.0' in text
    assert 'forcebridge_job_outcomes_total{kind="test.record",outcome="done"} 2.0' in text


def test_the_cli_lists_shows_and_replays_jobs(container: Container, runner: JobRunner) -> None:
    dead = add_job(container, CRASH, max_attempts=1)
    runner.run_due()
    app = typer.Typer()
    register(app)
    cli = CliRunner()

    def invoke(*args: str) -> dict:
        result = cli.invoke(app, list(args), obj=container)
        assert result.exit_code == 0, result.output
        return json.loads(result.output.strip().splitlines()[-1])

    listed = invoke("jobs", "list", "--state", "dead", "--json")
    assert [job["id"] for job in listed["jobs"]] == [dead]
    assert invoke("jobs", "show", dead, "--json")["state"] == "dead"
    assert invoke("jobs", "replay", dead, "--json")["state"] == "queued"
    again = cli.invoke(app, ["jobs", "replay", dead], obj=container)
    assert again.exit_code == 5  # Conflict: it is queued already
