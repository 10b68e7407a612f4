"""A file above 50 MB travels both ways with memory far below its size.

The sandboxes run in a child process here, over real sockets: in process, the emulators' own
copies of the file (Salesforce keeps VersionData as base64) would be counted by tracemalloc and
hide what ForceBridge itself holds. What is measured is ForceBridge's side only: the streamed
download into a spooled temporary file and the streamed multipart upload.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import select

from builders import create_sandbox_connection
from forcebridge.jira.client import JiraClient
from forcebridge.models import Association, Connection
from forcebridge.salesforce.client import SalesforceClient
from forcebridge.salesforce.soql import format_soql
from forcebridge.sync.attachments import (
    attachment_fields,
    attachment_subqueries,
    pull_attachments,
    push_attachments,
    salesforce_request,
)
from forcebridge.sync.link_models import AttachmentLink

MEGABYTE = 1024 * 1024
FILE_SIZE = 51 * MEGABYTE
CAP = 60 * MEGABYTE
# "Far below the file size": a tenth of it. ForceBridge keeps at most one spool buffer (1 MB)
# and the HTTP layer's chunks in memory.
MEMORY_CEILING = FILE_SIZE // 10

_SANDBOX_PROCESS = textwrap.dedent(
    """
    import json, sys
    from forcebridge.sandbox.server import start_sandbox

    running = start_sandbox(tls=False)
    case_id = next(str(row["Id"]) for row in running.salesforce.records.all("Case"))
    print(json.dumps({
        "jira_url": running.jira_url,
        "salesforce_url": running.salesforce_url,
        "jira": running.jira.credentials,
        "salesforce_access_token": running.salesforce.credentials["access_token"],
        "case_id": case_id,
    }), flush=True)
    sys.stdin.read()  # until the test closes our stdin
    running.stop()
    """
)


@pytest.fixture
def sandbox_process() -> Iterator[dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX_PROCESS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    block = hashlib.sha256(path.name.encode()).digest() * (MEGABYTE // 32)
    with path.open("wb") as file:
        for index in range(size // MEGABYTE):
            chunk = index.to_bytes(4, "big") + block[4:]
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


def _measured(action: Any) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.mark.slow
def test_a_file_above_50_mb_syncs_both_ways_with_memory_far_below_its_size(
    container, sandbox, sandbox_process, tmp_path
):
    remote = sandbox_process
    jira = JiraClient(
        httpx2.Client(
            base_url=remote["jira_url"],
            auth=(remote["jira"]["email"], remote["jira"]["api_token"]),
            timeout=60,
        )
    )
    salesforce = SalesforceClient(
        httpx2.Client(
            base_url=remote["salesforce_url"],
            headers={"Authorization": f"Bearer {remote['salesforce_access_token']}"},
            timeout=60,
        )
    )
    connection = create_sandbox_connection(container, sandbox)
    issue = jira.get_issue("TEST-1", fields=["project"])
    with container.session() as session:
        association = Association(
            connection_id=connection.id,
            jira_issue_id=issue["id"],
            jira_issue_key="TEST-1",
            jira_project_id=issue["fields"]["project"]["id"],
            salesforce_object="Case",
            salesforce_id=remote["case_id"],
        )
        session.add(association)
        session.flush()
        association_id = association.id

    # Jira → Salesforce
    jira_file = tmp_path / "capture.bin"
    jira_sha256 = _random_file(jira_file, FILE_SIZE)
    with jira_file.open("rb") as stream:
        jira.add_attachment("TEST-1", "capture.bin", stream, "application/octet-stream")
    issue = jira.get_issue("TEST-1", fields=attachment_fields())
    with container.session() as session:
        pushed, push_peak = _measured(
            lambda: push_attachments(
                session,
                connection=session.get(Connection, connection.id),
                association=session.get(Association, association_id),
                issue=issue,
                jira=jira,
                salesforce=salesforce,
                max_bytes=CAP,
            )
        )
    assert pushed.created == ["capture.bin"], pushed.skipped
    assert push_peak < MEMORY_CEILING, f"push peak {push_peak / MEGABYTE:.1f} MB"

    # Salesforce → Jira: a different large File, uploaded to the record by someone else.
    salesforce_file = tmp_path / "recording.bin"
    salesforce_sha256 = _random_file(salesforce_file, FILE_SIZE + MEGABYTE)
    with salesforce_file.open("rb") as stream:
        salesforce_request(
            salesforce,
            "POST",
            "/sobjects/ContentVersion",
            files={
                "entity_content": (
                    None,
                    json.dumps(
                        {
                            "Title": "recording",
                            "PathOnClient": "recording.bin",
                            "FirstPublishLocationId": remote["case_id"],
                        }
                    ).encode(),
                    "application/json",
                ),
                "VersionData": ("recording.bin", stream, "application/octet-stream"),
            },
        )
    record = next(
        iter(
            salesforce.query(
                format_soql(
                    "SELECT Id, " + attachment_subqueries("Case")[0] + " FROM Case WHERE Id = {}",
                    remote["case_id"],
                )
            )
        )
    )
    with container.session() as session:
        pulled, pull_peak = _measured(
            lambda: pull_attachments(
                session,
                connection=session.get(Connection, connection.id),
                association=session.get(Association, association_id),
                record=record,
                jira=jira,
                salesforce=salesforce,
                max_bytes=CAP,
            )
        )
    assert pulled.created == ["recording.bin"], pulled.skipped
    assert pull_peak < MEMORY_CEILING, f"pull peak {pull_peak / MEGABYTE:.1f} MB"

    # The bytes arrived whole on both sides.
    with container.session() as session:
        hashes = {
            link.filename: (link.sha256, link.size)
            for link in session.scalars(select(AttachmentLink))
        }
    assert hashes == {
        "capture.bin": (jira_sha256, FILE_SIZE),
        "recording.bin": (salesforce_sha256, FILE_SIZE + MEGABYTE),
    }
    sizes_in_jira = {
        item["filename"]: item["size"]
        for item in jira.get_issue("TEST-1", fields=attachment_fields())["fields"]["attachment"]
    }
    assert sizes_in_jira == {"capture.bin": FILE_SIZE, "recording.bin": FILE_SIZE + MEGABYTE}
    print(
        f"\npeak traced memory: push {push_peak / MEGABYTE:.2f} MB, "
        f"pull {pull_peak / MEGABYTE:.2f} MB for files of 51 and 52 MB"
    )
