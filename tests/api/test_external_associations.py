"""The SFJC-compatible association routes, driven the way SFJC's example script drives them.

The seed script (shared/seed/authenticate-sfjc-rest-apis.txt) sends
``POST /external/api/association`` with ``Authorization: JWT <token>``, a key (``TEST-5``) as
``jiraIssueId`` and treats 200/201 as success; these tests follow that flow through a real
token, the Jira and Salesforce sandboxes and the database, then cover the bulk, list, re-flag
and unlink routes.
"""

from __future__ import annotations

from typing import Any

from associations.builders import (
    auth_headers,
    create_associable_connection,
    create_cases,
    issue_token,
)
from forcebridge.associations import service

ASSOCIATION = "/external/api/association"
ASSOCIATIONS = "/external/api/associations"


def _associate(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post(ASSOCIATION, headers=headers, json=body)


# -- POST /association -----------------------------------------------------------------------


def test_seed_script_call_with_issue_key_answers_201_with_numeric_id_and_current_key(
    client, caller, case_ids, test5
):
    response = client.post(
        ASSOCIATION,
        headers={
            **caller.headers,
            "Accept": "application/json",
            "Content-Type": "application/json",
        },
        json={
            "jiraIssueId": "TEST-5",
            "son": "Case",
            "soid": case_ids[0],
            "viewOnly": False,
            "autoPush": False,
            "autoPull": False,
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Association created successfully"
    data = body["data"]
    assert data["jiraIssueId"] == test5["id"]
    assert data["jiraIssueId"].isdigit()
    assert data["jiraIssueKey"] == "TEST-5"
    assert data["jiraProjectId"] == test5["fields"]["project"]["id"]
    assert (data["son"], data["soid"]) == ("Case", case_ids[0])
    assert (data["viewOnly"], data["autoPush"], data["autoPull"]) == (False, False, False)
    assert data["id"]


def test_numeric_issue_id_and_15_character_record_id_are_stored_as_18(
    client, caller, case_ids, test5
):
    fifteen = case_ids[1][:15]

    response = _associate(client, caller.headers, jiraIssueId=test5["id"], son="Case", soid=fifteen)

    assert response.status_code == 201
    assert response.json()["data"]["soid"] == case_ids[1]
    assert response.json()["data"]["jiraIssueKey"] == "TEST-5"
    listed = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    assert [item["soid"] for item in listed.json()["data"]] == [case_ids[1]]


def test_issue_id_may_be_sent_as_a_json_number(client, caller, case_ids, test5):
    response = _associate(
        client, caller.headers, jiraIssueId=int(test5["id"]), son="Case", soid=case_ids[0]
    )

    assert response.status_code == 201
    assert response.json()["data"]["jiraIssueId"] == test5["id"]


def test_object_name_is_matched_case_insensitively_and_shown_as_mapped(client, caller, case_ids):
    response = _associate(
        client, caller.headers, jiraIssueId="TEST-5", son="case", soid=case_ids[0]
    )

    assert response.status_code == 201
    assert response.json()["data"]["son"] == "Case"


def test_second_association_of_same_pair_is_409_then_allow_upsert_updates_flags(
    client, caller, case_ids
):
    first = _associate(client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=case_ids[0])
    again = _associate(
        client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=case_ids[0][:15]
    )
    upserted = client.post(
        ASSOCIATION,
        params={"allowUpsert": "true"},
        headers=caller.headers,
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0], "autoPush": True},
    )

    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["success"] is False
    assert "already associated" in again.json()["message"]
    assert upserted.status_code == 200
    assert upserted.json()["message"] == "Association updated successfully"
    assert upserted.json()["data"]["id"] == first.json()["data"]["id"]
    assert upserted.json()["data"]["autoPush"] is True
    # Flags not given in the upsert keep their values.
    assert upserted.json()["data"]["viewOnly"] is False


def test_absent_flags_take_the_connection_defaults(client, container, sandbox, case_ids):
    connection = create_associable_connection(
        container,
        sandbox,
        name="Defaults",
        settings={"default_view_only": True, "default_auto_push": False, "default_auto_pull": True},
    )
    headers = auth_headers(issue_token(container, connection.id))

    response = _associate(
        client, headers, jiraIssueId="TEST-2", son="Case", soid=case_ids[0], autoPush=True
    )

    data = response.json()["data"]
    assert (data["viewOnly"], data["autoPush"], data["autoPull"]) == (True, True, True)


def test_unknown_issue_is_404_naming_it(client, caller, case_ids):
    response = _associate(
        client, caller.headers, jiraIssueId="TEST-999", son="Case", soid=case_ids[0]
    )

    assert response.status_code == 404
    assert "TEST-999" in response.json()["message"]


def test_issue_of_a_project_not_bound_to_the_connection_is_422_naming_the_project(
    client, container, sandbox, case_ids
):
    connection = create_associable_connection(container, sandbox, name="Unbound", bind_projects=())
    headers = auth_headers(issue_token(container, connection.id))

    response = _associate(client, headers, jiraIssueId="TEST-1", son="Case", soid=case_ids[0])

    assert response.status_code == 422
    assert "TEST" in response.json()["message"]
    assert "not bound" in response.json()["message"]


def test_unmapped_object_is_422_naming_the_mapped_objects(client, caller, case_ids):
    response = _associate(
        client, caller.headers, jiraIssueId="TEST-1", son="Contact", soid="003000000000001"
    )

    assert response.status_code == 422
    message = response.json()["message"]
    assert "Contact" in message
    assert "Account, Case, Opportunity" in message


def test_object_mapped_for_another_issue_type_only_is_422(client, container, sandbox, test5):
    # TEST-5 is a Task (10001); Lead is mapped for Stories (10003) only.
    connection = create_associable_connection(
        container,
        sandbox,
        name="Typed",
        objects=("Case",),
        objects_by_issue_type={"10003": ["Lead"]},
    )
    headers = auth_headers(issue_token(container, connection.id))

    response = _associate(client, headers, jiraIssueId="TEST-5", son="Lead", soid="00Q000000000001")

    assert test5["fields"]["issuetype"]["id"] == "10001"
    assert response.status_code == 422
    assert "mapped objects: Case." in response.json()["message"]


def test_missing_record_is_404(client, caller, case_ids):
    absent = "500" + "0" * 11 + "9"  # a well-formed Case id no record has

    response = _associate(client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=absent)

    assert response.status_code == 404
    assert "Case" in response.json()["message"]


def test_record_id_of_another_object_is_422(client, caller, account_ids):
    response = _associate(
        client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=account_ids[0]
    )

    assert response.status_code == 422
    assert "starts with 001" in response.json()["message"]


def test_malformed_bodies_are_422_never_500(client, caller, case_ids):
    valid = {"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]}
    bodies = [
        {**valid, "unexpected": 1},
        {**valid, "viewOnly": "yes"},
        {**valid, "autoPush": 1},
        {**valid, "soid": 500},
        {**valid, "soid": "not-an-id"},
        {**valid, "soid": case_ids[0][:15] + "Z!"},
        {**valid, "jiraIssueId": "../../rest/api/3/myself"},
        {**valid, "jiraIssueId": None},
        {**valid, "son": "Case WHERE Id != null"},
        {"son": "Case", "soid": case_ids[0]},
        [valid],
        "TEST-5",
    ]
    for body in bodies:
        response = client.post(ASSOCIATION, headers=caller.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["success"] is False
    not_json = client.post(
        ASSOCIATION,
        headers={**caller.headers, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert not_json.status_code == 422


def test_18_character_id_with_a_contradicting_suffix_is_422(client, caller, case_ids):
    # The suffix encodes the case of the first 15 characters; "AAA" says none is upper case.
    forged = case_ids[0][:15] + "AAA" if case_ids[0][15:] != "AAA" else case_ids[0][:15] + "BAA"

    response = _associate(client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=forged)

    assert response.status_code in (404, 422)
    assert response.status_code != 500


# -- POST /associations ----------------------------------------------------------------------


def _bulk(client, headers, issue, records, replace=None):
    params = {"jiraIssueId": issue}
    if replace is not None:
        params["replace"] = "true" if replace else "false"
    return client.post(ASSOCIATIONS, params=params, headers=headers, json={"associations": records})


def test_bulk_associates_records_and_counts_them(client, caller, case_ids, account_ids):
    response = _bulk(
        client,
        caller.headers,
        "TEST-5",
        [
            {"son": "Case", "soid": case_ids[0], "autoPush": True},
            {"son": "Account", "soid": account_ids[0][:15], "viewOnly": True},
        ],
    )

    assert response.status_code == 201
    assert response.json() == {
        "data": {
            "totalAssociations": 2,
            "created": 2,
            "removed": 0,
            "jiraIssueId": response.json()["data"]["jiraIssueId"],
            "jiraIssueKey": "TEST-5",
        },
        "message": "Associations created successfully",
        "success": True,
    }
    listed = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    by_object = {item["son"]: item for item in listed.json()["data"]}
    assert by_object["Account"]["soid"] == account_ids[0]
    assert by_object["Account"]["viewOnly"] is True
    assert by_object["Case"]["autoPush"] is True


def test_bulk_without_replace_keeps_earlier_associations_and_adds_no_duplicates(
    client, caller, case_ids
):
    _bulk(client, caller.headers, "TEST-5", [{"son": "Case", "soid": case_ids[0]}])

    response = _bulk(
        client,
        caller.headers,
        "TEST-5",
        [{"son": "Case", "soid": case_ids[0]}, {"son": "Case", "soid": case_ids[1]}],
        replace=False,
    )

    assert response.status_code == 201
    assert response.json()["data"]["totalAssociations"] == 2
    assert response.json()["data"]["created"] == 1
    listed = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    assert sorted(item["soid"] for item in listed.json()["data"]) == sorted(case_ids[:2])


def test_bulk_of_records_all_already_linked_answers_200(client, caller, case_ids):
    records = [{"son": "Case", "soid": case_ids[0]}]
    _bulk(client, caller.headers, "TEST-5", records)

    response = _bulk(client, caller.headers, "TEST-5", records)

    assert response.status_code == 200
    assert response.json()["data"]["totalAssociations"] == 1


def test_bulk_with_replace_removes_the_issues_earlier_associations_first(client, caller, case_ids):
    _bulk(client, caller.headers, "TEST-5", [{"son": "Case", "soid": case_ids[0]}])
    _bulk(client, caller.headers, "TEST-4", [{"son": "Case", "soid": case_ids[0]}])

    response = _bulk(
        client, caller.headers, "TEST-5", [{"son": "Case", "soid": case_ids[1]}], replace=True
    )

    assert response.status_code == 201
    assert response.json()["data"]["totalAssociations"] == 1
    assert response.json()["data"]["removed"] == 1
    test5 = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    assert [item["soid"] for item in test5.json()["data"]] == [case_ids[1]]
    # Other issues' associations are not touched.
    test4 = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-4"}, headers=caller.headers)
    assert [item["soid"] for item in test4.json()["data"]] == [case_ids[0]]


def test_bulk_with_the_same_record_twice_is_422_and_changes_nothing(client, caller, case_ids):
    response = _bulk(
        client,
        caller.headers,
        "TEST-5",
        [{"son": "Case", "soid": case_ids[0]}, {"son": "Case", "soid": case_ids[0][:15]}],
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "associations.1.soid"
    listed = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    assert listed.json()["data"] == []


def test_bulk_with_one_missing_record_associates_nothing(client, caller, case_ids):
    absent = "500" + "0" * 11 + "9"

    response = _bulk(
        client,
        caller.headers,
        "TEST-5",
        [{"son": "Case", "soid": case_ids[0]}, {"son": "Case", "soid": absent}],
    )

    assert response.status_code == 404
    assert absent[:15] in response.json()["message"]
    listed = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    assert listed.json()["data"] == []


def test_bulk_of_more_than_1000_records_is_413(client, caller):
    records = [{"son": "Case", "soid": f"500{index:012d}"} for index in range(1001)]

    response = _bulk(client, caller.headers, "TEST-5", records)

    assert response.status_code == 413
    assert "1000" in response.json()["message"]


def test_an_issue_holds_at_most_1000_associations(client, container, caller, case_ids):
    fresh = create_cases(container, caller.connection, 3)
    _bulk(client, caller.headers, "TEST-5", [{"son": "Case", "soid": fresh[0]}])
    _bulk(client, caller.headers, "TEST-5", [{"son": "Case", "soid": fresh[1]}])

    original = service.MAX_ASSOCIATIONS_PER_ISSUE
    service.MAX_ASSOCIATIONS_PER_ISSUE = 2  # the same rule, at a size a test can reach
    try:
        over = _bulk(client, caller.headers, "TEST-5", [{"son": "Case", "soid": fresh[2]}])
        single = _associate(client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=fresh[2])
    finally:
        service.MAX_ASSOCIATIONS_PER_ISSUE = original

    assert over.status_code == 422
    assert "at most 2" in over.json()["message"]
    assert single.status_code == 422


def test_bulk_needs_the_issue_in_the_query_string(client, caller, case_ids):
    response = client.post(
        ASSOCIATIONS,
        headers=caller.headers,
        json={"associations": [{"son": "Case", "soid": case_ids[0]}]},
    )

    assert response.status_code == 422


# -- GET /associations -----------------------------------------------------------------------


def test_list_by_issue_has_sfjc_shape_and_list_by_record_finds_the_issues(client, caller, case_ids):
    for issue in ("TEST-1", "TEST-2"):
        _associate(client, caller.headers, jiraIssueId=issue, son="Case", soid=case_ids[0])

    by_issue = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-1"}, headers=caller.headers)
    by_record = client.get(
        ASSOCIATIONS, params={"son": "Case", "soid": case_ids[0][:15]}, headers=caller.headers
    )

    assert by_issue.status_code == 200
    assert by_issue.json()["message"] == "Associations fetched successfully"
    (item,) = by_issue.json()["data"]
    assert {"jiraIssueId", "son", "soid", "viewOnly", "autoPush", "autoPull"} <= set(item)
    assert sorted(entry["jiraIssueKey"] for entry in by_record.json()["data"]) == [
        "TEST-1",
        "TEST-2",
    ]
    assert by_record.headers["X-Total-Count"] == "2"


def test_list_pages_with_limit_and_offset(client, caller, case_ids):
    records = [{"son": "Case", "soid": soid} for soid in case_ids[:3]]
    _bulk(client, caller.headers, "TEST-3", records)

    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = client.get(
            ASSOCIATIONS,
            params={"jiraIssueId": "TEST-3", "limit": 2, "offset": offset},
            headers=caller.headers,
        ).json()
        seen.extend(item["soid"] for item in page["data"])
        assert page["paging"]["total"] == 3
        offset = page["paging"]["nextOffset"]
        pages += 1

    assert pages == 2
    assert sorted(seen) == sorted(case_ids[:3])


def test_list_of_an_issue_without_associations_is_empty(client, caller):
    response = client.get(ASSOCIATIONS, params={"jiraIssueId": "10999"}, headers=caller.headers)

    assert response.status_code == 200
    assert response.json()["data"] == []
    assert response.json()["paging"]["nextOffset"] is None


def test_list_needs_an_issue_or_a_record(client, caller, case_ids):
    neither = client.get(ASSOCIATIONS, headers=caller.headers)
    half = client.get(ASSOCIATIONS, params={"son": "Case"}, headers=caller.headers)
    both = client.get(
        ASSOCIATIONS,
        params={"jiraIssueId": "TEST-1", "son": "Case", "soid": case_ids[0]},
        headers=caller.headers,
    )

    assert (neither.status_code, half.status_code, both.status_code) == (422, 422, 422)


def test_oversized_page_size_is_reduced_to_the_maximum(client, caller):
    response = client.get(
        ASSOCIATIONS, params={"jiraIssueId": "TEST-1", "limit": 50_000}, headers=caller.headers
    )

    assert response.status_code == 200
    assert response.json()["paging"]["limit"] == 1000


# -- PATCH and DELETE ------------------------------------------------------------------------


def test_patch_changes_only_the_flags_given(client, caller, case_ids):
    created = _associate(
        client, caller.headers, jiraIssueId="TEST-5", son="Case", soid=case_ids[0], viewOnly=True
    ).json()["data"]

    response = client.patch(
        f"{ASSOCIATIONS}/{created['id']}", headers=caller.headers, json={"autoPull": True}
    )
    empty = client.patch(f"{ASSOCIATIONS}/{created['id']}", headers=caller.headers, json={})
    read_only = client.patch(
        f"{ASSOCIATIONS}/{created['id']}", headers=caller.headers, json={"soid": case_ids[1]}
    )

    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["viewOnly"], data["autoPush"], data["autoPull"]) == (True, False, True)
    assert empty.status_code == 422
    assert read_only.status_code == 422


def test_unlink_by_issue_and_record_then_by_id(client, caller, case_ids):
    _bulk(
        client,
        caller.headers,
        "TEST-5",
        [{"son": "Case", "soid": case_ids[0]}, {"son": "Case", "soid": case_ids[1]}],
    )
    listed = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    second = next(item for item in listed.json()["data"] if item["soid"] == case_ids[1])

    by_triple = client.delete(
        ASSOCIATION,
        params={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0][:15]},
        headers=caller.headers,
    )
    by_id = client.delete(f"{ASSOCIATIONS}/{second['id']}", headers=caller.headers)
    again = client.delete(f"{ASSOCIATIONS}/{second['id']}", headers=caller.headers)
    triple_again = client.delete(
        ASSOCIATION,
        params={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
        headers=caller.headers,
    )

    assert by_triple.status_code == 200
    assert by_triple.json()["message"] == "Association deleted successfully"
    assert by_triple.json()["data"]["soid"] == case_ids[0]
    assert by_id.status_code == 200
    assert (again.status_code, triple_again.status_code) == (404, 404)
    remaining = client.get(ASSOCIATIONS, params={"jiraIssueId": "TEST-5"}, headers=caller.headers)
    assert remaining.json()["data"] == []


def test_misspelt_query_flag_is_422_rather_than_silently_ignored(client, caller, case_ids):
    response = client.post(
        ASSOCIATION,
        params={"allowupsert": "true"},
        headers=caller.headers,
        json={"jiraIssueId": "TEST-5", "son": "Case", "soid": case_ids[0]},
    )

    assert response.status_code == 422
    assert "'allowupsert'" in response.json()["message"]
    assert "allowUpsert" in response.json()["message"]
