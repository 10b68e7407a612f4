"""Crash safety of comment and file copies: a worker killed between the vendor's create and our
commit never makes the copy twice (DESIGN.md §5, docs/comments-and-attachments.md).

Each test kills the "worker" (see ``crash_points``) right after one create landed in the
sandbox, then runs the same sync again and checks that the copy left behind is adopted (linked)
rather than created again, with the exact calls that costs; and that once nothing is pending, a
sync spends no call on the check.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from forcebridge.sync.link_models import AttachmentLink, CommentLink, CopyIntent
from sync.crash_points import CrashPoints, WorkerKilled
from sync.test_comments_and_attachments_support import build_world

COLLECTIONS_CREATE = "POST /services/data/v{version}/composite/sobjects"
SALESFORCE_QUERY = "GET /services/data/v{version}/query"
# The engine's one read before each step (the issue for a push, the record for a pull).
ISSUE_READ = {"GET /rest/api/3/issue/{issueIdOrKey}": 1}
RECORD_READ = {SALESFORCE_QUERY: 1}


@pytest.fixture
def crash(container) -> CrashPoints:
    return CrashPoints.install(container)


@pytest.fixture
def world(container, sandbox, crash):
    yield from build_world(container, sandbox, sync_attachments=True)


def _count(world, model) -> int:
    with world.container.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.association_id == world.association_id)
            )
            or 0
        )


def _case_comment_bodies(world) -> list[str]:
    return sorted(row["CommentBody"] for row in world.salesforce_rows("CaseComment"))


def test_a_push_killed_after_salesforce_created_the_comments_adopts_them_on_the_retry(world, crash):
    first = world.jira_comment("The fix ships on Friday.")
    second = world.jira_comment("Internal: QA signed off.", restricted=True)
    crash.arm("POST", r"/composite/sobjects$")

    with pytest.raises(WorkerKilled):
        world.push_comments()

    assert len(world.salesforce_rows("CaseComment")) == 2  # created in Salesforce...
    assert (_count(world, CommentLink), _count(world, CopyIntent)) == (0, 2)  # ...not linked
    world.clear_calls()

    retried = world.push_comments()

    assert sorted(retried.created) == sorted([first, second])
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 1}  # looked; created nothing
    assert _case_comment_bodies(world) == [
        "[From Jira] Alice Agent:\nInternal: QA signed off.",
        "[From Jira] Alice Agent:\nThe fix ships on Friday.",
    ]
    assert (_count(world, CommentLink), _count(world, CopyIntent)) == (2, 0)
    world.clear_calls()
    assert world.push_comments().created == []
    assert world.calls() == ISSUE_READ  # nothing pending: no lookup


def test_a_push_killed_before_the_create_landed_creates_the_comment_once_on_the_retry(world, crash):
    comment = world.jira_comment("Lost in transit.")
    crash.arm("POST", r"/composite/sobjects$", after_the_vendor_wrote=False)

    with pytest.raises(WorkerKilled):
        world.push_comments()
    world.clear_calls()
    retried = world.push_comments()

    assert retried.created == [comment]
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 1, COLLECTIONS_CREATE: 1}
    assert _case_comment_bodies(world) == ["[From Jira] Alice Agent:\nLost in transit."]
    assert (_count(world, CommentLink), _count(world, CopyIntent)) == (1, 0)


def test_an_edit_made_while_the_worker_was_down_reaches_the_adopted_copy(world, crash):
    comment = world.jira_comment("Draft")
    crash.arm("POST", r"/composite/sobjects$")
    with pytest.raises(WorkerKilled):
        world.push_comments()
    world.edit_jira_comment(comment, "Final")

    retried = world.push_comments()

    assert retried.created == [comment] and retried.updated == []
    assert world.push_comments().updated == [comment]  # the adopted link remembers "Draft"
    assert _case_comment_bodies(world) == ["[From Jira] Alice Agent:\nFinal"]


def test_a_pull_killed_after_jira_created_the_comment_adopts_it_on_the_retry(world, crash):
    salesforce_comment = world.salesforce_comment("Customer called back.")
    crash.arm("POST", r"/rest/api/3/issue/[^/]+/comment$")
    before = len(world.jira_comments())

    with pytest.raises(WorkerKilled):
        world.pull_comments()
    assert len(world.jira_comments()) == before + 1
    world.clear_calls()

    retried = world.pull_comments()

    assert retried.created == [salesforce_comment]
    assert world.calls() == {**RECORD_READ, "GET /rest/api/3/issue/{issueIdOrKey}/comment": 1}
    assert len(world.jira_comments()) == before + 1
    assert (_count(world, CommentLink), _count(world, CopyIntent)) == (1, 0)
    world.clear_calls()
    assert world.pull_comments().created == []
    assert world.calls() == RECORD_READ


def test_a_file_push_killed_after_the_upload_adopts_the_file_on_the_retry(world, crash):
    world.jira_attachment("report.pdf", b"%PDF-1.7 quarterly numbers")
    crash.arm("POST", r"/sobjects/ContentVersion$")

    with pytest.raises(WorkerKilled):
        world.push_attachments()
    assert len(world.salesforce_rows("ContentDocumentLink")) == 1
    world.clear_calls()

    retried = world.push_attachments()

    assert retried.created == ["report.pdf"]
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 1}  # no download, no upload
    assert len(world.salesforce_rows("ContentDocumentLink")) == 1
    assert (_count(world, AttachmentLink), _count(world, CopyIntent)) == (1, 0)
    with world.container.session() as session:
        link = session.scalars(select(AttachmentLink)).one()
        version = world.salesforce.records.get("ContentVersion", link.salesforce_version_id)
        assert link.salesforce_document_id == version["ContentDocumentId"]
    world.clear_calls()
    assert world.push_attachments().created == []
    assert world.calls() == ISSUE_READ


def test_a_file_pull_killed_after_the_upload_adopts_the_attachment_on_the_retry(world, crash):
    world.salesforce_file("contract.pdf", b"%PDF-1.7 signed contract")
    crash.arm("POST", r"/rest/api/3/issue/[^/]+/attachments$")
    before = len(world.jira_attachments())

    with pytest.raises(WorkerKilled):
        world.pull_attachments()
    world.clear_calls()

    retried = world.pull_attachments()

    assert retried.created == ["contract.pdf"]
    # the record read, then one read of the issue's attachment list; no download, no upload
    assert world.calls() == {**RECORD_READ, **ISSUE_READ}
    assert len(world.jira_attachments()) == before + 1
    assert (_count(world, AttachmentLink), _count(world, CopyIntent)) == (1, 0)


def test_a_refused_create_drops_its_intent_and_an_unanswered_one_keeps_it_for_a_lookup(world):
    from forcebridge.sandbox.operator import FaultRequest

    comment = world.jira_comment("Refused, then lost, then copied.")
    operator = world.salesforce.operator
    operator.add_fault(FaultRequest(method="POST", path=r"/composite/sobjects$", status=400))

    refused = world.push_comments()

    assert [reason for _, reason in refused.skipped][0].startswith("not copied:")
    assert _count(world, CopyIntent) == 0  # Salesforce said no: nothing to look for
    operator.add_fault(FaultRequest(method="POST", path=r"/composite/sobjects$", status=503))
    unanswered = world.push_comments()
    assert unanswered.created == [] and _count(world, CopyIntent) == 1  # it may have landed
    world.clear_calls()

    copied = world.push_comments()

    assert copied.created == [comment]
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 1, COLLECTIONS_CREATE: 1}
    assert _case_comment_bodies(world) == [
        "[From Jira] Alice Agent:\nRefused, then lost, then copied."
    ]
    assert (_count(world, CommentLink), _count(world, CopyIntent)) == (1, 0)


@pytest.fixture
def opportunity_world(container, sandbox, crash):
    yield from build_world(container, sandbox, salesforce_object="Opportunity")


def test_chatter_posts_left_by_a_killed_push_are_adopted_too(opportunity_world, crash):
    world = opportunity_world
    comment = world.jira_comment("Pricing approved.")
    crash.arm("POST", r"/composite/sobjects$")
    with pytest.raises(WorkerKilled):
        world.push_comments()
    world.clear_calls()

    retried = world.push_comments()

    assert retried.created == [comment]
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 1}
    posts = [row["Body"] for row in world.salesforce_rows("FeedItem")]
    assert posts.count("[From Jira] Alice Agent:\nPricing approved.") == 1
    assert (_count(world, CommentLink), _count(world, CopyIntent)) == (1, 0)


# -- files with the same name and size: the checksum tells them apart ------------------------

DOWNLOAD = "GET /rest/api/3/attachment/content/{attachmentId}"
UPLOAD = "POST /services/data/v{version}/sobjects/{sobject}"
# The route table names the VersionData download like a read by external id.
VERSION_DATA = "GET /services/data/v{version}/sobjects/{sobject}/{field_name}/{value}"
FIRST_SCREENSHOT = b"\x89PNG first screenshot: the login page"
SECOND_SCREENSHOT = b"\x89PNG other screenshot: the error page"


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _checksums_of_links(world) -> dict[str, str]:
    """Jira attachment id → Checksum of the ContentVersion its link points at."""
    with world.container.session() as session:
        links = list(session.scalars(select(AttachmentLink)))
    records = world.salesforce.records
    return {
        link.jira_attachment_id: records.get("ContentVersion", link.salesforce_version_id)[
            "Checksum"
        ]
        for link in links
    }


def _checksums_on_the_case(world) -> list[str]:
    versions = world.salesforce.records.all("ContentVersion")
    return sorted(v["Checksum"] for v in versions if v["FirstPublishLocationId"] == world.record_id)


def test_two_files_of_the_same_name_and_size_a_crash_after_the_first_upload_uploads_the_second(
    world, crash
):
    assert len(FIRST_SCREENSHOT) == len(SECOND_SCREENSHOT)
    first = world.jira_attachment("screenshot.png", FIRST_SCREENSHOT)
    second = world.jira_attachment("screenshot.png", SECOND_SCREENSHOT)
    crash.arm("POST", r"/sobjects/ContentVersion$")  # the first upload lands, then the worker dies

    with pytest.raises(WorkerKilled):
        world.push_attachments()
    assert _checksums_on_the_case(world) == [_md5(FIRST_SCREENSHOT)]
    world.clear_calls()

    retried = world.push_attachments()

    assert retried.created == ["screenshot.png", "screenshot.png"]  # adopted, then uploaded
    # Adoption lookup, the Case's Files (same-content check), the new ContentDocument id; only
    # the second file is downloaded and uploaded.
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 3, DOWNLOAD: 1, UPLOAD: 1}
    assert _checksums_on_the_case(world) == sorted(
        [_md5(FIRST_SCREENSHOT), _md5(SECOND_SCREENSHOT)]
    )
    assert _checksums_of_links(world) == {
        first: _md5(FIRST_SCREENSHOT),
        second: _md5(SECOND_SCREENSHOT),
    }
    assert (_count(world, AttachmentLink), _count(world, CopyIntent)) == (2, 0)


def test_a_pending_upload_is_not_mistaken_for_another_file_of_the_same_name_and_size(world):
    from forcebridge.sandbox.operator import FaultRequest

    mine = world.jira_attachment("screenshot.png", FIRST_SCREENSHOT)
    # The upload goes unanswered: it may have landed, so its intent stays (it did not land).
    world.salesforce.operator.add_fault(
        FaultRequest(method="POST", path=r"/sobjects/ContentVersion$", status=503)
    )
    assert world.push_attachments().created == []
    assert _count(world, CopyIntent) == 1
    # Meanwhile an agent attaches a different screenshot.png of the same size to the Case.
    world.salesforce_file("screenshot.png", SECOND_SCREENSHOT)
    world.clear_calls()

    retried = world.push_attachments()

    # The agent's file is not our copy (its checksum differs): ours is uploaded. The lookup,
    # the Case's Files, one read of the agent's file (same size: hashed to compare), the new
    # ContentDocument id.
    assert retried.created == ["screenshot.png"]
    assert world.calls() == {
        **ISSUE_READ,
        SALESFORCE_QUERY: 3,
        VERSION_DATA: 1,
        DOWNLOAD: 1,
        UPLOAD: 1,
    }
    assert _checksums_on_the_case(world) == sorted(
        [_md5(FIRST_SCREENSHOT), _md5(SECOND_SCREENSHOT)]
    )
    assert _checksums_of_links(world) == {mine: _md5(FIRST_SCREENSHOT)}
    assert (_count(world, AttachmentLink), _count(world, CopyIntent)) == (1, 0)


def test_an_intent_without_a_checksum_falls_back_to_name_and_size(world, crash):
    """An intent written before checksums were recorded (or a version Salesforce reports
    without one) is matched by file name and size, as before."""
    world.jira_attachment("report.pdf", b"%PDF-1.7 quarterly numbers")
    crash.arm("POST", r"/sobjects/ContentVersion$")
    with pytest.raises(WorkerKilled):
        world.push_attachments()
    with world.container.session() as session:
        intent = session.scalars(select(CopyIntent)).one()
        intent.copy_checksum = ""
    world.clear_calls()

    retried = world.push_attachments()

    assert retried.created == ["report.pdf"]
    assert world.calls() == {**ISSUE_READ, SALESFORCE_QUERY: 1}  # adopted: no upload
    assert (_count(world, AttachmentLink), _count(world, CopyIntent)) == (1, 0)
