"""Isolation between connections (OWASP API1, BOLA): a token sees only its own connection.

Connections A and B are bound to the same Jira project and Salesforce org, so the same issues and
records exist for both. For every external route that takes an id, A's token on B's ids or
associations answers 404 (exactly as for an id that does not exist), and B's rows stay unchanged.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from associations.builders import auth_headers, create_associable_connection, issue_token
from forcebridge.models import Association

ASSOCIATIONS = "/external/api/associations"


@pytest.fixture
def b_headers(container, sandbox) -> dict[str, str]:
    connection_b = create_associable_connection(container, sandbox, name="Connection B")
    return auth_headers(issue_token(container, connection_b.id))


@pytest.fixture
def b_association(client, b_headers, case_ids) -> dict[str, Any]:
    response = client.post(
        "/external/api/association",
        headers=b_headers,
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0], "autoPush": True},
    )
    assert response.status_code == 201
    return response.json()["data"]


def _rows(container) -> list[tuple[Any, ...]]:
    with container.session() as session:
        return [
            (
                row.id,
                row.connection_id,
                row.jira_issue_id,
                row.salesforce_object,
                row.salesforce_id,
                row.view_only,
                row.auto_push,
                row.auto_pull,
                row.updated_at,
            )
            for row in session.scalars(select(Association).order_by(Association.id))
        ]


def test_a_token_on_b_association_ids_answers_404_like_an_unknown_id(
    client, container, caller, b_association
):
    before = _rows(container)
    b_id = b_association["id"]
    unknown_id = "0" * 32

    for path_id in (b_id, unknown_id):
        get = client.get(f"{ASSOCIATIONS}/{path_id}", headers=caller.headers)
        patch = client.patch(
            f"{ASSOCIATIONS}/{path_id}", headers=caller.headers, json={"viewOnly": True}
        )
        delete = client.delete(f"{ASSOCIATIONS}/{path_id}", headers=caller.headers)
        assert (get.status_code, patch.status_code, delete.status_code) == (404, 404, 404)

    b_get = client.get(f"{ASSOCIATIONS}/{b_id}", headers=caller.headers).json()
    unknown_get = client.get(f"{ASSOCIATIONS}/{unknown_id}", headers=caller.headers).json()
    assert b_get["message"].replace(b_id, "X") == unknown_get["message"].replace(unknown_id, "X")
    assert _rows(container) == before


def test_a_token_cannot_unlink_b_association_by_issue_and_record(
    client, container, caller, b_association
):
    before = _rows(container)

    for issue in ("TEST-5", b_association["jiraIssueId"]):
        response = client.delete(
            "/external/api/association",
            params={"jiraIssueId": issue, "son": "Case", "soid": b_association["soid"]},
            headers=caller.headers,
        )
        assert response.status_code == 404

    assert _rows(container) == before


def test_a_token_lists_none_of_b_associations(client, caller, b_association):
    by_issue_id = client.get(
        ASSOCIATIONS, params={"jiraIssueId": b_association["jiraIssueId"]}, headers=caller.headers
    )
    by_issue_key = client.get(
        ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers
    )
    by_record = client.get(
        ASSOCIATIONS, params={"son": "Case", "soid": b_association["soid"]}, headers=caller.headers
    )

    for response in (by_issue_id, by_issue_key, by_record):
        assert response.status_code == 200
        assert response.json()["data"] == []
        assert response.json()["paging"]["total"] == 0


def test_a_associating_the_same_pair_creates_its_own_row_and_leaves_b_alone(
    client, container, caller, b_association
):
    before = _rows(container)

    conflict_free = client.post(
        "/external/api/association",
        headers=caller.headers,
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": b_association["soid"]},
    )
    replaced = client.post(
        ASSOCIATIONS,
        params={"jiraIssueId": "TEST-5", "replace": "true"},
        headers=caller.headers,
        json={"associations": []},
    )

    # B's association does not make A's a duplicate (no 409), and A's replace removes only A's.
    assert conflict_free.status_code == 201
    assert replaced.json()["data"]["removed"] == 1
    b_rows = [row for row in _rows(container) if row[0] == b_association["id"]]
    assert b_rows == [row for row in before if row[0] == b_association["id"]]
