"""A bulk push survives ``kill -9`` of a real ``forcebridge worker`` subprocess mid-way: after a
restart every association is pushed, the counts are exact, and only the chunk that was running
when the worker died can be sent again (its values are the same: no duplicate effect).

The sandboxes are served over HTTPS so the worker process reaches them as it would Salesforce.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from e2e.harness import connect_to_sandbox, wait_for
from forcebridge.bulk.models import BulkJob
from forcebridge.bulk.service import CHUNK_SIZE, start_bulk_push
from forcebridge.container import build_container
from forcebridge.jobs.models import RUNNING, Job
from forcebridge.models import Association
from forcebridge.salesforce.ids import normalize_id
from forcebridge.sandbox.testing import running_sandbox, sandbox_client
from forcebridge.settings import Settings

pytestmark = pytest.mark.slow

ASSOCIATIONS = 1000
TESTS_DIR = Path(__file__).resolve().parents[1]


def _host_port(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-c", "from forcebridge.cli import main; main()", "worker"]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def test_a_bulk_push_survives_kill_9_of_its_worker(tmp_path, database_url, secret_key):
    with running_sandbox(tmp_path / "sandbox", tls=True) as sandbox:
        allowed = [_host_port(sandbox.jira_url), _host_port(sandbox.salesforce_url)]
        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=database_url,
            secret_key=secret_key,
            instance_id="forcebridge-test",
            allowed_hosts=allowed,
            ca_file=sandbox.ca_file,
        )
        container = build_container(settings, apply_migrations=True)
        try:
            connection = connect_to_sandbox(container, sandbox)
            with sandbox_client(sandbox, "salesforce") as salesforce:
                case_ids = [
                    salesforce.post(
                        "/__sandbox/salesforce/records/Case", json={"Subject": f"Case {n}"}
                    ).json()["id"]
                    for n in range(ASSOCIATIONS)
                ]
            with container.session() as session:
                for case_id in case_ids:
                    session.add(
                        Association(
                            connection_id=connection.id,
                            jira_issue_id="10001",
                            jira_issue_key="TEST-1",
                            jira_project_id="10000",
                            salesforce_object="Case",
                            salesforce_id=normalize_id(case_id, sobject="Case"),
                        )
                    )
            sandbox.salesforce.operator.clear_log()
            bulk = start_bulk_push(container, connection.id, "key = TEST-1")
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]),
                "FORCEBRIDGE_DATA_DIR": str(settings.data_dir),
                "FORCEBRIDGE_DATABASE_URL": settings.resolved_database_url,
                "FORCEBRIDGE_SECRET_KEY": secret_key,
                "FORCEBRIDGE_INSTANCE_ID": "forcebridge-test",
                "FORCEBRIDGE_ALLOWED_HOSTS": ",".join(allowed),
                "FORCEBRIDGE_CA_FILE": str(sandbox.ca_file),
                "FORCEBRIDGE_LOG_LEVEL": "WARNING",
                "FORCEBRIDGE_LOG_FORMAT": "console",
                "FORCEBRIDGE_JOB_LEASE_SECONDS": "3",
                "FORCEBRIDGE_SWEEP_INTERVAL_SECONDS": "0.5",
                "FORCEBRIDGE_JOB_REDISPATCH_AFTER_SECONDS": "2",
            }
            env.pop("FORCEBRIDGE_REDIS_URL", None)

            def progress() -> BulkJob:
                with container.session() as session:
                    row = session.get(BulkJob, bulk.id)
                    assert row is not None
                    session.expunge(row)
                    return row

            first = start_worker(env)
            try:
                wait_for(progress, lambda row: row.cursor >= CHUNK_SIZE, timeout=60, what="a chunk")
            finally:
                first.send_signal(signal.SIGKILL)
                first.wait()
            assert progress().state == "running", "the kill must land mid-way"
            second = start_worker(env)
            try:
                finished = wait_for(
                    progress, lambda row: row.state == "done", timeout=90, what="the bulk job"
                )
            finally:
                second.send_signal(signal.SIGTERM)
                assert second.wait(timeout=30) == 0

            assert (finished.done, finished.failed, finished.cursor) == (
                ASSOCIATIONS,
                0,
                ASSOCIATIONS,
            )
            credentials = sandbox.jira.credentials
            with sandbox_client(
                sandbox, "jira", auth=(credentials["email"], credentials["api_token"])
            ) as jira:
                summary = jira.get("/rest/api/3/issue/TEST-1").json()["fields"]["summary"]
            subjects = {
                sandbox.salesforce.records.get_live("Case", normalize_id(c, sobject="Case"))[
                    "Subject"
                ]
                for c in case_ids
            }
            assert subjects == {summary}
            chunks = math.ceil(ASSOCIATIONS / CHUNK_SIZE)
            writes = sandbox.salesforce.operator.counts().get(
                "PATCH /services/data/v{version}/composite/sobjects", 0
            )
            assert chunks <= writes <= chunks + 1  # only the interrupted chunk may go twice
            with container.session() as session:
                assert not list(session.scalars(select(Job).where(Job.state == RUNNING)))
        finally:
            container.close()
