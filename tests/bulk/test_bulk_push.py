"""Bulk push as a job resource: a JQL resolved to associations, pushed in chunks of 200 with one
issue search and one sObject Collections write per chunk (plus one Collections create per 200 new
comments, one upload per new file), progress readable by its connection only, and a chunk run
twice (a worker killed before recording it, or between a create and its commit) writing nothing
twice.
"""

from __future__ import annotations

import hashlib
import io
import math

import pytest
from fastapi.testclient import TestClient

from associations.builders import auth_headers, issue_token
from forcebridge.bulk.service import CHUNK_SIZE, push_chunk
from forcebridge.jira.adf import text_to_adf
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sandbox.jira.issues import Context
from forcebridge.sandbox.jira.seed import ALICE_ACCOUNT_ID
from forcebridge.sync.attachments import SPOOL_MEMORY_BYTES
from forcebridge.sync.link_models import AttachmentLink, CopyIntent
from sync.crash_points import CrashPoints, WorkerKilled
from sync.sync_scenario import SyncScenario

ASSOCIATIONS = 450
ISSUES = ("TEST-1", "TEST-2", "TEST-3")
COLLECTIONS_UPDATE = "PATCH /services/data/v{version}/composite/sobjects"
COLLECTIONS_CREATE = "POST /services/data/v{version}/composite/sobjects"
QUERY = "GET /services/data/v{version}/query"
UPLOAD = "POST /services/data/v{version}/sobjects/{sobject}"
DOWNLOAD = "GET /rest/api/3/attachment/content/{attachmentId}"


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def association_ids(scenario: SyncScenario) -> list[str]:
    issues = [scenario.issue(key) for key in ISSUES]
    with TestClient(scenario.sandbox.salesforce.app) as salesforce:
        case_ids = [
            salesforce.post(
                "/__sandbox/salesforce/records/Case", json={"Subject": f"Case {n}"}
            ).json()["id"]
            for n in range(ASSOCIATIONS)
        ]
    ids = []
    with scenario.container.session() as session:
        for number, case_id in enumerate(case_ids):
            issue = issues[number % len(issues)]
            association = Association(
                connection_id=scenario.connection.id,
                jira_issue_id=issue["id"],
                jira_issue_key=issue["key"],
                jira_project_id=issue["fields"]["project"]["id"],
                salesforce_object="Case",
                salesforce_id=normalize_id(case_id, sobject="Case"),
            )
            session.add(association)
            session.flush()
            ids.append(association.id)
    return ids


def comment_on_every_issue(scenario: SyncScenario) -> dict[str, list[str]]:
    """Two comments by Alice on each issue, one of them restricted; the bodies their copies get."""
    issues = scenario.sandbox.jira.issues
    alice = Context(account_id=ALICE_ACCOUNT_ID, base_url="https://sandbox.atlassian.net")
    copies: dict[str, list[str]] = {}
    for key in ISSUES:
        issue = issues.require(key)
        issues.add_comment(alice, issue, {"body": text_to_adf(f"{key}: shipped")}, "3")
        restricted = {"type": "role", "value": "Developers"}
        issues.add_comment(
            alice, issue, {"body": text_to_adf(f"{key}: internal"), "visibility": restricted}, "3"
        )
        copies[str(issue["id"])] = sorted(
            f"[From Jira] Alice Agent:\n{key}: {text}" for text in ("shipped", "internal")
        )
    return copies


def case_comment_bodies(scenario: SyncScenario, association_ids: list[str]) -> dict[str, list]:
    """Association id → the bodies of its Case's comments (what a person sees on the Case)."""
    with scenario.container.session() as session:
        cases = {
            row.id: (row.salesforce_id, row.jira_issue_id)
            for row in session.query(Association).filter(Association.id.in_(association_ids))
        }
    by_case: dict[str, list[str]] = {case: [] for case, _ in cases.values()}
    for row in scenario.sandbox.salesforce.records.all("CaseComment"):
        if row["ParentId"] in by_case:
            by_case[row["ParentId"]].append(row["CommentBody"])
    return {key: sorted(by_case[case]) for key, (case, _) in cases.items()}


def issue_of(scenario: SyncScenario, association_ids: list[str]) -> dict[str, str]:
    with scenario.container.session() as session:
        return {
            row.id: row.jira_issue_id
            for row in session.query(Association).filter(Association.id.in_(association_ids))
        }


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


