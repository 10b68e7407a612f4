"""JQL quoting: values can never escape their literal, and Jira's grammar reads them back intact."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from forcebridge.errors import InvalidInput
from forcebridge.jira.jql import format_jql, literal, quote
from forcebridge.sandbox.jira import jql as sandbox_jql


def test_quote_escapes_double_quotes_and_backslashes() -> None:
    assert quote('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


def test_quote_escapes_line_breaks_and_tabs() -> None:
    assert quote("a\nb\r\tc") == '"a\\nb\\r\\tc"'


def test_quote_escapes_other_control_characters_as_unicode() -> None:
    assert quote("bell\x07") == '"bell\\u0007"'


def test_reserved_words_stay_plain_text() -> None:
    assert format_jql("summary ~ {}", "AND") == 'summary ~ "AND"'


def test_injection_attempt_stays_inside_the_literal() -> None:
    query = format_jql("project = {}", 'X" OR project != "X')
    parsed = sandbox_jql.parse(query)
    assert parsed.where == sandbox_jql.Clause(
        field="project",
        operator="=",
        operand=sandbox_jql.Value('X" OR project != "X', quoted=True),
        position=1,
    )


def test_format_jql_renders_lists_numbers_and_dates() -> None:
    query = format_jql(
        "key IN {} AND priority = {} AND updated >= {} AND created >= {}",
        ["PROJ-1", "PROJ-2"],
        3,
        dt.datetime(2026, 1, 2, 10, 30, 59),
        dt.date(2026, 1, 1),
    )
    assert query == (
        'key IN ("PROJ-1", "PROJ-2") AND priority = 3 '
        'AND updated >= "2026-01-02 10:30" AND created >= "2026-01-01"'
    )


@pytest.mark.parametrize("bad", [True, {"a": 1}, b"bytes", 1.5, []])
def test_values_jql_cannot_express_are_rejected(bad: object) -> None:
    with pytest.raises(InvalidInput):
        literal(bad)


def test_quote_rejects_non_strings() -> None:
    with pytest.raises(InvalidInput):
        quote(5)  # type: ignore[arg-type]


def test_format_specs_are_refused() -> None:
    with pytest.raises(InvalidInput):
        format_jql("summary ~ {:>10}", "x")


@given(st.text())
def test_quoted_strings_parse_back_to_the_same_text(text: str) -> None:
    tokens = sandbox_jql.tokenize(quote(text))
    assert [(token.kind, token.text) for token in tokens[:-1]] == [("string", text)]


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_quoted_lists_parse_back_to_the_same_values(values: list[str]) -> None:
    parsed = sandbox_jql.parse(format_jql("labels IN {}", values))
    assert isinstance(parsed.where, sandbox_jql.Clause)
    operand = parsed.where.operand
    assert isinstance(operand, tuple)
    assert [value.text for value in operand if isinstance(value, sandbox_jql.Value)] == values
