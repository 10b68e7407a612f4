"""Associations, sync-now and Activity pages without a browser (the browser test pushes)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from builders import create_sandbox_connection
from forcebridge.container import Container
from forcebridge.jobs import service as jobs
from forcebridge.jobs.models import Job
from forcebridge.models import Association
from ui.forms import csrf_token


def _first_case_id(sandbox: Any) -> str:
    return str(next(iter(sandbox.salesforce.records.all("Case")))["Id"])


def _link(client: TestClient, connection_id: str, issue: str, case_id: str) -> Any:
    page = client.get(f"/admin/associations?connection={connection_id}")
    return client.post(
        "/admin/associations/link",
        data={
            "csrf_token": csrf_token(page.text),
            "connection_id": connection_id,
            "jira_issue": issue,
            "salesforce_object": "Case",
            "salesforce_id": case_id,
        },
    )


def test_search_finds_a_pair_by_issue_key_and_by_a_15_character_record_id(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    case_id = _first_case_id(sandbox)
    linked = _link(admin_client, connection.id, "TEST-2", case_id)
    assert "TEST-2 linked to Case" in linked.text
    by_key = admin_client.get(f"/admin/associations?connection={connection.id}&q=TEST-2").text
    by_record = admin_client.get(
        f"/admin/associations?connection={connection.id}&q={case_id[:15]}"
    ).text
    for page in (by_key, by_record):
        assert f"Case {case_id}" in page and ">TEST-2</a>" in page
    nothing = admin_client.get(f"/admin/associations?connection={connection.id}&q=TEST-3").text
    assert "Nothing is linked to TEST-3" in nothing
    typo = admin_client.get(f"/admin/associations?connection={connection.id}&q=TEST 3")
    assert typo.status_code == 200
    assert 'class="flash flash-error"' in typo.text and 'value="TEST 3"' in typo.text


def test_flags_pull_and_unlink_from_the_pair_page(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    case_id = _first_case_id(sandbox)
    pair = _link(admin_client, connection.id, "TEST-1", case_id)
    pair_path = pair.url.path
    token = csrf_token(pair.text)
    assert "Side by side" in pair.text and 'data-field="Subject"' in pair.text

    flagged = admin_client.post(f"{pair_path}/flags", data={"csrf_token": token, "auto_push": "on"})
    assert "Flags saved" in flagged.text
    with container.session() as db:
        row = db.scalar(select(Association))
        assert row is not None and (row.auto_push, row.auto_pull, row.view_only) == (
            True,
            False,
            False,
        )

    pulled = admin_client.post(f"{pair_path}/pull", data={"csrf_token": token})
    assert "Pulled" in pulled.text
    assert "pull (manual)" in pulled.text

    unlinked = admin_client.post(f"{pair_path}/unlink", data={"csrf_token": token})
    assert f"TEST-1 unlinked from Case {case_id}" in unlinked.text
    with container.session() as db:
        assert db.scalar(select(Association)) is None


def test_a_view_only_pair_cannot_be_pushed_and_says_why(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    pair = _link(admin_client, connection.id, "TEST-1", _first_case_id(sandbox))
    token = csrf_token(pair.text)
    admin_client.post(f"{pair.url.path}/flags", data={"csrf_token": token, "view_only": "on"})
    refused = admin_client.post(
        f"{pair.url.path}/push",
        data={"csrf_token": token},
        headers={"Referer": f"http://testserver{pair.url.path}"},
    )
    assert refused.status_code == 200
    assert refused.url.path == pair.url.path
    assert 'class="flash flash-error"' in refused.text
    assert "view-only" in refused.text or "view only" in refused.text


def test_activity_lists_syncs_with_filters(
    admin_client: TestClient, container: Container, sandbox: Any
) -> None:
    connection = create_sandbox_connection(container, sandbox)
    pair = _link(admin_client, connection.id, "TEST-1", _first_case_id(sandbox))
    admin_client.post(f"{pair.url.path}/push", data={"csrf_token": csrf_token(pair.text)})
    pushes = admin_client.get("/admin/activity?direction=push&period=1h").text
    assert "<td>manual</td>" in pushes and "badge-success" in pushes
    assert "TEST-1 ↔ Case" in pushes  # the trail keeps the issue id; the page shows its key
    pulls = admin_client.get("/admin/activity?direction=pull").text
    assert "No sync matches these filters" in pulls
    ignored = admin_client.get("/admin/activity?direction=sideways&outcome=<script>")
    assert ignored.status_code == 200 and "<script>" not in ignored.text


def test_a_dead_letter_shows_its_error_and_can_be_replayed(
    admin_client: TestClient, container: Container
) -> None:
    with container.session() as db:
        queued = jobs.enqueue(db, "push_issue", {"issue": "10001"}, connection_id=None)
    with container.session() as db:
        job = db.scalar(select(Job).where(Job.id == queued.id))
        assert job is not None
        job.state, job.last_error_kind = "dead", "transient"
        job.last_error, job.hint = "Salesforce kept answering 503.", "Replay when it is back."
    page = admin_client.get("/admin/activity")
    assert "Salesforce kept answering 503." in page.text
    assert "How to fix: Replay when it is back." in page.text
    replayed = admin_client.post(
        f"/admin/activity/jobs/{queued.id}/replay", data={"csrf_token": csrf_token(page.text)}
    )
    assert "queued again" in replayed.text
    with container.session() as db:
        assert db.scalar(select(Job.state).where(Job.id == queued.id)) == "queued"
