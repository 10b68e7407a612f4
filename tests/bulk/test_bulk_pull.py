"""Bulk pull as a job resource: a SOQL query (or an object and a condition) resolved to the
associations of the records it finds, each pulled into its issue, failures listed per item.

A chunk of up to 200 associations reads its records with one ``WHERE Id IN (...)`` query per
object (fields, comments and files together), then writes each issue as a single pull does.
"""

from __future__ import annotations

import json
import math

import pytest

from associations.builders import auth_headers, issue_token
from forcebridge.bulk.service import CHUNK_SIZE, pull_chunk
from forcebridge.jobs.handlers import BUILTIN_HANDLER_MODULES, HandlerRegistry
from forcebridge.jobs.runner import JobRunner
from forcebridge.jobs.settings import JobSettings
from forcebridge.models import Association
from sync.sync_scenario import SyncScenario


@pytest.fixture
def scenario(container, sandbox) -> SyncScenario:
    return SyncScenario.build(container, sandbox, objects=("Case",))


@pytest.fixture
def headers(container, scenario) -> dict[str, str]:
    return auth_headers(issue_token(container, scenario.connection.id))


@pytest.fixture
def runner(container):
    registry = HandlerRegistry()
    registry.load(BUILTIN_HANDLER_MODULES)
    job_runner = JobRunner(
        container, registry=registry, settings=JobSettings(), worker_id="w", periodic_hooks=[]
    )
    yield job_runner
    job_runner.close()


@pytest.fixture
def linked(scenario: SyncScenario) -> dict[str, str]:
    """Three Cases, each linked to its own issue; only the first two are 'Escalated'."""
    case_ids = scenario.record_ids("Case")[:3]
    for number, (key, case_id) in enumerate(zip(("TEST-1", "TEST-2", "TEST-3"), case_ids)):
        scenario.edit_record_as_user(
            "Case", case_id, {"Subject": f"Escalated {number}" if number < 2 else "Quiet"}
        )
        scenario.associate(key, "Case", case_id)
    return dict(zip(("TEST-1", "TEST-2", "TEST-3"), case_ids))


@pytest.mark.parametrize(
    "body",
    [
        {"soql": "SELECT Id FROM Case WHERE Subject LIKE 'Escalated%'"},
        {"son": "Case", "where": "Subject LIKE 'Escalated%'"},
    ],
    ids=["soql", "son-and-where"],
)
def test_bulk_pull_brings_every_matching_record_into_its_issue(
    client, scenario, linked, headers, runner, body
):
    accepted = client.post("/external/api/jobs/pull", json=body, headers=headers)
    runner.run_due()

    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"]["total"] == 2
    assert scenario.issue("TEST-1")["fields"]["summary"] == "Escalated 0"
    assert scenario.issue("TEST-2")["fields"]["summary"] == "Escalated 1"
    assert scenario.issue("TEST-3")["fields"]["summary"] != "Quiet"
    status = client.get(f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers)
    data = status.json()["data"]
    assert (data["kind"], data["state"], data["done"], data["failed"]) == ("pull", "done", 2, 0)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"soql": "DELETE FROM Case"},
        {"soql": "SELECT Id FROM Case", "son": "Case"},
        {"son": "Case; DROP"},
        {"soql": "SELECT Subject FROM Case"},
    ],
    ids=["empty", "not-select", "both", "bad-object", "no-id"],
)
def test_a_bad_pull_request_is_refused_without_a_job(client, scenario, linked, headers, body):
    response = client.post("/external/api/jobs/pull", json=body, headers=headers)

    assert response.status_code in (400, 422), response.text
    assert response.json()["success"] is False


# -- batching: what a chunk costs -------------------------------------------------------------

BULK_ASSOCIATIONS = 450
SOQL_QUERY = "GET /services/data/v{version}/query"
ISSUE_EDIT = "PUT /rest/api/3/issue/{issueIdOrKey}"
ISSUE_READ = "GET /rest/api/3/issue/{issueIdOrKey}"
TRANSITIONS_READ = "GET /rest/api/3/issue/{issueIdOrKey}/transitions"
FIELDS_READ = "GET /rest/api/3/field"
DESCRIBE = "GET /services/data/v{version}/sobjects/{sobject}/describe"
COLLECTION_UPDATE = "PATCH /services/data/v{version}/composite/sobjects"


def cases_each_on_its_own_issue(scenario: SyncScenario, count: int) -> list[str]:
    """``count`` new Cases ('Bulk <n>'), each linked to a new issue; returns association ids."""
    jira, salesforce = scenario._jira(), scenario._salesforce()
    association_ids = []
    for number in range(count):
        issue = jira.post(
            "/__sandbox/jira/issues",
            json={
                "fields": {
                    "project": {"key": "TEST"},
                    "issuetype": {"id": "10001"},
                    "summary": f"Issue {number}",
                }
            },
        ).json()
        case_id = salesforce.post(
            "/__sandbox/salesforce/records/Case", json={"Subject": f"Bulk {number}"}
        ).json()["id"]
        association_ids.append(scenario.associate(issue["key"], "Case", case_id))
    return association_ids


