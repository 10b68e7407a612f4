"""The JQL tokenizer and parser (pure), including quoting round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.sandbox.jira.jql import (
    And,
    Clause,
    EmptyValue,
    FunctionCall,
    JqlError,
    Not,
    Or,
    SortKey,
    Value,
    parse,
    quote,
    tokenize,
)


def test_and_binds_tighter_than_or() -> None:
    query = parse("project = TEST OR status = Done AND labels = x")
    assert isinstance(query.where, Or)
    assert isinstance(query.where.items[1], And)


def test_parentheses_and_not_group_clauses() -> None:
    query = parse("NOT (project = TEST OR project = SUP) AND !labels = x")
    assert isinstance(query.where, And)
    assert isinstance(query.where.items[0], Not) and isinstance(query.where.items[0].item, Or)
    assert isinstance(query.where.items[1], Not)


def test_in_and_not_in_lists() -> None:
    where = parse('key IN (TEST-1, "TEST-2") AND status NOT IN ("To Do", Done)').where
    assert isinstance(where, And)
    first, second = where.items
    assert first == Clause("key", "in", (Value("TEST-1"), Value("TEST-2", quoted=True)), 1)
    assert isinstance(second, Clause) and second.operator == "not in"


def test_is_empty_and_is_not_null() -> None:
    assert parse("assignee IS EMPTY").where == Clause("assignee", "is", EmptyValue(), 1)
    assert parse("labels is not null").where.operator == "is not"


def test_relative_dates_and_custom_field_references_are_bare_words() -> None:
    where = parse("updated >= -5m AND cf[10010] > 3").where
    assert where.items[0] == Clause("updated", ">=", Value("-5m"), 1)
    assert where.items[1].field == "cf[10010]"


def test_quoted_field_names_and_functions() -> None:
    where = parse('"Story Points" <= 5 AND assignee = currentUser()').where
    assert where.items[0].field == "Story Points"
    assert where.items[1].operand == FunctionCall("currentUser")


def test_order_by_with_directions() -> None:
    query = parse("project = TEST ORDER BY updated DESC, key asc")
    assert query.order_by == (SortKey("updated", True), SortKey("key", False))
    assert parse("order by created").where is None


def test_escapes_in_quoted_strings() -> None:
    assert parse(r'summary ~ "say \"hi\" \\ now\n"').where.operand == Value(
        'say "hi" \\ now\n', quoted=True
    )
    assert parse(r"summary ~ 'it\'s'").where.operand.text == "it's"
    assert parse(r'summary ~ "\u00e9t\u00e9"').where.operand.text == "été"


@pytest.mark.parametrize(
    ("jql", "fragment"),
    [
        ("project =", "Expecting either a value"),
        ("project TEST", "Expecting operator"),
        ("(project = TEST", "Expecting ')'"),
        ('summary ~ "open', "not terminated"),
        (r'summary ~ "bad \q"', "illegal JQL escape"),
        ("project = TEST ORDER updated", "Expecting 'by'"),
        ("project = and", "reserved JQL word"),
        ("project = TEST extra", "Expecting 'AND', 'OR' or 'ORDER BY'"),
        ("status in Done", "Expecting '('"),
    ],
)
def test_syntax_errors_name_the_problem(jql: str, fragment: str) -> None:
    with pytest.raises(JqlError, match=None) as raised:
        parse(jql)
    assert fragment in str(raised.value)


def test_excessive_nesting_is_an_error_not_a_recursion_crash() -> None:
    with pytest.raises(JqlError):
        parse("(" * 5000 + "project = TEST" + ")" * 5000)


@given(st.text())
def test_quote_round_trips_any_string_through_the_tokenizer(value: str) -> None:
    tokens = tokenize(quote(value))
    assert [token.kind for token in tokens] == ["string", "end"]
    assert tokens[0].text == value


@given(st.text(min_size=1))
def test_quoted_values_parse_back_to_the_same_value(value: str) -> None:
    clause = parse(f"summary ~ {quote(value)}").where
    assert clause == Clause("summary", "~", Value(value, quoted=True), 1)
