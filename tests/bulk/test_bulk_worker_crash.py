"""The product issue's test: ``kill -9`` of the worker at random moments during a bulk push of
2,000 associations; after each restart the work goes on, and at the end every record is right,
no comment or file was copied twice, and no job is stuck.

World: 200 issues × 10 Cases = 2,000 associations (10 chunks of 200). Every issue has two
comments, one of them restricted (the connection syncs all comments, so it becomes an
unpublished CaseComment); every 20th issue also has a file (10 issues → 100 uploads). Files are
the slow part (one download and one upload each, no batch), so a tenth of the issues carry one:
enough to put uploads inside the kill windows while the test stays well under three minutes.

A real ``forcebridge worker`` subprocess talks to the sandboxes over HTTPS. It is killed with
SIGKILL four times, at moments drawn from ``random.Random(seed)`` (the seed is in every assertion
message; set ``FORCEBRIDGE_CRASH_SEED`` to replay one): three at a random delay once the job has
passed a random chunk, and one while a Collections create is in flight: the sandbox holds the
next two ``POST composite/sobjects`` calls for a while (operator latency fault), and the kill
lands during the second one, after the first has created its comments in Salesforce and before
ForceBridge committed their links. Restarted each time; the job's lease expires and the sweeper
hands the job to the new worker.

Runs on the database of the suite (SQLite, or PostgreSQL with FORCEBRIDGE_TEST_DATABASE=postgres)
and on both queues (SqliteHuey and RedisHuey with its own queue name).
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, or_, select

from e2e.harness import connect_to_sandbox, wait_for
from forcebridge.bulk.models import BulkJob
from forcebridge.bulk.service import CHUNK_SIZE, start_bulk_push
from forcebridge.container import Container, build_container
from forcebridge.jira.adf import text_to_adf
from forcebridge.jobs.models import RUNNING, Job
from forcebridge.jobs.queue import JobQueue, build_huey, install_job_queue
from forcebridge.models import Association, Connection
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sandbox.jira.issues import Context
from forcebridge.sandbox.jira.seed import ALICE_ACCOUNT_ID
from forcebridge.sandbox.operator import FaultRequest
from forcebridge.sandbox.server import RunningSandbox
from forcebridge.sandbox.testing import running_sandbox
from forcebridge.settings import Settings
from forcebridge.sync.link_models import AttachmentLink, CommentLink, CopyIntent
from jobs.backends import BACKENDS, settings_for_backend, unique_queue_name

pytestmark = pytest.mark.slow

ISSUES = 200
CASES_PER_ISSUE = 10
ASSOCIATIONS = ISSUES * CASES_PER_ISSUE
FILE_EVERY = 20  # every 20th issue carries a file
RANDOM_KILLS = 3
IN_FLIGHT_LATENCY_MS = 2500
TESTS_DIR = Path(__file__).resolve().parents[1]
PRIORITIES = {"Highest": "High", "High": "High", "Medium": "Medium", "Low": "Low"}


def _seed() -> int:
    chosen = os.environ.get("FORCEBRIDGE_CRASH_SEED")
    return int(chosen) if chosen else random.SystemRandom().randrange(1_000_000)


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from forcebridge.cli import main; main()", "worker"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def kill(worker: subprocess.Popen[bytes]) -> None:
    worker.send_signal(signal.SIGKILL)
    worker.wait()


# -- the world ---------------------------------------------------------------------------------


def make_issues(sandbox: RunningSandbox, rng: random.Random) -> list[dict[str, object]]:
    """200 issues with two comments each (one restricted) and a file on every 20th."""
    issues_store = sandbox.jira.issues
    alice = Context(account_id=ALICE_ACCOUNT_ID, base_url=sandbox.jira_url)
    issues = []
    for number in range(ISSUES):
        priority = rng.choice(sorted(PRIORITIES))
        created = issues_store.create(
            alice,
            {
                "fields": {
                    "project": {"key": "TEST"},
                    "issuetype": {"id": "10001"},
                    "summary": f"Crash-test issue {number}",
                    "priority": {"name": priority},
                }
            },
            "3",
        )
        issue = issues_store.require(str(created["key"]))
        public = f"Public note {number}: customer informed."
        private = f"Private note {number}: root cause in billing."
        issues_store.add_comment(alice, issue, {"body": text_to_adf(public)}, "3")
        issues_store.add_comment(
            alice,
            issue,
            {"body": text_to_adf(private), "visibility": {"type": "role", "value": "Developers"}},
            "3",
        )
        files = []
        if number % FILE_EVERY == 0:
            filename = f"log-{number}.txt"
            content = f"trace of issue {number}\n".encode() * 50
            issues_store.add_attachment(alice, issue, filename, "text/plain", io.BytesIO(content))
            files.append((filename, len(content)))
        issues.append(
            {
                "id": str(issue["id"]),
                "key": str(issue["key"]),
                "project_id": str(issue.get("project_id") or "10000"),
                "summary": f"Crash-test issue {number}",
                "priority": PRIORITIES[priority],
                "comments": {
                    (f"[From Jira] Alice Agent:\n{public}", True),
                    (f"[From Jira] Alice Agent:\n{private}", False),
                },
                "files": files,
            }
        )
    return issues


def make_cases(sandbox: RunningSandbox) -> list[str]:
    records = sandbox.salesforce.records
    agent = sandbox.salesforce.agent_user_id
    with records.transaction() as tx:
        return [
            normalize_id(
                records.create(tx, "Case", {"Subject": f"Case {n}"}, agent), sobject="Case"
            )
            for n in range(ASSOCIATIONS)
        ]


# -- the test ----------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    return settings_for_backend(settings, request.param)


@pytest.fixture
def live(
    tmp_path: Path, backend: Settings
) -> Iterator[tuple[RunningSandbox, Container, Settings, str]]:
    with running_sandbox(tmp_path / "sandbox", tls=True) as sandbox:
        allowed = [_host_port(sandbox.jira_url), _host_port(sandbox.salesforce_url)]
        settings = backend.model_copy(update={"allowed_hosts": allowed, "ca_file": sandbox.ca_file})
        container = build_container(settings, apply_migrations=True)
        queue_name = unique_queue_name()
        queue = JobQueue(build_huey(settings, queue_name=queue_name))
        install_job_queue(container, queue)
        try:
            yield sandbox, container, settings, queue_name
        finally:
            queue.flush()
            container.close()


def test_kill_9_at_random_moments_of_a_bulk_push_loses_and_duplicates_nothing(live, secret_key):
    sandbox, container, settings, queue_name = live
    seed = _seed()
    rng = random.Random(seed)
    about = f"(seed={seed}; replay with FORCEBRIDGE_CRASH_SEED={seed})"

    connection = connect_to_sandbox(container, sandbox)
    with container.session() as session:
        row = session.get(Connection, connection.id)
        assert row is not None
        row.sync_attachments = True
        row.comment_privacy = "all"
    issues = make_issues(sandbox, rng)
    case_ids = make_cases(sandbox)
    issue_of_case = {
        case_id: issues[position // CASES_PER_ISSUE] for position, case_id in enumerate(case_ids)
    }
    with container.session() as session:
        for case_id, issue in issue_of_case.items():
            session.add(
                Association(
                    connection_id=connection.id,
                    jira_issue_id=issue["id"],
                    jira_issue_key=issue["key"],
                    jira_project_id=issue["project_id"],
                    salesforce_object="Case",
                    salesforce_id=case_id,
                )
            )
    bulk = start_bulk_push(container, connection.id, "project = TEST")
    assert len(bulk.items) == ASSOCIATIONS

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
        "FORCEBRIDGE_DATA_DIR": str(settings.data_dir),
        "FORCEBRIDGE_DATABASE_URL": settings.resolved_database_url,
        "FORCEBRIDGE_SECRET_KEY": secret_key,
        "FORCEBRIDGE_INSTANCE_ID": "forcebridge-test",
        "FORCEBRIDGE_ALLOWED_HOSTS": ",".join(settings.allowed_hosts),
        "FORCEBRIDGE_CA_FILE": str(sandbox.ca_file),
        "FORCEBRIDGE_LOG_LEVEL": "WARNING",
        "FORCEBRIDGE_LOG_FORMAT": "console",
        "FORCEBRIDGE_QUEUE_NAME": queue_name,
        "FORCEBRIDGE_JOB_LEASE_SECONDS": "3",
        "FORCEBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
        "FORCEBRIDGE_JOB_REDISPATCH_AFTER_SECONDS": "2",
    }
    if settings.redis_url:
        env["FORCEBRIDGE_REDIS_URL"] = settings.redis_url
    else:
        env.pop("FORCEBRIDGE_REDIS_URL", None)

    def progress() -> BulkJob:
        with container.session() as session:
            found = session.get(BulkJob, bulk.id)
            assert found is not None
            session.expunge(found)
            return found

    chunks = ASSOCIATIONS // CHUNK_SIZE
    # Three random moments (a random chunk passed, then a random delay) and one in flight.
    # (the last random one leaves a few chunks, so every kill lands before the end)
    passed_chunks = sorted(rng.sample(range(1, chunks - 3), RANDOM_KILLS))
    in_flight_turn = rng.randrange(RANDOM_KILLS + 1)
    kills: list[str] = []
    started = time.monotonic()
    for turn in range(RANDOM_KILLS + 1):
        worker = start_worker(env)
        try:
            if turn == in_flight_turn:
                # Hold the next two Collections creates; kill during the second, so the first
                # has created its comments and their links are not committed yet.
                rule = sandbox.salesforce.operator.add_fault(
                    FaultRequest(
                        method="POST",
                        path=r"/composite/sobjects$",
                        count=2,
                        latency_ms=IN_FLIGHT_LATENCY_MS,
                    )
                )
                wait_for(
                    lambda rule=rule: rule.remaining,
                    lambda remaining: remaining == 0,
                    timeout=90,
                    what=f"the second held Collections create {about}",
                )
                time.sleep(rng.uniform(0.1, IN_FLIGHT_LATENCY_MS / 1000 - 0.5))
                kills.append("during a held Collections create")
            else:
                target = passed_chunks.pop(0) * CHUNK_SIZE
                wait_for(
                    progress,
                    lambda row, target=target: row.cursor >= target,
                    timeout=90,
                    what=f"cursor {target} {about}",
                )
                time.sleep(rng.uniform(0.0, 1.5))
                kills.append(f"after cursor {target}")
        finally:
            kill(worker)
        assert progress().state == "running", f"kill {turn + 1} must land mid-way {about}"
        if turn == in_flight_turn:
            with container.session() as session:
                pending = session.scalar(select(func.count()).select_from(CopyIntent))
            # Killed between "recorded, being created" and "linked": the window under test.
            assert pending, f"the in-flight kill left no intent to resolve {about}"
    last = start_worker(env)
    try:
        finished = wait_for(
            progress, lambda row: row.state == "done", timeout=150, what=f"the bulk job {about}"
        )
    finally:
        last.send_signal(signal.SIGTERM)
        assert last.wait(timeout=30) == 0
    elapsed = time.monotonic() - started

    # The job: done, exact counts, nothing left running, leased or pending.
    assert (finished.done, finished.failed, finished.cursor) == (
        ASSOCIATIONS,
        0,
        ASSOCIATIONS,
    ), f"{finished.errors[:3]} {about}"
    with container.session() as session:
        stuck = session.scalars(
            select(Job).where(or_(Job.state == RUNNING, Job.lease_owner.is_not(None)))
        ).all()
        assert stuck == [], f"jobs left running or leased {about}"
        assert session.scalar(select(func.count()).select_from(CopyIntent)) == 0, about
        comment_links = session.scalar(select(func.count()).select_from(CommentLink))
        file_links = session.scalar(select(func.count()).select_from(AttachmentLink))
    with_files = sum(1 for issue in issue_of_case.values() if issue["files"])
    assert (comment_links, file_links) == (2 * ASSOCIATIONS, with_files), about

    # Every Case: fields equal to its issue's, each comment and file exactly once.
    records = sandbox.salesforce.records
    comments_by_case: dict[str, Counter[tuple[str, bool]]] = {c: Counter() for c in case_ids}
    for comment in records.all("CaseComment"):
        if comment["ParentId"] in comments_by_case:
            key = (str(comment["CommentBody"]), bool(comment["IsPublished"]))
            comments_by_case[comment["ParentId"]][key] += 1
    files_by_case: dict[str, Counter[tuple[str, int]]] = {c: Counter() for c in case_ids}
    for version in records.all("ContentVersion"):
        if version.get("FirstPublishLocationId") in files_by_case:
            key = (str(version["PathOnClient"]), int(version["ContentSize"]))
            files_by_case[version["FirstPublishLocationId"]][key] += 1
    wrong = []
    for case_id, issue in issue_of_case.items():
        case = records.get_live("Case", case_id)
        assert case is not None
        if (case["Subject"], case["Priority"]) != (issue["summary"], issue["priority"]):
            wrong.append((case_id, "fields", case["Subject"], case["Priority"]))
        if comments_by_case[case_id] != Counter(issue["comments"]):
            wrong.append((case_id, "comments", dict(comments_by_case[case_id])))
        if files_by_case[case_id] != Counter(issue["files"]):
            wrong.append((case_id, "files", dict(files_by_case[case_id])))
    assert wrong == [], f"{len(wrong)} Cases wrong, e.g. {wrong[:3]}; kills: {kills} {about}"
    print(f"bulk push of {ASSOCIATIONS} survived kills {kills} in {elapsed:.0f} s {about}")