def test_bulk_pull_of_450_cases_reads_salesforce_once_per_200_records(
    client, scenario, headers, runner
):
    association_ids = cases_each_on_its_own_issue(scenario, BULK_ASSOCIATIONS)
    scenario.clear_logs()

    accepted = client.post(
        "/external/api/jobs/pull",
        json={"soql": "SELECT Id FROM Case WHERE Subject LIKE 'Bulk %'"},
        headers=headers,
    )
    runner.run_due()

    data = client.get(f"/external/api/jobs/{accepted.json()['data']['id']}", headers=headers)
    data = data.json()["data"]
    assert (data["state"], data["done"], data["failed"]) == ("done", BULK_ASSOCIATIONS, 0)
    salesforce = scenario.salesforce_data_calls()
    # one query resolves the SOQL, then one IN read per chunk of 200: nothing per record
    assert salesforce[SOQL_QUERY] == 1 + math.ceil(BULK_ASSOCIATIONS / CHUNK_SIZE)
    assert scenario.writes(salesforce) == 0
    assert {route for route in salesforce if route != SOQL_QUERY} <= {DESCRIBE}
    # Jira has no batch edit: one edit per issue. This first pull also confirms each issue's
    # status (the Case's "New" is the issue's "To Do"): Jira lists no transition into the status
    # an issue already has, so a single pull reads the issue's status then, and so does a bulk one.
    assert scenario.jira_calls() == {
        ISSUE_EDIT: BULK_ASSOCIATIONS,
        TRANSITIONS_READ: BULK_ASSOCIATIONS,
        ISSUE_READ: BULK_ASSOCIATIONS,
        FIELDS_READ: 1,
    }
    with scenario.container.session() as session:
        last = session.get(Association, association_ids[-1])
        key, case_id = last.jira_issue_key, last.salesforce_id
    assert scenario.issue(key)["fields"]["summary"] == scenario.record("Case", case_id)["Subject"]


def test_a_chunk_pulled_again_writes_nothing(container, scenario, linked):
    with scenario.container.session() as session:
        ids = [row.id for row in session.query(Association).order_by(Association.salesforce_id)]
    pull_chunk(container, scenario.connection.id, ids)
    scenario.clear_logs()

    done, failures = pull_chunk(container, scenario.connection.id, ids)

    assert (done, failures) == (3, [])
    assert scenario.jira_calls() == {}
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1}


def test_a_record_missing_from_the_read_fails_only_its_association(container, scenario, linked):
    deleted_case = linked["TEST-2"]
    response = scenario._salesforce().delete(f"/__sandbox/salesforce/records/Case/{deleted_case}")
    assert response.status_code < 300, response.text
    with scenario.container.session() as session:
        rows = session.query(Association).order_by(Association.salesforce_id).all()
        ids = [row.id for row in rows]
        deleted_association = next(row.id for row in rows if row.salesforce_id == deleted_case)
    scenario.clear_logs()

    done, failures = pull_chunk(container, scenario.connection.id, ids)

    assert done == 2
    assert [failure["associationId"] for failure in failures] == [deleted_association]
    assert "record deleted or not visible" in failures[0]["error"]
    assert scenario.issue("TEST-1")["fields"]["summary"] == "Escalated 0"
    assert scenario.issue("TEST-3")["fields"]["summary"] == "Quiet"
    # one read for the chunk (and the object's describe, cached from then on)
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1, DESCRIBE: 1}


def test_two_records_of_one_issue_in_one_chunk_end_with_the_changed_value(container, scenario):
    """The first pull fans its change out to the second record; the second pull must plan on
    that new value (as a fresh read would show), not pull its old one back into Jira."""
    first, second = scenario.record_ids("Case")[:2]
    ids = [scenario.associate("TEST-1", "Case", case_id) for case_id in (first, second)]
    pull_chunk(container, scenario.connection.id, ids)  # both in sync with the issue
    scenario.edit_record_as_user("Case", first, {"Subject": "Changed on the first Case"})
    scenario.clear_logs()

    done, failures = pull_chunk(container, scenario.connection.id, ids)

    assert (done, failures) == (2, [])
    assert scenario.issue("TEST-1")["fields"]["summary"] == "Changed on the first Case"
    assert scenario.record("Case", second)["Subject"] == "Changed on the first Case"
    scenario.sandbox.jira.operator.clear_log()  # the check above read the issue
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1, COLLECTION_UPDATE: 1}


def test_bulk_pull_copies_a_cases_new_comment_with_no_extra_read(container, scenario, linked):
    case_id = linked["TEST-1"]
    with scenario.container.session() as session:
        association_id = session.query(Association).filter_by(salesforce_id=case_id).one().id
    pull_chunk(container, scenario.connection.id, [association_id])
    scenario._salesforce().post(
        "/__sandbox/salesforce/records/CaseComment",
        json={"ParentId": case_id, "CommentBody": "Customer called back", "IsPublished": True},
    )
    scenario.clear_logs()

    done, failures = pull_chunk(container, scenario.connection.id, [association_id])

    assert (done, failures) == (1, [])
    comments = scenario.issue("TEST-1")["fields"]["comment"]["comments"]
    assert any("Customer called back" in json.dumps(comment["body"]) for comment in comments)
    assert scenario.salesforce_data_calls() == {SOQL_QUERY: 1}


def test_a_chunk_of_a_connection_that_allows_no_modification_fails_each_association(
    container, scenario, linked
):
    with scenario.container.session() as session:
        ids = [row.id for row in session.query(Association)]
    scenario.set_connection(allow_modification=False)
    scenario.clear_logs()

    done, failures = pull_chunk(container, scenario.connection.id, ids)

    assert done == 0
    assert sorted(failure["associationId"] for failure in failures) == sorted(ids)
    assert all("allow_modification" in failure["error"] for failure in failures)
    assert scenario.jira_calls() == {} and scenario.salesforce_data_calls() == {}