def test_bulk_push_of_450_associations_writes_in_three_collection_calls(
    client, scenario, association_ids, headers, runner
):
    scenario.clear_logs()

    accepted = client.post(
        "/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers
    )
    runner.run_due()

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"]["total"] == ASSOCIATIONS
    writes = {
        route: count
        for route, count in scenario.salesforce_data_calls().items()
        if not route.startswith("GET ")
    }
    assert writes == {
        "PATCH /services/data/v{version}/composite/sobjects": math.ceil(ASSOCIATIONS / CHUNK_SIZE)
    }
    jira_searches = scenario.jira_calls()["POST /rest/api/3/search/jql"]
    assert jira_searches == 1 + math.ceil(ASSOCIATIONS / CHUNK_SIZE)  # resolve, then per chunk
    subject = scenario.issue("TEST-2")["fields"]["summary"]
    second_case = association_ids[1]
    with scenario.container.session() as session:
        case_id = session.get(Association, second_case).salesforce_id
    assert scenario.record("Case", case_id)["Subject"] == subject

    status = client.get(f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers)
    data = status.json()["data"]
    assert (data["state"], data["done"], data["failed"], data["remaining"]) == (
        "done",
        ASSOCIATIONS,
        0,
        0,
    )
    assert data["errors"] == [] and data["quota"]["paused"] is False


def test_associations_flagged_as_deleted_in_salesforce_are_left_out(
    client, scenario, association_ids, headers
):
    from datetime import UTC, datetime

    with scenario.container.session() as session:
        for association_id in association_ids[:50]:
            session.get(Association, association_id).salesforce_deleted_at = datetime.now(UTC)

    accepted = client.post(
        "/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers
    )

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"]["total"] == ASSOCIATIONS - 50


def test_a_chunk_run_again_after_a_crash_writes_nothing_twice(container, scenario, association_ids):
    chunk = association_ids[:CHUNK_SIZE]
    push_chunk(container, scenario.connection.id, chunk)
    scenario.clear_logs()

    done, failures = push_chunk(container, scenario.connection.id, chunk)

    assert (done, failures) == (CHUNK_SIZE, [])
    assert scenario.writes(scenario.salesforce_data_calls()) == 0


