"""Plain text ↔ ADF: exact round trips, schema-valid documents, and readable text from rich ones."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from hypothesis import given
from hypothesis import strategies as st
from tests.vendor_specs import ADF_SCHEMA as ADF_SCHEMA_PATH

from forcebridge.jira.adf import adf_to_text, text_to_adf


@cache
def adf_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(ADF_SCHEMA_PATH.read_text())
    return jsonschema.Draft4Validator(schema)


def assert_valid_adf(document: dict[str, Any]) -> None:
    errors = list(adf_validator().iter_errors(document))
    assert not errors, [error.message for error in errors[:3]]


def paragraph(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def doc(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(blocks)}


def test_blank_lines_separate_paragraphs_and_single_newlines_become_hard_breaks() -> None:
    assert text_to_adf("first line\nsecond line\n\nnext paragraph") == doc(
        paragraph(text("first line"), {"type": "hardBreak"}, text("second line")),
        paragraph(text("next paragraph")),
    )


def test_urls_get_a_link_mark_without_trailing_punctuation() -> None:
    document = text_to_adf("see https://example.com/a?b=1.")
    link = {"type": "link", "attrs": {"href": "https://example.com/a?b=1"}}
    assert document == doc(
        paragraph(text("see "), text("https://example.com/a?b=1", link), text("."))
    )


def test_empty_text_is_one_empty_paragraph_and_never_an_empty_text_node() -> None:
    document = text_to_adf("")
    assert document == doc(paragraph())
    assert_valid_adf(document)
    assert adf_to_text(document) == ""


def test_windows_line_endings_are_normalized() -> None:
    assert adf_to_text(text_to_adf("a\r\nb\r\n\r\nc")) == "a\nb\n\nc"


@given(st.text(alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",))))
def test_text_survives_a_round_trip_exactly(value: str) -> None:
    assert adf_to_text(text_to_adf(value)) == value


@given(st.lists(st.sampled_from(["a", " ", "\n", "\r", "https://x.io/p", "é", '"', "."])))
def test_every_emitted_document_is_valid_adf(pieces: list[str]) -> None:
    assert_valid_adf(text_to_adf("".join(pieces)))


def test_adf_to_text_reads_lists_headings_quotes_and_code() -> None:
    document = doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [text("Steps")]},
        {
            "type": "orderedList",
            "attrs": {"order": 3},
            "content": [
                {"type": "listItem", "content": [paragraph(text("open"))]},
                {
                    "type": "listItem",
                    "content": [
                        paragraph(text("click")),
                        {
                            "type": "bulletList",
                            "content": [
                                {"type": "listItem", "content": [paragraph(text("twice"))]}
                            ],
                        },
                    ],
                },
            ],
        },
        {"type": "blockquote", "content": [paragraph(text("quoted"))]},
        {"type": "codeBlock", "attrs": {"language": "python"}, "content": [text("print(1)")]},
        {"type": "rule"},
    )
    assert_valid_adf(document)
    assert adf_to_text(document) == (
        "Steps\n\n3. open\n4. click\n  - twice\n\n> quoted\n\nprint(1)\n\n---"
    )


def test_adf_to_text_drops_formatting_marks_but_keeps_link_targets() -> None:
    document = doc(
        paragraph(
            text("bold", {"type": "strong"}),
            text(" and "),
            text("docs", {"type": "link", "attrs": {"href": "https://example.com"}}),
        )
    )
    assert_valid_adf(document)
    assert adf_to_text(document) == "bold and docs (https://example.com)"


def test_adf_to_text_reads_mentions_emoji_cards_dates_and_status() -> None:
    document = doc(
        paragraph(
            {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Ann"}},
            text(" "),
            {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
            text(" "),
            {"type": "inlineCard", "attrs": {"url": "https://example.com/x"}},
            text(" "),
            {"type": "date", "attrs": {"timestamp": "1767225600000"}},
            text(" "),
            {"type": "status", "attrs": {"text": "DONE", "color": "green"}},
        )
    )
    assert_valid_adf(document)
    assert adf_to_text(document) == "@Ann 😄 https://example.com/x 2026-01-01 DONE"


def test_adf_to_text_reads_tables_row_by_row() -> None:
    def cell(kind: str, value: str) -> dict[str, Any]:
        return {"type": kind, "content": [paragraph(text(value))]}

    document = doc(
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [cell("tableHeader", "a"), cell("tableHeader", "b")],
                },
                {"type": "tableRow", "content": [cell("tableCell", "1"), cell("tableCell", "2")]},
            ],
        }
    )
    assert_valid_adf(document)
    assert adf_to_text(document) == "a | b\n1 | 2"


def test_v2_strings_and_missing_bodies_are_accepted() -> None:
    assert adf_to_text("plain v2 body") == "plain v2 body"
    assert adf_to_text(None) == ""


def test_unknown_nodes_keep_their_text() -> None:
    document = doc(
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [paragraph(text("note"))]}
    )
    assert adf_to_text(document) == "note"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["type", "content", "text", "attrs", "marks", "order", "timestamp", "url", "x"]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@given(json_values)
def test_adf_to_text_never_crashes_on_malformed_documents(content: Any) -> None:
    assert isinstance(adf_to_text({"type": "doc", "content": content}), str)
