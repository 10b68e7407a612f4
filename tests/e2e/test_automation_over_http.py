"""Automatic sync end to end over real HTTP: people edit in the sandboxes (operator routes, "as a
user"), and ForceBridge, alone, carries the change across. Jira → Salesforce arrives through the
signed webhook Jira delivers to ForceBridge's port; Salesforce → Jira through polling. Nobody
calls ForceBridge's API after the association is made.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from e2e.harness import LiveWorld, live_world, wait_for
from forcebridge.jira.adf import adf_to_text
from forcebridge.jobs.models import PollWatermark
from forcebridge.jobs.settings import JobSettings
from forcebridge.webhooks.registration import register_jira_webhook

pytestmark = pytest.mark.slow

ISSUE_KEY = "TEST-1"


@pytest.fixture
def world(tmp_path, database_url, secret_key) -> Iterator[LiveWorld]:
    with live_world(tmp_path, database_url, secret_key) as live:
        registration = register_jira_webhook(live.container, live.connection.id)
        assert registration.status == "registered", registration.as_dict()
        yield live


@pytest.fixture
def case_id(world: LiveWorld) -> str:
    case = world.create_case_as_user("Printer on fire")
    world.associate(ISSUE_KEY, case)
    return case


# Comments and files travel with one-way pushes and pulls: the two-way field reconciliation
# (``sync_association``, run when both flags are on) carries mapped fields only.
@pytest.fixture
def push_only_case_id(world: LiveWorld) -> str:
    case = world.create_case_as_user("Printer on fire")
    world.associate(ISSUE_KEY, case, auto_pull=False)
    return case


@pytest.fixture
def pull_only_case_id(world: LiveWorld) -> str:
    case = world.create_case_as_user("Printer on fire")
    world.associate(ISSUE_KEY, case, auto_push=False)
    return case


def test_an_issue_edit_in_jira_reaches_the_associated_case_with_no_api_call(world, case_id):
    world.edit_issue_as_user(ISSUE_KEY, fields={"summary": "Printer on fire, building 2"})

    case = wait_for(
        lambda: world.case(case_id),
        lambda record: record["Subject"] == "Printer on fire, building 2",
        what="the Case's Subject to follow the issue's summary",
    )
    assert case["Subject"] == "Printer on fire, building 2"


def test_a_case_edit_in_salesforce_reaches_the_issue_through_polling(world, case_id):
    world.edit_case_as_user(case_id, {"Subject": "Toner everywhere"})

    issue = wait_for(
        lambda: world.issue(ISSUE_KEY),
        lambda issue: issue["fields"]["summary"] == "Toner everywhere",
        what="the issue's summary to follow the Case's Subject",
    )
    assert issue["fields"]["summary"] == "Toner everywhere"


def test_a_jira_comment_and_attachment_reach_the_case(world, push_only_case_id):
    case_id = push_only_case_id
    world.edit_issue_as_user(ISSUE_KEY, comment="Technician booked for 3 pm.")
    world.edit_issue_as_user(
        ISSUE_KEY,
        attachment={
            "filename": "floor-plan.txt",
            "content_base64": base64.b64encode(b"room 2.14").decode(),
        },
    )

    comments = wait_for(
        lambda: world.children_of("CaseComment", case_id),
        lambda rows: len(rows) == 1,
        what="one CaseComment",
    )
    assert comments[0]["CommentBody"].endswith("Technician booked for 3 pm.")
    files = wait_for(
        lambda: world.children_of("ContentDocumentLink", case_id),
        lambda rows: len(rows) == 1,
        what="one File linked to the Case",
    )
    assert len(files) == 1


def test_a_case_comment_reaches_the_issue_through_polling(world, pull_only_case_id):
    case_id = pull_only_case_id
    with world.salesforce() as salesforce:
        response = salesforce.post(
            "/__sandbox/salesforce/records/CaseComment",
            json={"ParentId": case_id, "CommentBody": "Customer confirmed the fix."},
        )
    assert response.status_code == 201, response.text
    # A new CaseComment does not move the Case's SystemModstamp: polling reads CaseComments
    # of the polled Cases in the same composite call, so the comment alone is enough.

    issue = wait_for(
        lambda: world.issue(ISSUE_KEY),
        lambda issue: any(
            "Customer confirmed the fix." in adf_to_text(comment["body"])
            for comment in issue["fields"]["comment"]["comments"]
        ),
        what="the Case comment on the issue",
    )
    assert issue["fields"]["description"] is None  # the Case itself was not edited


@pytest.fixture
def world_without_repeat_polls(tmp_path, database_url, secret_key) -> Iterator[LiveWorld]:
    """Polls once (the first sweep) and then not again for an hour: only outbound messages
    can carry a later change."""
    settings = JobSettings(poll_interval_seconds=3600, sweep_interval_seconds=0.2)
    with live_world(tmp_path, database_url, secret_key, job_settings=settings) as live:
        yield live


def test_a_case_edit_reaches_the_issue_through_an_outbound_message(world_without_repeat_polls):
    world = world_without_repeat_polls
    case_id = world.create_case_as_user("Printer on fire")
    world.associate(ISSUE_KEY, case_id, auto_push=False)
    wait_for(lambda: polled_once(world), bool, what="the first poll")
    endpoint = f"{world.base_url}/webhooks/salesforce/{world.connection.id}/outbound-message"
    with world.salesforce() as salesforce:
        defined = salesforce.post(
            "/__sandbox/salesforce/outbound-messages",
            json={
                "name": "ForceBridge",
                "sobject": "Case",
                "fields": ["Id", "Subject"],
                "endpoint_url": endpoint,
                "on_create": False,
                "on_update": True,
            },
        )
    assert defined.status_code == 201, defined.text

    world.edit_case_as_user(case_id, {"Subject": "Pushed by Salesforce itself"})

    issue = wait_for(
        lambda: world.issue(ISSUE_KEY),
        lambda issue: issue["fields"]["summary"] == "Pushed by Salesforce itself",
        what="the issue's summary to follow the outbound message",
    )
    assert issue["fields"]["summary"] == "Pushed by Salesforce itself"

    # The sandbox records the Ack on its delivery thread, which can finish after the pull.
    def outbound_deliveries():
        with world.salesforce() as salesforce:
            return salesforce.get("/__sandbox/salesforce/outbound-messages/deliveries").json()

    deliveries = wait_for(
        outbound_deliveries,
        lambda found: [delivery["status"] for delivery in found] != ["pending"],
        what="the sandbox to record the outbound message's Ack",
    )
    assert [delivery["status"] for delivery in deliveries] == ["delivered"]  # the Ack was read


def polled_once(world: LiveWorld) -> bool:
    with world.container.session() as session:
        return session.scalar(select(PollWatermark)) is not None
