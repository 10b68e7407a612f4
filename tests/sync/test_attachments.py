"""Attachment sync against the sandboxes: Jira attachments ↔ Salesforce Files on the record.

Each test is one behaviour of docs/comments-and-attachments.md: copied both ways with the same
bytes, once, never back, deduplicated by SHA-256, size-capped with a clear reason, off when the
connection says so, and with exact vendor call counts.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import tracemalloc

import pytest
from sqlalchemy import select

from forcebridge.sandbox.operator import FaultRequest
from forcebridge.sync.attachments import (
    DEFAULT_MAX_ATTACHMENT_BYTES,
    SPOOL_MEMORY_BYTES,
    SharedDownloads,
    attachment_fields,
    attachment_subqueries,
)
from forcebridge.sync.link_models import AttachmentLink
from sync.test_comments_and_attachments_support import build_world

REPORT = b"%PDF-1.4 quarterly report\n" * 100


@pytest.fixture
def world(container, sandbox):
    yield from build_world(container, sandbox)


def _files_on_record(world):
    """``{file name: bytes}`` of every File linked to the record."""
    records = world.salesforce.records
    files = {}
    for link in world.salesforce_rows("ContentDocumentLink"):
        document = records.get("ContentDocument", link["ContentDocumentId"])
        version = records.get("ContentVersion", document["LatestPublishedVersionId"])
        files[version["PathOnClient"]] = base64.b64decode(version["VersionData"])
    return files


def _jira_files(world):
    """``{file name: bytes}`` of every attachment of the issue, downloaded through the client."""
    return {
        item["filename"]: b"".join(world.clients.jira.download_attachment(item["id"]))
        for item in world.jira_attachments()
    }


def test_the_engine_reads_files_with_the_issue_and_record_reads():
    assert attachment_fields() == ["attachment"]
    assert "FROM ContentDocumentLinks" in attachment_subqueries("Case")[0]
    assert DEFAULT_MAX_ATTACHMENT_BYTES == 25 * 1024 * 1024


def test_push_uploads_a_jira_attachment_as_a_file_on_the_record(world):
    world.jira_attachment("report.pdf", REPORT)

    result = world.push_attachments()

    assert result.created == ["report.pdf"] and result.skipped == []
    assert _files_on_record(world) == {"report.pdf": REPORT}
    [document] = [
        world.salesforce.records.get("ContentDocument", link["ContentDocumentId"])
        for link in world.salesforce_rows("ContentDocumentLink")
    ]
    assert document["Title"] == "report"


def test_push_costs_a_download_an_upload_and_one_id_lookup(world):
    world.jira_attachment("report.pdf", REPORT)
    world.clear_calls()

    world.push_attachments()

    assert world.calls() == {
        "GET /rest/api/3/issue/{issueIdOrKey}": 1,  # the engine's read
        "GET /rest/api/3/attachment/content/{attachmentId}": 1,
        "POST /services/data/v{version}/sobjects/{sobject}": 1,  # multipart ContentVersion
        # the record's Files (same-content check), then the new ContentDocument ids
        "GET /services/data/v{version}/query": 2,
    }


def test_pull_uploads_a_salesforce_file_to_the_jira_issue(world):
    world.salesforce_file("signed-order.pdf", b"signed" * 1000)

    result = world.pull_attachments()

    assert result.created == ["signed-order.pdf"] and result.skipped == []
    assert _jira_files(world) == {"signed-order.pdf": b"signed" * 1000}


def test_pushing_and_pulling_again_copies_nothing_and_writes_nothing(world):
    world.jira_attachment("report.pdf", REPORT)
    world.salesforce_file("photo.png", b"\x89PNG" + b"\x00" * 500)
    world.push_attachments()
    world.pull_attachments()
    world.clear_calls()

    again_push = world.push_attachments()
    again_pull = world.pull_attachments()

    assert again_push.created == again_push.skipped == again_pull.created == []
    assert again_pull.skipped == []
    assert _files_on_record(world).keys() == {"report.pdf", "photo.png"}
    assert [item["filename"] for item in world.jira_attachments()].count("report.pdf") == 1
    # Only the engine's two reads of each side: no download, no upload.
    assert set(world.calls()) == {
        "GET /rest/api/3/issue/{issueIdOrKey}",
        "GET /services/data/v{version}/query",
    }


def test_a_second_attachment_with_the_same_bytes_is_linked_not_uploaded(world):
    world.jira_attachment("report.pdf", REPORT)
    world.push_attachments()
    world.jira_attachment("report (copy).pdf", REPORT)

    result = world.push_attachments()

    assert result.created == []
    assert result.skipped == [("report (copy).pdf", "same content as report.pdf, already synced")]
    assert list(_files_on_record(world)) == ["report.pdf"]
    assert world.push_attachments().skipped == []  # remembered: not downloaded again


def test_two_new_attachments_with_the_same_bytes_in_one_push_upload_once(world):
    world.jira_attachment("scan.pdf", REPORT)
    world.jira_attachment("scan-again.pdf", REPORT)
    world.salesforce_file("photo.png", b"png" * 10)
    world.salesforce_file("photo-again.png", b"png" * 10)

    pushed = world.push_attachments()
    pulled = world.pull_attachments()

    assert pushed.created == ["scan.pdf"]
    assert pushed.skipped == [("scan-again.pdf", "same content as scan.pdf, already synced")]
    assert pulled.created == ["photo.png"]
    assert pulled.skipped == [("photo-again.png", "same content as photo.png, already synced")]
    assert sorted(_files_on_record(world)) == ["photo-again.png", "photo.png", "scan.pdf"]
    assert sorted(item["filename"] for item in world.jira_attachments()) == [
        "photo.png",
        "scan-again.pdf",
        "scan.pdf",
    ]
    with world.rows() as (session, _, _association):
        documents = {
            link.salesforce_document_id for link in session.scalars(select(AttachmentLink))
        }
    assert all(document.startswith("069") for document in documents)


def test_a_file_already_on_the_other_side_with_the_same_bytes_is_linked_not_uploaded(world):
    world.salesforce_file("contract.pdf", b"contract v1")
    world.jira_attachment("contract.pdf", b"contract v1")

    pushed = world.push_attachments()
    pulled = world.pull_attachments()

    assert pushed.created == [] and pulled.created == []
    assert pushed.skipped == [("contract.pdf", "already in Salesforce as contract.pdf")]
    assert len(world.jira_attachments()) == 1
    assert len(world.salesforce_rows("ContentDocumentLink")) == 1


def test_same_size_but_different_bytes_is_still_uploaded(world):
    world.salesforce_file("a.txt", b"aaaa")
    world.jira_attachment("b.txt", b"bbbb")

    result = world.push_attachments()

    assert result.created == ["b.txt"]
    assert _files_on_record(world) == {"a.txt": b"aaaa", "b.txt": b"bbbb"}


def test_a_file_above_the_cap_is_skipped_with_its_size_and_the_cap(world):
    world.jira_attachment("big.bin", b"x" * 3 * 1024 * 1024)
    world.salesforce_file("huge.bin", b"y" * 2 * 1024 * 1024)
    world.clear_calls()

    pushed = world.push_attachments(max_bytes=1024 * 1024)
    pulled = world.pull_attachments(max_bytes=1024 * 1024)

    assert pushed.skipped == [("big.bin", "too large (3 MB > 1 MB cap)")]
    assert pulled.skipped == [("huge.bin", "too large (2 MB > 1 MB cap)")]
    assert pushed.created == pulled.created == []
    # Decided from the metadata: nothing was downloaded.
    assert not any("content" in call or "VersionData" in call for call in world.calls())


def test_attachment_sync_off_skips_every_new_file_with_the_reason(world):
    world.set_connection(sync_attachments=False)
    world.jira_attachment("report.pdf", REPORT)
    world.salesforce_file("photo.png", b"png")

    pushed = world.push_attachments()
    pulled = world.pull_attachments()

    reason = "attachment sync is off for this connection"
    assert pushed.skipped == [("report.pdf", reason)]
    assert pulled.skipped == [("photo.png", reason)]
    assert list(_files_on_record(world)) == ["photo.png"]
    assert [item["filename"] for item in world.jira_attachments()] == ["report.pdf"]


def test_a_failed_upload_is_reported_and_the_next_sync_retries_it(world, sandbox):
    world.jira_attachment("report.pdf", REPORT)
    sandbox.salesforce.operator.add_fault(
        FaultRequest(method="POST", path="/sobjects/ContentVersion", status=503, count=1)
    )

    failed = world.push_attachments()
    retried = world.push_attachments()

    [(name, reason)] = failed.skipped
    assert name == "report.pdf" and reason.startswith("not copied:")
    assert retried.created == ["report.pdf"]
    assert _files_on_record(world) == {"report.pdf": REPORT}


def test_links_record_the_sha256_and_the_salesforce_document(world):
    world.jira_attachment("report.pdf", REPORT)
    world.push_attachments()

    with world.rows() as (session, _, _association):
        link = session.scalars(select(AttachmentLink)).one()
        assert link.sha256 == hashlib.sha256(REPORT).hexdigest()
        assert link.size == len(REPORT)
        assert link.salesforce_document_id.startswith("069")
        assert link.salesforce_version_id.startswith("068")


def test_a_download_shared_by_several_records_waits_on_disk_and_is_read_once(world):
    """What a bulk chunk does with an issue associated with several records: each attachment is
    downloaded once; while it waits for the next record its spool is on disk, so holding many
    files costs no memory; the last record's push closes it."""
    # Each small enough to stay in memory on its own (below the spool's memory cap).
    size = SPOOL_MEMORY_BYTES // 2
    contents = {
        world.jira_attachment(f"capture-{n}.bin", bytes([n]) * size): bytes([n]) * size
        for n in range(6)
    }
    issue = world.read_issue()
    world.clear_calls()
    held = []

    with SharedDownloads(world.clients.jira, [issue, issue]) as downloads:
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            for attachment_id in contents:
                with downloads.spooled(attachment_id, DEFAULT_MAX_ATTACHMENT_BYTES) as spooled:
                    held.append(spooled)
            gc.collect()  # what is only waiting for the collector is not held
            after, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        downloads.finished(issue)  # the first record's push is over
        for attachment_id, content in contents.items():
            with downloads.spooled(attachment_id, DEFAULT_MAX_ATTACHMENT_BYTES) as spooled:
                assert spooled.file.read() == content
                assert spooled.md5 == hashlib.md5(content, usedforsecurity=False).hexdigest()
        downloads.finished(issue)  # the second (last) one

        assert all(spooled.file.closed for spooled in held)
    # 3 MB held for the next record, less than one file of it in memory.
    assert after - before < size
    assert world.calls() == {"GET /rest/api/3/attachment/content/{attachmentId}": 6}
