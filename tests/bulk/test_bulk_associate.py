"""Bulk associate as a job resource: rows from a JSON list or a CSV upload, each linked through
the association service (checked against Jira and Salesforce), bad rows listed per item."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from associations.builders import auth_headers, issue_token
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from sync.sync_scenario import SyncScenario

MISSING_CASE = "500Hn00000ZZZZZ"


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def headers(container, scenario) -> dict[str, str]:
    return auth_headers(issue_token(container, scenario.connection.id))


@pytest.fixture
def runner(container):
    registry = HandlerRegistry()
    registry.load(BUILTIN_HANDLER_MODULES)
    job_runner = JobRunner(
        container, registry=registry, settings=JobSettings(), worker_id="w", periodic_hooks=[]
    )
    yield job_runner
    job_runner.close()


def linked_pairs(container) -> set[tuple[str, str, bool]]:
    with container.session() as session:
        return {
            (row.jira_issue_key, row.salesforce_id, row.auto_push)
            for row in session.scalars(select(Association))
        }


def test_a_json_list_links_each_row_and_lists_the_rows_that_failed(
    client, scenario, headers, runner
):
    first, second = scenario.record_ids("Case")[:2]
    rows = [
        {"jiraIssueId": "TEST-1", "son": "Case", "soid": first, "autoPush": True},
        {"jiraIssueId": "TEST-2", "son": "Case", "soid": second[:15]},
        {"jiraIssueId": "TEST-3", "son": "Case", "soid": MISSING_CASE},
    ]

    accepted = client.post("/external/api/jobs/associate", json=rows, headers=headers)
    runner.run_due()

    assert accepted.status_code == 201, accepted.text
    assert {(key, record) for key, record, _ in linked_pairs(scenario.container)} == {
        ("TEST-1", first),
        ("TEST-2", second),
    }
    assert ("TEST-1", first, True) in linked_pairs(scenario.container)
    data = client.get(
        f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers
    ).json()["data"]
    assert (data["state"], data["done"], data["failed"], data["remaining"]) == ("done", 2, 1, 0)
    [failure] = data["errors"]
    assert failure["item"]["soid"] == MISSING_CASE and failure["error"]


def test_a_csv_upload_links_each_row_and_running_it_twice_changes_nothing(
    client, scenario, headers, runner
):
    first, second = scenario.record_ids("Case")[:2]
    csv_text = (
        f"\ufeffjiraIssueId,son,soid,autoPush\nTEST-1,Case,{first},true\nTEST-2,Case,{second},\n"
    ).encode()

    for _ in range(2):
        accepted = client.post(
            "/external/api/jobs/associate",
            files={"file": ("links.csv", csv_text, "text/csv")},
            headers=headers,
        )
        assert accepted.status_code == 201, accepted.text
        runner.run_due()

    assert linked_pairs(scenario.container) == {("TEST-1", first, True), ("TEST-2", second, False)}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[]", "application/json"),
        (b"{}", "application/json"),
        (b"not json", "application/json"),
        (b'[{"jiraIssueId": "TEST-1", "son": "Case"}]', "application/json"),
        (
            b'[{"jiraIssueId": "TEST-1", "son": "Case", "soid": "x", "extra": 1}]',
            "application/json",
        ),
        (b"jiraIssueId,son,soid,autoPush\nTEST-1,Case,500,maybe\n", "text/csv"),
        (b"jiraIssueId,son,soid\nTEST-1,Case,500,extra\n", "text/csv"),
        (b"\xff\xfe", "text/csv"),
    ],
    ids=[
        "empty",
        "object",
        "not-json",
        "missing-soid",
        "unknown-field",
        "bad-flag",
        "extra-cell",
        "not-utf8",
    ],
)
def test_a_bad_upload_is_refused_without_a_job(client, scenario, headers, body, content_type):
    response = client.post(
        "/external/api/jobs/associate",
        content=body,
        headers={**headers, "Content-Type": content_type},
    )

    assert response.status_code == 400, response.text
    assert response.json()["success"] is False


def test_an_upload_over_five_mebibytes_is_refused(client, scenario, headers):
    response = client.post(
        "/external/api/jobs/associate",
        content=b"a" * (5 * 1024 * 1024 + 1),
        headers={**headers, "Content-Type": "text/csv"},
    )

    assert response.status_code == 413


def test_the_cli_associates_a_csv_file_and_reports_the_counts(container, scenario, tmp_path):
    import json

    import typer
    from typer.testing import CliRunner

    from e2e.harness import WorkerLoop
    from forcebridge.bulk.cli import register

    first = scenario.record_ids("Case")[0]
    links = tmp_path / "links.csv"
    links.write_text(f"jiraIssueId,son,soid,autoPull\nTEST-1,Case,{first},yes\n")
    app = typer.Typer()
    register(app)
    worker = WorkerLoop(container, JobSettings())
    worker.start()
    try:
        result = CliRunner().invoke(
            app,
            ["bulk", "associate", "--file", str(links), "--connection", "Connection A", "--json"],
            obj=container,
        )
    finally:
        worker.stop()

    assert result.exit_code == 0, result.output
    view = json.loads(result.output[result.output.index("{") :])
    assert (view["kind"], view["state"], view["done"], view["failed"]) == (
        "associate",
        "done",
        1,
        0,
    )
    with container.session() as session:
        [row] = session.scalars(select(Association))
    assert (row.jira_issue_key, row.salesforce_id, row.auto_pull) == ("TEST-1", first, True)