def test_bulk_push_copies_every_issues_comments_in_collections_of_200_per_chunk(
    client, scenario, association_ids, headers, runner
):
    copies = comment_on_every_issue(scenario)
    scenario.clear_logs()

    accepted = client.post(
        "/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers
    )
    runner.run_due()

    assert accepted.status_code == 201, accepted.text
    writes = {
        route: count
        for route, count in scenario.salesforce_data_calls().items()
        if not route.startswith("GET ")
    }
    # Fields: one update per chunk. Comments: 2 per association, so 400 + 400 + 100 copies
    # in chunks of 200, 200 and 50 associations: 2 + 2 + 1 creates.
    assert writes == {COLLECTIONS_UPDATE: 3, COLLECTIONS_CREATE: 5}
    jira = scenario.jira_calls()
    assert jira["POST /rest/api/3/search/jql"] == 1 + 3  # comments come with the chunk's read
    assert "GET /rest/api/3/issue/{issueIdOrKey}/comment" not in jira
    issues = issue_of(scenario, association_ids)
    assert case_comment_bodies(scenario, association_ids) == {
        association: copies[issues[association]] for association in association_ids
    }
    data = client.get(f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers)
    assert (data.json()["data"]["done"], data.json()["data"]["failed"]) == (ASSOCIATIONS, 0)

    scenario.clear_logs()
    client.post("/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers)
    runner.run_due()
    assert scenario.writes(scenario.salesforce_data_calls()) == 0  # copied once, ever


def test_a_chunk_killed_between_two_comment_creates_adopts_the_first_and_creates_the_rest(
    container, scenario, association_ids
):
    copies = comment_on_every_issue(scenario)
    chunk = association_ids[:CHUNK_SIZE]  # 400 comment copies: two Collections creates
    crash = CrashPoints.install(container)
    crash.arm("POST", r"/composite/sobjects$")  # the first create lands, then the worker dies

    with pytest.raises(WorkerKilled):
        push_chunk(container, scenario.connection.id, chunk)
    with container.session() as session:
        assert session.query(CopyIntent).count() == 2 * CHUNK_SIZE
    scenario.clear_logs()

    done, failures = push_chunk(container, scenario.connection.id, chunk)

    assert (done, failures) == (CHUNK_SIZE, [])
    calls = scenario.salesforce_data_calls()
    # One query finds the 200 copies the first create made; the other 200 are created once.
    assert calls[QUERY] == 1
    assert {route: n for route, n in calls.items() if not route.startswith("GET ")} == {
        COLLECTIONS_CREATE: 1
    }
    issues = issue_of(scenario, chunk)
    assert case_comment_bodies(scenario, chunk) == {
        association: copies[issues[association]] for association in chunk
    }
    with container.session() as session:
        assert session.query(CopyIntent).count() == 0
    scenario.clear_logs()
    push_chunk(container, scenario.connection.id, chunk)
    assert QUERY not in scenario.salesforce_data_calls()  # nothing pending: no lookup


def test_bulk_push_uploads_each_new_file_once_with_two_queries_per_chunk(
    container, scenario, association_ids
):
    scenario.set_connection(sync_attachments=True)
    content = b"%PDF-1.7 signed contract"
    issue = scenario.sandbox.jira.issues.require("TEST-1")
    alice = Context(account_id=ALICE_ACCOUNT_ID, base_url="https://sandbox.atlassian.net")
    scenario.sandbox.jira.issues.add_attachment(
        alice, issue, "contract.pdf", "application/pdf", io.BytesIO(content)
    )
    issues = issue_of(scenario, association_ids)
    with_file = [a for a in association_ids if issues[a] == str(issue["id"])]
    scenario.clear_logs()

    for start in range(0, ASSOCIATIONS, CHUNK_SIZE):
        push_chunk(container, scenario.connection.id, association_ids[start : start + CHUNK_SIZE])

    calls = scenario.salesforce_data_calls()
    # No batch upload exists: one each. Per chunk: one query of the records' Files (the
    # same-content check) and one for the new ContentDocument ids.
    assert calls["POST /services/data/v{version}/sobjects/{sobject}"] == len(with_file)
    assert calls[QUERY] == 2 * 3
    # The file is downloaded once per chunk, whatever the number of Cases needing it.
    assert scenario.jira_calls()[DOWNLOAD] == 3
    records = scenario.sandbox.salesforce.records
    with container.session() as session:
        cases = {
            row.salesforce_id
            for row in session.query(Association).filter(Association.id.in_(with_file))
        }
        links = session.query(AttachmentLink).all()
    versions = [v for v in records.all("ContentVersion") if v["FirstPublishLocationId"] in cases]
    assert sorted(v["FirstPublishLocationId"] for v in versions) == sorted(cases)  # once each
    assert {link.salesforce_document_id for link in links} == {
        v["ContentDocumentId"] for v in versions
    }
    scenario.clear_logs()
    push_chunk(container, scenario.connection.id, association_ids[:CHUNK_SIZE])
    assert scenario.writes(scenario.salesforce_data_calls()) == 0


def associate_new_cases(scenario: SyncScenario, issue_key: str, count: int) -> list[str]:
    """``count`` new Cases, each associated with the issue; their association ids."""
    issue = scenario.issue(issue_key)
    with TestClient(scenario.sandbox.salesforce.app) as salesforce:
        case_ids = [
            salesforce.post(
                "/__sandbox/salesforce/records/Case", json={"Subject": f"{issue_key} case {n}"}
            ).json()["id"]
            for n in range(count)
        ]
    with scenario.container.session() as session:
        associations = [
            Association(
                connection_id=scenario.connection.id,
                jira_issue_id=issue["id"],
                jira_issue_key=issue["key"],
                jira_project_id=issue["fields"]["project"]["id"],
                salesforce_object="Case",
                salesforce_id=normalize_id(case_id, sobject="Case"),
            )
            for case_id in case_ids
        ]
        session.add_all(associations)
        session.flush()
        return [association.id for association in associations]


def attach(scenario: SyncScenario, issue_key: str, filename: str, content: bytes) -> None:
    issues = scenario.sandbox.jira.issues
    alice = Context(account_id=ALICE_ACCOUNT_ID, base_url="https://sandbox.atlassian.net")
    issues.add_attachment(
        alice, issues.require(issue_key), filename, "application/pdf", io.BytesIO(content)
    )


def file_checksums_by_case(scenario: SyncScenario, association_ids: list[str]) -> dict[str, list]:
    """Association id → sorted (file name, MD5) of the Files on its Case."""
    with scenario.container.session() as session:
        cases = {
            row.id: row.salesforce_id
            for row in session.query(Association).filter(Association.id.in_(association_ids))
        }
    versions = list(scenario.sandbox.salesforce.records.all("ContentVersion"))
    return {
        association: sorted(
            (v["PathOnClient"], v["Checksum"])
            for v in versions
            if v["FirstPublishLocationId"] == case
        )
        for association, case in cases.items()
    }


def test_a_file_on_an_issue_linked_to_many_cases_is_downloaded_once_per_chunk(container, scenario):
    scenario.set_connection(sync_attachments=True)
    # Larger than the in-memory spool: the copy kept for the next Cases waits on disk.
    manual = bytes(range(256)) * (SPOOL_MEMORY_BYTES // 256 + 8)
    photo, log = b"PNG pretend photo", b"build log, line 1"
    attach(scenario, "TEST-1", "manual.pdf", manual)
    attach(scenario, "TEST-1", "photo.png", photo)
    attach(scenario, "TEST-2", "build.log", log)
    on_test_1 = associate_new_cases(scenario, "TEST-1", 5)
    on_test_2 = associate_new_cases(scenario, "TEST-2", 2)
    chunk = [*on_test_1[:3], *on_test_2, *on_test_1[3:]]  # an issue's Cases need not be adjacent
    scenario.clear_logs()

    done, failures = push_chunk(container, scenario.connection.id, chunk)

    assert (done, failures) == (len(chunk), [])
    assert scenario.jira_calls()[DOWNLOAD] == 3  # one per attachment
    assert scenario.salesforce_data_calls()[UPLOAD] == 5 * 2 + 2 * 1  # one per file and Case
    md5 = {
        name: hashlib.md5(data, usedforsecurity=False).hexdigest()
        for name, data in (("manual.pdf", manual), ("photo.png", photo), ("build.log", log))
    }
    expected = {
        **{
            a: sorted([("manual.pdf", md5["manual.pdf"]), ("photo.png", md5["photo.png"])])
            for a in on_test_1
        },
        **{a: [("build.log", md5["build.log"])] for a in on_test_2},
    }
    assert file_checksums_by_case(scenario, chunk) == expected  # the same bytes on every Case
    scenario.clear_logs()

    push_chunk(container, scenario.connection.id, chunk)

    assert DOWNLOAD not in scenario.jira_calls()
    assert scenario.writes(scenario.salesforce_data_calls()) == 0


def test_another_connections_job_is_not_found(container, sandbox, client, scenario, headers):
    from associations.builders import create_associable_connection

    other = create_associable_connection(container, sandbox, name="Other", objects=("Case",))
    other_headers = auth_headers(issue_token(container, other.id))
    accepted = client.post(
        "/external/api/jobs/push", json={"jql": "project = TEST"}, headers=headers
    )

    response = client.get(
        f"/external/api/jobs/{accepted.json()['data']['id']}", headers=other_headers
    )

    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.mark.parametrize("body", [{}, {"jql": ""}, {"jql": 5}, {"jql": "x", "extra": 1}])
def test_a_bad_request_is_refused_without_a_job(client, scenario, headers, body):
    response = client.post("/external/api/jobs/push", json=body, headers=headers)

    assert response.status_code in (400, 422)
    assert response.json()["success"] is False


def test_the_cli_queues_a_bulk_push_and_follows_it_until_done(container, scenario, association_ids):
    import json

    import typer
    from typer.testing import CliRunner

    from e2e.harness import WorkerLoop
    from forcebridge.bulk.cli import register

    app = typer.Typer()
    register(app)
    worker = WorkerLoop(container, JobSettings())
    worker.start()
    try:
        result = CliRunner().invoke(
            app,
            [
                "bulk",
                "push",
                "--jql",
                "project = TEST",
                "--connection",
                scenario.connection.id,
                "--json",
                "--timeout",
                "60",
            ],
            obj=container,
        )
    finally:
        worker.stop()

    assert result.exit_code == 0, result.output
    view = json.loads(result.output[result.output.index("{") :])
    assert (view["state"], view["done"], view["remaining"]) == ("done", ASSOCIATIONS, 0)
