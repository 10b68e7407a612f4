"""SOQL quoting: escapes per the SOQL reference, typed literals, identifiers and LIKE patterns."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.errors import InvalidInput
from forcebridge.salesforce.soql import format_soql, identifier, like_pattern_content, quote
from forcebridge.sandbox.salesforce import soql as sandbox_soql


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Brien", "'O\\'Brien'"),
        ('say "hi"', "'say \\\"hi\\\"'"),
        ("back\\slash", "'back\\\\slash'"),
        ("a\nb\rc\td\be\ff", "'a\\nb\\rc\\td\\be\\ff'"),
        ("100%_", "'100%_'"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-1.5, "-1.5"),
        (1e-7, "0.0000001"),
        (Decimal("12.50"), "12.50"),
        (dt.date(2026, 1, 31), "2026-01-31"),
        (dt.datetime(2026, 1, 31, 12, 0, 5, 999, tzinfo=dt.UTC), "2026-01-31T12:00:05Z"),
        (
            dt.datetime(2026, 1, 31, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-01-31T12:00:00Z",
        ),
        (["a", "b'c"], "('a', 'b\\'c')"),
    ],
)
def test_quote(value: object, expected: str) -> None:
    assert quote(value) == expected


@pytest.mark.parametrize(
    "bad", [dt.datetime(2026, 1, 1), float("nan"), float("inf"), [], {"a": 1}, b"x", object()]
)
def test_values_soql_cannot_express_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidInput):
        quote(bad)


def test_format_soql_quotes_positional_and_named_values() -> None:
    query = format_soql(
        "SELECT Id FROM Case WHERE Subject = {} AND IsClosed = {closed} AND Id IN {ids}",
        "It's broken",
        closed=False,
        ids=["500A", "500B"],
    )
    assert query == (
        "SELECT Id FROM Case WHERE Subject = 'It\\'s broken' AND IsClosed = false "
        "AND Id IN ('500A', '500B')"
    )


def test_like_placeholders_escape_wildcards_and_leave_quoting_to_the_template() -> None:
    assert format_soql("Name LIKE '{:like}%'", "50%_off's") == "Name LIKE '50\\%\\_off\\'s%'"


def test_identifier_placeholders_accept_api_names_only() -> None:
    assert format_soql(
        "SELECT {:identifier} FROM {:identifier}", ["Id", "Account.Name", "Ticket__c"], "Case"
    ) == ("SELECT Id, Account.Name, Ticket__c FROM Case")
    for bad in ["Id, (SELECT Id FROM Contacts)", "Name--", "", "1Field", "Name FROM User"]:
        with pytest.raises(InvalidInput):
            identifier(bad)


def test_unknown_format_specs_are_refused() -> None:
    with pytest.raises(InvalidInput):
        format_soql("{:raw}", "x")


def unquote_soql_string(literal: str) -> str:
    """Reads a SOQL string literal back per the reference's escape table (test oracle)."""
    assert literal[0] == literal[-1] == "'"
    escapes = {
        "n": "\n",
        "r": "\r",
        "t": "\t",
        "b": "\b",
        "f": "\f",
        '"': '"',
        "'": "'",
        "\\": "\\",
    }
    out, index, body = [], 0, literal[1:-1]
    while index < len(body):
        if body[index] == "\\":
            out.append(escapes[body[index + 1]])
            index += 2
        else:
            assert body[index] != "'", "an unescaped quote would end the literal"
            out.append(body[index])
            index += 1
    return "".join(out)


@given(st.text())
def test_quoted_strings_read_back_to_the_same_text(value: str) -> None:
    assert unquote_soql_string(quote(value)) == value


@given(st.text())
def test_like_content_never_contains_unescaped_wildcards_or_quotes(value: str) -> None:
    content = like_pattern_content(value)
    index = 0
    while index < len(content):
        if content[index] == "\\":
            index += 2
            continue
        assert content[index] not in "%_'\\"
        index += 1


# -- round trips through the sandbox's SOQL parser (an independent implementation) --------------


def where_literals(query: str) -> list[Any]:
    parsed = sandbox_soql.parse(query)
    assert isinstance(parsed.where, sandbox_soql.Comparison)
    return parsed.where.values


@given(st.text())
def test_sandbox_parser_reads_quoted_strings_back(value: str) -> None:
    (literal,) = where_literals(format_soql("SELECT Id FROM Case WHERE Subject = {}", value))
    assert (literal.kind, literal.value) == ("STRING", value)


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_sandbox_parser_reads_in_lists_back(values: list[str]) -> None:
    literals = where_literals(format_soql("SELECT Id FROM Case WHERE Subject IN {}", values))
    assert [literal.value for literal in literals] == values


@given(st.text(), st.text())
def test_sandbox_parser_matches_like_content_literally(value: str, tail: str) -> None:
    query = format_soql("SELECT Id FROM Case WHERE Subject LIKE '{:like}%'", value)
    (literal,) = where_literals(query)
    assert literal.like_pattern is not None
    assert re.fullmatch(literal.like_pattern, value + tail, re.DOTALL)


@given(st.datetimes(timezones=st.just(dt.UTC), min_value=dt.datetime(1900, 1, 1)))
def test_sandbox_parser_reads_datetimes_back_to_the_second(moment: dt.datetime) -> None:
    (literal,) = where_literals(
        format_soql("SELECT Id FROM Case WHERE SystemModstamp > {}", moment)
    )
    assert literal.kind == "DATETIME"
    assert literal.value == moment.replace(microsecond=0)
