"""Comment sync against the sandboxes: Jira comments ↔ CaseComments and Chatter posts.

Each test is one behaviour of docs/comments-and-attachments.md: copied once, labelled with its
origin, edits propagate, never echoed back, privacy honoured, and exact vendor call counts.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from forcebridge.jira.adf import adf_to_text, text_to_adf
from forcebridge.models import Association
from forcebridge.sync.comments import (
    CASE_COMMENT_MAX_BYTES,
    PRIVATE_JIRA_VISIBILITY,
    TRUNCATION_NOTE,
    comment_fields,
    comment_subqueries,
    push_comments,
)
from forcebridge.sync.link_models import CommentLink
from sync.test_comments_and_attachments_support import build_world


@pytest.fixture
def world(container, sandbox):
    yield from build_world(container, sandbox)


@pytest.fixture
def opportunity_world(container, sandbox):
    yield from build_world(container, sandbox, salesforce_object="Opportunity")


def _case_comments(world):
    return sorted(world.salesforce_rows("CaseComment"), key=lambda row: row["CreatedDate"])


def test_the_engine_reads_comments_with_the_issue_and_record_reads():
    assert comment_fields() == ["comment"]
    assert "FROM CaseComments" in comment_subqueries("Case")[0]
    assert "FROM Feeds WHERE Type = 'TextPost'" in comment_subqueries("Opportunity")[0]


def test_push_copies_a_jira_comment_to_a_case_comment_labelled_with_its_author(world):
    comment_id = world.jira_comment("The fix ships on Friday.")

    result = world.push_comments()

    assert result.created == [comment_id]
    assert result.updated == [] and result.skipped == []
    [copy] = _case_comments(world)
    assert copy["CommentBody"] == "[From Jira] Alice Agent:\nThe fix ships on Friday."
    assert copy["IsPublished"] is True


def test_push_sends_every_new_comment_in_one_collections_call(world):
    for number in range(3):
        world.jira_comment(f"Note {number}")
    world.clear_calls()

    result = world.push_comments()

    assert len(result.created) == 3
    calls = world.calls()
    assert calls.pop("POST /services/data/v{version}/composite/sobjects") == 1
    # The issue read of the engine is the only other call.
    assert calls == {"GET /rest/api/3/issue/{issueIdOrKey}": 1}


def test_push_twice_copies_once_and_the_second_push_writes_nothing(world):
    world.jira_comment("Only once, please.")
    world.push_comments()
    world.clear_calls()

    second = world.push_comments()

    assert (second.created, second.updated, second.skipped) == ([], [], [])
    assert len(_case_comments(world)) == 1
    assert world.calls() == {"GET /rest/api/3/issue/{issueIdOrKey}": 1}


def test_push_propagates_an_edit_of_the_jira_comment_to_its_copy(world):
    comment_id = world.jira_comment("Draft wording")
    world.push_comments()
    world.edit_jira_comment(comment_id, "Final wording")
    world.clear_calls()

    result = world.push_comments()

    assert result.updated == [comment_id] and result.created == []
    [copy] = _case_comments(world)
    assert copy["CommentBody"] == "[From Jira] Alice Agent:\nFinal wording"
    assert world.calls()["PATCH /services/data/v{version}/composite/sobjects"] == 1


def test_pull_copies_a_case_comment_to_jira_labelled_with_its_author(world):
    comment_id = world.salesforce_comment("Customer sent logs.")

    result = world.pull_comments()

    assert result.created == [comment_id]
    [copy] = world.jira_comments()
    assert copy["visibility"] is None
    assert adf_to_text(copy["body"]) == "[From Salesforce] Sandbox Agent:\nCustomer sent logs."


def test_pull_costs_one_jira_call_per_new_comment_and_none_when_repeated(world):
    world.salesforce_comment("one")
    world.salesforce_comment("two")
    world.clear_calls()

    world.pull_comments()
    first_calls = world.calls()
    world.clear_calls()
    world.pull_comments()

    assert first_calls == {
        "GET /services/data/v{version}/query": 1,  # the engine's record read
        "POST /rest/api/3/issue/{issueIdOrKey}/comment": 2,
    }
    assert world.calls() == {"GET /services/data/v{version}/query": 1}


def test_pull_restricts_a_private_case_comment_to_the_administrators_role(world):
    world.salesforce_comment("Internal: customer is on a legacy plan.", published=False)

    world.pull_comments()

    [copy] = world.jira_comments()
    assert copy["visibility"] == dict(PRIVATE_JIRA_VISIBILITY)


def test_pull_propagates_an_edit_of_the_case_comment_to_its_jira_copy(world):
    comment_id = world.salesforce_comment("Priority is medium.")
    world.pull_comments()
    world.salesforce_as_agent(
        "PATCH", "CaseComment", {"CommentBody": "Priority is high."}, comment_id
    )
    world.clear_calls()

    result = world.pull_comments()

    assert result.updated == [comment_id] and result.created == []
    [copy] = world.jira_comments()
    assert adf_to_text(copy["body"]).endswith("\nPriority is high.")
    assert world.calls()["PUT /rest/api/3/issue/{issueIdOrKey}/comment/{commentId}"] == 1


def test_push_then_pull_creates_nothing_more_on_either_side(world):
    world.jira_comment("From Jira")
    world.salesforce_comment("From Salesforce")
    world.push_comments()
    world.pull_comments()

    again_push = world.push_comments()
    again_pull = world.pull_comments()

    assert again_push.created == again_push.updated == again_pull.created == []
    assert again_pull.updated == []
    assert len(world.jira_comments()) == 2  # Alice's and the copy of the agent's
    assert len(_case_comments(world)) == 2  # the agent's and the copy of Alice's


def test_a_copy_edited_on_its_target_side_is_never_copied_back(world):
    comment_id = world.jira_comment("Original in Jira")
    world.push_comments()
    with world.rows() as (session, _, _association):
        link = session.scalars(select(CommentLink)).one()
        copy_id = link.salesforce_comment_id
    world.salesforce_as_agent(
        "PATCH", "CaseComment", {"CommentBody": "Agent tweaked the copy"}, copy_id
    )

    result = world.pull_comments()

    assert (result.created, result.updated) == ([], [])
    assert [c["id"] for c in world.jira_comments()] == [comment_id]


def test_comments_by_forcebridges_own_accounts_are_never_copied(world):
    world.clients.jira.add_comment("TEST-1", "Written by the integration user")
    world.clients.salesforce.create_record(
        "CaseComment", {"ParentId": world.record_id, "CommentBody": "Integration note"}
    )

    pushed = world.push_comments()
    pulled = world.pull_comments()

    assert pushed.created == pulled.created == []
    assert [reason for _, reason in pushed.skipped + pulled.skipped] == [
        "written by ForceBridge's own account",
        "written by ForceBridge's own account",
    ]


@pytest.mark.parametrize(
    ("privacy", "copied_from_jira", "copied_from_salesforce"),
    [
        ("all", {"public", "private"}, {"public", "private"}),
        ("public", {"public"}, {"public"}),
        ("private", {"private"}, {"private"}),
    ],
)
def test_the_privacy_setting_picks_which_comments_sync(
    world, privacy, copied_from_jira, copied_from_salesforce
):
    world.set_connection(comment_privacy=privacy)
    world.jira_comment("public")
    world.jira_comment("private", restricted=True)
    world.salesforce_comment("public")
    world.salesforce_comment("private", published=False)

    pushed = world.push_comments()
    pulled = world.pull_comments()

    assert len(pushed.created) == len(copied_from_jira)
    assert len(pulled.created) == len(copied_from_salesforce)
    copies_in_salesforce = {
        row["CommentBody"].split("\n")[1]
        for row in world.salesforce_rows("CaseComment")
        if row["CommentBody"].startswith("[From Jira]")
    }
    assert copies_in_salesforce == copied_from_jira
    copies_in_jira = {
        adf_to_text(c["body"]).split("\n")[1]
        for c in world.jira_comments()
        if adf_to_text(c["body"]).startswith("[From Salesforce]")
    }
    assert copies_in_jira == copied_from_salesforce
    for _, reason in pushed.skipped + pulled.skipped:
        assert reason.endswith(f"the connection syncs {privacy} comments only")


def test_a_private_jira_comment_becomes_an_unpublished_case_comment(world):
    world.jira_comment("Only for the team", restricted=True)

    world.push_comments()

    [copy] = _case_comments(world)
    assert copy["IsPublished"] is False


def test_a_jira_comment_longer_than_a_case_comment_holds_is_cut_with_a_note(world):
    world.jira_comment("é" * 3000)  # 6000 bytes in UTF-8

    world.push_comments()

    [copy] = _case_comments(world)
    assert len(copy["CommentBody"].encode("utf-8")) <= CASE_COMMENT_MAX_BYTES
    assert copy["CommentBody"].endswith(TRUNCATION_NOTE)


def test_on_an_opportunity_comments_sync_with_chatter_text_posts(opportunity_world):
    world = opportunity_world
    world.jira_comment("Deal desk approved the discount.")
    world.jira_comment("Only for the deal team", restricted=True)
    post_id = world.salesforce_post("Signed order form attached.")

    pushed = world.push_comments()
    pulled = world.pull_comments()

    assert len(pushed.created) == 2 and pulled.created == [post_id]
    bodies = sorted(
        row["Body"]
        for row in world.salesforce_rows("FeedItem")
        if row["Body"].startswith("[From Jira")
    )
    assert bodies == [
        "[From Jira, restricted] Alice Agent:\nOnly for the deal team",
        "[From Jira] Alice Agent:\nDeal desk approved the discount.",
    ]
    assert world.push_comments().created == [] and world.pull_comments().created == []


def test_a_salesforce_refusal_is_reported_and_the_other_comments_still_sync(world):
    first = world.jira_comment("first")
    second = world.jira_comment("second")
    world.push_comments()  # both copied
    world.edit_jira_comment(first, "first, edited")
    world.edit_jira_comment(second, "second, edited")
    # The first link now points at a CaseComment that does not exist: Salesforce refuses its edit.
    with world.rows() as (session, _, _association):
        link = session.scalars(
            select(CommentLink).where(CommentLink.jira_comment_id == first)
        ).one()
        link.salesforce_comment_id = "00a000000000000AAA"

    result = world.push_comments()

    assert result.updated == [second]
    [(skipped_id, reason)] = result.skipped
    assert skipped_id == first and reason.startswith("edit not copied: ")


def test_edits_on_an_opportunity_propagate_between_jira_and_the_chatter_post(opportunity_world):
    world = opportunity_world
    comment_id = world.jira_comment("Discount: 10%")
    post_id = world.salesforce_post("Legal review pending.")
    world.push_comments()
    world.pull_comments()

    world.edit_jira_comment(comment_id, "Discount: 12%")
    world.salesforce_as_agent("PATCH", "FeedItem", {"Body": "Legal review done."}, post_id)
    pushed = world.push_comments()
    pulled = world.pull_comments()

    assert pushed.updated == [comment_id] and pulled.updated == [post_id]
    assert "[From Jira] Alice Agent:\nDiscount: 12%" in {
        row["Body"] for row in world.salesforce_rows("FeedItem")
    }
    assert "[From Salesforce] Sandbox Agent:\nLegal review done." in {
        adf_to_text(comment["body"]) for comment in world.jira_comments()
    }


def test_a_rich_text_chatter_post_reaches_jira_as_plain_text(opportunity_world):
    world = opportunity_world
    world.salesforce_as_agent(
        "POST",
        "FeedItem",
        {
            "ParentId": world.record_id,
            "Body": "<p>Renewal is <b>at risk</b></p>",
            "IsRichText": True,
        },
    )

    world.pull_comments()

    [copy] = world.jira_comments()
    assert adf_to_text(copy["body"]) == "[From Salesforce] Sandbox Agent:\nRenewal is at risk"


def test_an_edit_that_makes_a_comment_private_is_not_copied_under_public_only(world):
    world.set_connection(comment_privacy="public")
    comment_id = world.jira_comment("Shared with the customer")
    world.push_comments()
    issues = world.sandbox.jira.issues
    issues.update_comment(
        world.as_alice(),
        issues.require("TEST-1"),
        comment_id,
        {
            "body": text_to_adf("Customer is about to churn"),
            "visibility": {"type": "role", "value": "Developers"},
        },
        "3",
    )

    result = world.push_comments()

    assert result.updated == []
    assert result.skipped == [
        (
            comment_id,
            "private comment; the connection syncs public comments only; edit not copied",
        )
    ]
    [copy] = _case_comments(world)
    assert copy["CommentBody"].endswith("\nShared with the customer")


def test_push_reads_the_remaining_comments_when_jira_embeds_only_a_first_page(world):
    ids = [world.jira_comment(f"Comment {number}") for number in range(3)]
    issue = world.read_issue()
    # Jira embeds a first page of comments in the issue and says how many there are in all.
    issue["fields"]["comment"]["comments"] = issue["fields"]["comment"]["comments"][:1]
    issue["fields"]["comment"]["total"] = 3
    world.clear_calls()

    with world.rows() as (session, connection, association):
        result = push_comments(
            session,
            connection=connection,
            association=association,
            issue=issue,
            salesforce=world.clients.salesforce,
            jira_account_id=world.sandbox.jira.credentials["account_id"],
            jira=world.clients.jira,
        )

    assert result.created == ids
    assert world.calls()["GET /rest/api/3/issue/{issueIdOrKey}/comment"] == 1


def test_a_copy_pulled_from_one_record_is_not_pushed_to_another_record_of_the_issue(world):
    other_case = next(
        str(row["Id"])
        for row in world.salesforce.records.all("Case")
        if str(row["Id"]) != world.record_id
    )
    with world.rows() as (session, _, association):
        other = Association(
            connection_id=association.connection_id,
            jira_issue_id=association.jira_issue_id,
            jira_issue_key=association.jira_issue_key,
            jira_project_id=association.jira_project_id,
            salesforce_object="Case",
            salesforce_id=other_case,
        )
        session.add(other)
        session.flush()
        other_id = other.id
    world.salesforce_comment("Seen on the first Case")
    world.pull_comments()
    issue = world.read_issue()
    other_comments_before = len(
        [
            row
            for row in world.salesforce.records.all("CaseComment")
            if row["ParentId"] == other_case
        ]
    )

    with world.rows() as (session, connection, _association):
        result = push_comments(
            session,
            connection=connection,
            association=session.get(Association, other_id),
            issue=issue,
            salesforce=world.clients.salesforce,
            jira_account_id=world.sandbox.jira.credentials["account_id"],
        )

    assert (result.created, result.updated, result.skipped) == ([], [], [])
    other_comments_after = len(
        [
            row
            for row in world.salesforce.records.all("CaseComment")
            if row["ParentId"] == other_case
        ]
    )
    assert other_comments_after == other_comments_before


def test_two_way_sync_copies_comments_both_ways_and_then_nothing_more(world):
    from forcebridge.sync.engine import sync_association

    world.jira_comment("From Jira")
    world.salesforce_comment("From Salesforce")

    first = sync_association(world.container, world.connection_id, world.association_id)
    second = sync_association(world.container, world.connection_id, world.association_id)

    assert first.results[0].error is None
    assert [row["CommentBody"] for row in _case_comments(world)] == [
        "From Salesforce",
        "[From Jira] Alice Agent:\nFrom Jira",
    ]
    assert sorted(adf_to_text(comment["body"]) for comment in world.jira_comments()) == [
        "From Jira",
        "[From Salesforce] Sandbox Agent:\nFrom Salesforce",
    ]
    assert second.results[0].error is None
    assert len(_case_comments(world)) == 2
    assert len(world.jira_comments()) == 2
