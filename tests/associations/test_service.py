"""The associations service: behaviour that the HTTP tests cannot reach directly.

Moved issues (their keys change, their numeric ids do not), and two requests racing to link the
same pair (the database's unique constraint decides, and the loser gets 409 or, with upsert, the
flags update).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from associations.builders import create_associable_connection, jira_issue, record_ids
from forcebridge.associations import service
from forcebridge.associations.service import FlagChoice, RecordReference
from forcebridge.errors import Conflict, NotFound, ValidationFailed
from forcebridge.http import Client
from forcebridge.models import Association
from forcebridge.sandbox.testing import jira_transport


@pytest.fixture
def connection(container, sandbox) -> Any:
    return create_associable_connection(container, sandbox, bind_projects=("TEST", "SUP"))


@pytest.fixture
def cases(container, connection) -> list[str]:
    return record_ids(container, connection, "Case")


def _move_issue(sandbox: Any, key: str, project_key: str) -> str:
    """Move an issue as a Jira user would (sandbox operator API); returns its new key."""
    with Client(
        base_url="https://sandbox.atlassian.net", transport=jira_transport(sandbox.jira)
    ) as jira:
        response = jira.post(
            f"/__sandbox/jira/issues/{key}/edit", json={"move_to_project": project_key}
        )
        response.raise_for_status()
        return response.json()["key"]


def test_a_moved_issue_keeps_its_associations_and_they_show_its_new_key(
    container, sandbox, connection, cases
):
    first = service.associate(container, connection.id, "TEST-5", RecordReference("Case", cases[0]))
    new_key = _move_issue(sandbox, "TEST-5", "SUP")

    # The old key still resolves (Jira redirects it); the answer carries the new key everywhere.
    second = service.associate(
        container, connection.id, "TEST-5", RecordReference("Case", cases[1])
    )
    page = service.list_for_issue(container, connection.id, new_key)

    assert new_key.startswith("SUP-")
    assert second.association.jira_issue_id == first.association.jira_issue_id
    assert {item.jira_issue_key for item in page.items} == {new_key}
    assert {item.jira_project_id for item in page.items} == {"10001"}
    assert page.total == 2


def test_listing_by_a_key_never_seen_resolves_it_through_jira(
    container, sandbox, connection, cases
):
    service.associate(container, connection.id, "TEST-4", RecordReference("Case", cases[0]))
    new_key = _move_issue(sandbox, "TEST-4", "SUP")

    page = service.list_for_issue(container, connection.id, new_key)
    unknown = service.list_for_issue(container, connection.id, "TEST-777")

    assert [item.salesforce_id for item in page.items] == [cases[0]]
    assert unknown.items == [] and unknown.total == 0


def _race(monkeypatch, container, connection, cases: list[str]) -> None:
    """Make another request link TEST-5 to cases[0] after our checks, right before our insert."""
    real_check = service.existing_record_ids
    issue_id = jira_issue(container, connection, "TEST-5")["id"]
    connection_id = connection.id

    def check_then_lose_the_race(salesforce, sobject, record_ids_to_check):
        found = real_check(salesforce, sobject, record_ids_to_check)
        with container.session() as session:
            session.add(
                Association(
                    connection_id=connection_id,
                    jira_issue_id=issue_id,
                    jira_issue_key="TEST-5",
                    jira_project_id="10000",
                    salesforce_object="Case",
                    salesforce_id=cases[0],
                )
            )
        return found

    monkeypatch.setattr(service, "existing_record_ids", check_then_lose_the_race)


def test_losing_a_race_to_link_the_same_pair_is_a_conflict(
    container, connection, cases, monkeypatch
):
    _race(monkeypatch, container, connection, cases)

    with pytest.raises(Conflict):
        service.associate(container, connection.id, "TEST-5", RecordReference("Case", cases[0]))

    with container.session() as session:
        assert len(session.scalars(select(Association)).all()) == 1


def test_losing_a_race_with_upsert_updates_the_winners_flags(
    container, connection, cases, monkeypatch
):
    _race(monkeypatch, container, connection, cases)

    result = service.associate(
        container,
        connection.id,
        "TEST-5",
        RecordReference("Case", cases[0], FlagChoice(auto_pull=True)),
        allow_upsert=True,
    )

    assert result.created is False
    assert result.association.auto_pull is True


def test_update_flags_needs_at_least_one_flag(container, connection, cases):
    created = service.associate(
        container, connection.id, "TEST-5", RecordReference("Case", cases[0])
    )

    with pytest.raises(ValidationFailed):
        service.update_flags(container, connection.id, created.association.id, FlagChoice())


def test_unlink_of_an_absent_pair_is_not_found(container, connection, cases):
    with pytest.raises(NotFound):
        service.unlink(container, connection.id, "TEST-5", "Case", cases[0])


def test_malformed_record_id_in_a_lookup_is_a_validation_error(container, connection):
    with pytest.raises(ValidationFailed):
        service.list_for_record(container, connection.id, "Case", "not-an-id")
