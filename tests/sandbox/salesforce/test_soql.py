"""SOQL: the parser on its own, then queries through /query and /queryAll with paging."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.sandbox.salesforce.records import SalesforceError
from forcebridge.sandbox.salesforce.soql import (
    BooleanExpression,
    Comparison,
    FieldPath,
    Query,
    parse,
    quote,
    tokenize,
)

from .conftest import API, create, query


# -- parser --------------------------------------------------------------------------------------
def test_parser_reads_every_clause() -> None:
    parsed = parse(
        "SELECT Id, Account.Name, (SELECT Id FROM CaseComments) FROM Case "
        "WHERE (Status = 'New' OR Priority IN ('High', 'Low')) AND NOT IsClosed = true "
        "ORDER BY CreatedDate DESC NULLS FIRST, Id LIMIT 10 OFFSET 5"
    )

    assert parsed.sobject == "Case"
    assert [item.parts for item in parsed.select if isinstance(item, FieldPath)] == [
        ["Id"],
        ["Account", "Name"],
    ]
    assert isinstance(parsed.select[2], Query) and parsed.select[2].sobject == "CaseComments"
    assert isinstance(parsed.where, BooleanExpression) and parsed.where.operator == "AND"
    assert [(item.path.text, item.descending, item.nulls_last) for item in parsed.order_by] == [
        ("CreatedDate", True, False),
        ("Id", False, False),
    ]
    assert (parsed.limit, parsed.offset) == (10, 5)


def test_keywords_are_case_insensitive() -> None:
    parsed = parse("select id from case where status != 'Closed' order by id desc limit 1")

    assert isinstance(parsed.where, Comparison) and parsed.where.operator == "!="
    assert parsed.order_by[0].descending is True


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT FROM Case",
        "SELECT Id Case",
        "SELECT Id FROM Case WHERE",
        "SELECT Id FROM Case WHERE Status = 'New' AND Priority = 'High' OR Origin = 'Web'",
        "SELECT Id FROM Case WHERE Subject = 'unterminated",
        "SELECT Id FROM Case WHERE Subject = 'bad \\q escape'",
        "SELECT Id FROM Case LIMIT -1",
        "SELECT Id FROM Case ORDER BY",
        "SELECT Id FROM Case GROUP BY Status",
        "SELECT Id FROM Case WHERE Labels__c INCLUDES (SELECT Id FROM Case)",
        "",
        "SELECT Id FROM Case ; DROP",
    ],
)
def test_malformed_queries_raise_malformed_query(soql: str) -> None:
    with pytest.raises(SalesforceError) as raised:
        parse(soql)

    assert raised.value.error_code == "MALFORMED_QUERY"
    assert raised.value.status == 400


def test_string_escapes_follow_soql() -> None:
    literal = next(
        token for token in tokenize(r"'it\'s a \"quote\" \\ and \n line'") if token.kind == "STRING"
    )

    assert literal.value == 'it\'s a "quote" \\ and \n line'


def test_date_and_datetime_literals_are_typed() -> None:
    kinds = [
        token.kind
        for token in tokenize(
            "2024-01-02 2024-01-02T03:04:05Z 2024-01-02T03:04:05.123+01:00 42 4.5"
        )
    ]

    assert kinds == ["DATE", "DATETIME", "DATETIME", "NUMBER", "NUMBER", "EOF"]


@given(st.text())
def test_any_string_survives_quoting_and_parsing(text: str) -> None:
    parsed = parse(f"SELECT Id FROM Case WHERE Subject = {quote(text)}")

    assert isinstance(parsed.where, Comparison)
    assert parsed.where.values[0].value == text


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_quoted_strings_match_themselves_exactly_in_like(text: str) -> None:
    # Quoting a value without wildcards makes LIKE an exact (case-insensitive) match.
    plain = text.replace("%", "").replace("_", "")
    parsed = parse(f"SELECT Id FROM Case WHERE Subject LIKE {quote(plain)}")

    assert isinstance(parsed.where, Comparison)
    pattern = parsed.where.values[0].like_pattern
    assert pattern is not None
    assert re.fullmatch(f"(?s:{pattern})", plain, re.IGNORECASE)


# -- evaluation through the API ------------------------------------------------------------------
def test_query_filters_orders_and_projects_relationships(client: TestClient) -> None:
    result = query(
        client,
        "SELECT Subject, Status, Account.Name FROM Case "
        "WHERE Status IN ('New', 'Working') AND Account.Name = 'acme corporation' ORDER BY Status",
    )

    assert result["done"] is True
    assert [
        (row["Subject"], row["Status"], row["Account"]["Name"]) for row in result["records"]
    ] == [
        ("Login page returns 500", "New", "Acme Corporation"),
        ("Invoice totals are rounded wrongly", "Working", "Acme Corporation"),
    ]
    assert result["records"][0]["Account"]["attributes"]["type"] == "Account"


def test_picklists_sort_in_their_defined_order(client: TestClient) -> None:
    rows = query(client, "SELECT Priority FROM Case ORDER BY Priority, Subject")["records"]

    assert [row["Priority"] for row in rows] == ["High", "High", "Medium", "Medium", "Low", "Low"]


def test_child_subquery_nests_records_or_null(client: TestClient) -> None:
    rows = query(
        client,
        "SELECT Subject, (SELECT CommentBody FROM CaseComments ORDER BY CreatedDate) FROM Case "
        "WHERE Subject LIKE 'Login%' OR Subject LIKE '%dark mode'",
    )["records"]

    by_subject = {row["Subject"]: row["CaseComments"] for row in rows}
    assert by_subject["Feature request: dark mode"] is None
    comments = by_subject["Login page returns 500"]
    assert comments["totalSize"] == 2 and comments["done"] is True
    assert (
        comments["records"][0]["CommentBody"]
        == "Customer confirmed the issue on Chrome and Firefox."
    )


def test_count_and_aggregates(client: TestClient) -> None:
    counted = query(client, "SELECT COUNT() FROM Case WHERE IsClosed = false")
    aggregated = query(
        client, "SELECT COUNT(Id) total, MAX(Amount), MIN(CloseDate) FROM Opportunity"
    )

    assert counted == {"totalSize": 5, "done": True, "records": []}
    row = aggregated["records"][0]
    assert row["attributes"] == {"type": "AggregateResult"}
    assert row["total"] == 3 and row["expr0"] == 120000.0


def test_text_comparisons_ignore_case_and_not_equal_includes_nulls(client: TestClient) -> None:
    create(client, "Case", Subject="No origin")

    assert query(client, "SELECT COUNT() FROM Case WHERE Origin != 'Web'")["totalSize"] == 5
    assert query(client, "SELECT COUNT() FROM Case WHERE Origin = null")["totalSize"] == 1
    assert query(client, "SELECT COUNT() FROM Case WHERE subject = 'NO ORIGIN'")["totalSize"] == 1


def test_datetime_literals_and_date_functions(client: TestClient) -> None:
    assert query(client, "SELECT COUNT() FROM Case WHERE CreatedDate = TODAY")["totalSize"] == 6
    assert (
        query(client, "SELECT COUNT() FROM Case WHERE CreatedDate >= LAST_N_DAYS:7")["totalSize"]
        == 6
    )
    assert query(client, "SELECT COUNT() FROM Case WHERE CreatedDate < YESTERDAY")["totalSize"] == 0
    assert (
        query(client, "SELECT COUNT() FROM Case WHERE SystemModstamp > 2000-01-01T00:00:00Z")[
            "totalSize"
        ]
        == 6
    )
    assert (
        query(client, "SELECT COUNT() FROM Opportunity WHERE CloseDate > TODAY")["totalSize"] == 2
    )


def test_ids_compare_in_15_or_18_characters(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Find me")

    for form in (case_id, case_id[:15], case_id.lower()):
        assert (
            query(client, f"SELECT Subject FROM Case WHERE Id = '{form}'")["records"][0]["Subject"]
            == "Find me"
        )


def test_multipicklist_includes_and_excludes(client: TestClient) -> None:
    assert (
        query(client, "SELECT COUNT() FROM Jira_Issue__c WHERE Labels__c INCLUDES ('customer')")[
            "totalSize"
        ]
        == 1
    )
    assert (
        query(
            client,
            "SELECT COUNT() FROM Jira_Issue__c WHERE Labels__c EXCLUDES ('backend;customer')",
        )["totalSize"]
        == 0
    )


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Nope FROM Case", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Nope.Name FROM Case", "INVALID_FIELD"),
        ("SELECT Id FROM Case WHERE Description = 'x'", "INVALID_FIELD"),
        ("SELECT Id FROM Case ORDER BY Description", "INVALID_FIELD"),
        ("SELECT Id FROM Case WHERE CreatedDate > 2024-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Case WHERE Subject = 5", "INVALID_FIELD"),
        ("SELECT Id FROM Case WHERE IsClosed = 'true'", "INVALID_FIELD"),
        ("SELECT Id FROM Case WHERE Id = 'hello'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT Id, (SELECT Id FROM Nopes) FROM Case", "INVALID_TYPE"),
        ("SELECT Id, Id FROM Case", "MALFORMED_QUERY"),
        ("SELEKT Id FROM Case", "MALFORMED_QUERY"),
    ],
)
def test_query_errors_have_salesforce_codes(client: TestClient, soql: str, code: str) -> None:
    response = client.get(f"{API}/query", params={"q": soql})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


def test_unknown_column_error_points_at_the_column(client: TestClient) -> None:
    message = client.get(f"{API}/query", params={"q": "SELECT Id, Nope FROM Case"}).json()[0][
        "message"
    ]

    assert "ERROR at Row:1:Column:12" in message
    assert "No such column 'Nope' on entity 'Case'" in message


def test_paging_follows_next_records_url_in_batches(client: TestClient) -> None:
    body = {
        "allOrNone": True,
        "records": [{"attributes": {"type": "Account"}, "Name": f"Bulk {n}"} for n in range(200)],
    }
    for _ in range(2):
        assert client.post(f"{API}/composite/sobjects", json=body).status_code == 200

    first = query(
        client, "SELECT Id FROM Account ORDER BY Name", **{"Sforce-Query-Options": "batchSize=250"}
    )

    assert first["totalSize"] == 403 and first["done"] is False and len(first["records"]) == 250
    assert first["nextRecordsUrl"].startswith(f"{API}/query/01g")
    assert first["nextRecordsUrl"].endswith("-250")
    second = client.get(first["nextRecordsUrl"]).json()
    assert (
        second["done"] is True and len(second["records"]) == 153 and "nextRecordsUrl" not in second
    )
    ids = [row["Id"] for row in first["records"] + second["records"]]
    assert len(set(ids)) == 403


def test_batch_size_is_clamped_to_at_least_200(client: TestClient) -> None:
    body = {"records": [{"attributes": {"type": "Account"}, "Name": f"N{n}"} for n in range(200)]}
    client.post(f"{API}/composite/sobjects", json=body)

    first = query(client, "SELECT Id FROM Account", **{"Sforce-Query-Options": "batchSize=10"})

    assert len(first["records"]) == 200


def test_an_unknown_query_locator_is_invalid(client: TestClient) -> None:
    response = client.get(f"{API}/query/01gAAAAAAAAAAAAAAA-2000")

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT SUM(Subject) FROM Case",
        "SELECT AVG(IsClosed) FROM Case",
        "SELECT MAX(Description) FROM Case",
    ],
)
def test_aggregates_refuse_fields_of_the_wrong_type(client: TestClient, soql: str) -> None:
    response = client.get(f"{API}/query", params={"q": soql})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_semi_join_finds_the_files_linked_to_a_case(client: TestClient) -> None:
    case_id = create(client, "Case", Subject="Has files")
    for name in ("a.txt", "b.txt"):
        create(
            client,
            "ContentVersion",
            PathOnClient=name,
            VersionData="aGVsbG8=",
            FirstPublishLocationId=case_id,
        )
    create(client, "ContentVersion", PathOnClient="elsewhere.txt", VersionData="aGVsbG8=")

    links_of_case = (
        f"SELECT ContentDocumentId FROM ContentDocumentLink WHERE LinkedEntityId = '{case_id[:15]}'"
    )
    rows = query(
        client,
        "SELECT Title FROM ContentVersion WHERE IsLatest = true AND ContentDocumentId IN "
        f"({links_of_case}) ORDER BY Title",
    )["records"]

    assert [row["Title"] for row in rows] == ["a", "b"]


def test_anti_join_excludes_parents_with_children(client: TestClient) -> None:
    result = query(
        client,
        "SELECT Subject FROM Case WHERE Id NOT IN (SELECT ParentId FROM CaseComment) "
        "AND Status = 'Closed'",
    )

    assert [row["Subject"] for row in result["records"]] == ["TPS report cover sheet missing"]


@pytest.mark.parametrize(
    "soql",
    [
        "SELECT Id FROM Case WHERE Subject IN (SELECT Id FROM Account)",
        "SELECT Id FROM Case WHERE AccountId IN (SELECT Name FROM Account)",
        "SELECT Id FROM Case WHERE AccountId IN (SELECT Id, Name FROM Account)",
    ],
)
def test_semi_joins_need_id_fields_on_both_sides(client: TestClient, soql: str) -> None:
    response = client.get(f"{API}/query", params={"q": soql})

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] in {"INVALID_FIELD", "MALFORMED_QUERY"}
