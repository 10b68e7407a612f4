"""ADF ↔ Salesforce rich-text HTML: faithful for what both editors share, valid, escaped."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from forcebridge.jira.adf import adf_to_text, text_to_adf
from forcebridge.sync.rich_text import adf_to_html, html_to_adf, html_to_text

from .adf_schema import assert_valid_adf


def text(value: str, *marks: dict) -> dict:
    node: dict = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def paragraph(*content: dict) -> dict:
    return {"type": "paragraph", "content": list(content)}


def doc(*blocks: dict) -> dict:
    return {"version": 1, "type": "doc", "content": list(blocks)}


STRONG = {"type": "strong"}
EM = {"type": "em"}
CODE = {"type": "code"}


def link(href: str) -> dict:
    return {"type": "link", "attrs": {"href": href}}


# ---- HTML → ADF ---------------------------------------------------------------------------


def test_html_paragraphs_and_line_breaks_become_paragraphs_and_hard_breaks() -> None:
    document = html_to_adf("<p>First line<br>second line</p><p>Next paragraph</p>")

    assert document == doc(
        paragraph(text("First line"), {"type": "hardBreak"}, text("second line")),
        paragraph(text("Next paragraph")),
    )


def test_html_formatting_becomes_marks_with_nesting_preserved() -> None:
    document = html_to_adf("<p><b>bold <i>both</i></b> <u>under</u> <s>gone</s></p>")

    assert document["content"][0]["content"] == [
        text("bold ", STRONG),
        text("both", STRONG, EM),
        text(" "),
        text("under", {"type": "underline"}),
        text(" "),
        text("gone", {"type": "strike"}),
    ]


def test_html_links_keep_their_target_and_unsafe_schemes_are_dropped() -> None:
    document = html_to_adf(
        '<p><a href="https://example.com/a?b=1&amp;c=2">site</a>'
        ' <a href="javascript:alert(1)">trap</a></p>'
    )

    assert document["content"][0]["content"] == [
        text("site", link("https://example.com/a?b=1&c=2")),
        text(" trap"),
    ]


def test_html_code_inside_bold_keeps_only_the_code_mark_as_the_schema_requires() -> None:
    document = html_to_adf("<p><b>run <code>make test</code></b></p>")

    assert document["content"][0]["content"] == [text("run ", STRONG), text("make test", CODE)]
    assert_valid_adf(document)


def test_html_lists_become_bullet_and_ordered_lists() -> None:
    document = html_to_adf(
        '<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul><ol start="3"><li>third</li></ol>'
    )

    bullet, ordered = document["content"]
    assert bullet["type"] == "bulletList"
    assert [item["content"][0] for item in bullet["content"]] == [
        paragraph(text("one")),
        paragraph(text("two")),
    ]
    assert bullet["content"][1]["content"][1]["type"] == "bulletList"
    assert ordered == {
        "type": "orderedList",
        "attrs": {"order": 3},
        "content": [{"type": "listItem", "content": [paragraph(text("third"))]}],
    }
    assert_valid_adf(document)


def test_html_headings_quotes_rules_and_code_blocks_map_to_their_adf_nodes() -> None:
    document = html_to_adf(
        "<h2>Title</h2><blockquote><p>quoted</p></blockquote><hr><pre>\nline 1\n  line 2</pre>"
    )

    assert document["content"] == [
        {"type": "heading", "attrs": {"level": 2}, "content": [text("Title")]},
        {"type": "blockquote", "content": [paragraph(text("quoted"))]},
        {"type": "rule"},
        {"type": "codeBlock", "content": [text("line 1\n  line 2")]},
    ]


def test_html_heading_inside_a_list_item_becomes_a_paragraph_because_adf_forbids_it_there() -> None:
    document = html_to_adf("<ul><li><h1>big</h1><blockquote>q</blockquote><hr></li></ul>")

    item = document["content"][0]["content"][0]
    assert item["content"] == [paragraph(text("big")), paragraph(text("q"))]
    assert_valid_adf(document)


def test_html_entities_are_decoded_and_whitespace_collapses_like_a_browser() -> None:
    document = html_to_adf("<p>  Tom &amp; Jerry\n   &lt;3 &nbsp;x </p>")

    assert document["content"][0]["content"] == [text("Tom & Jerry <3 \u00a0x")]


def test_html_scripts_and_styles_are_dropped_not_shown() -> None:
    assert html_to_text("<style>p{}</style><p>kept</p><script>alert(1)</script>") == "kept"


def test_html_plain_text_without_tags_becomes_one_paragraph() -> None:
    assert html_to_adf("just text") == doc(paragraph(text("just text")))


def test_html_empty_or_none_gives_an_empty_document() -> None:
    assert html_to_adf("") == doc()
    assert html_to_adf(None) == doc()
    assert html_to_adf("<p><br></p><p> </p>") == doc()


def test_html_broken_markup_still_gives_valid_adf() -> None:
    document = html_to_adf("<p>open <b>bold<li>stray</ul></i><p>next</b>")

    assert_valid_adf(document)
    assert adf_to_text(document).split() == ["open", "bold", "stray", "next"]


# ---- ADF → HTML ---------------------------------------------------------------------------


def test_adf_to_html_renders_marks_links_and_lists() -> None:
    document = doc(
        paragraph(
            text("Hi "),
            text("bold", STRONG),
            text(" and "),
            text("docs", link("https://x.io/?a=1&b=2")),
            {"type": "hardBreak"},
            text("x<y", CODE),
        ),
        {
            "type": "bulletList",
            "content": [{"type": "listItem", "content": [paragraph(text("item"))]}],
        },
        {"type": "heading", "attrs": {"level": 3}, "content": [text("H")]},
    )

    assert adf_to_html(document) == (
        '<p>Hi <strong>bold</strong> and <a href="https://x.io/?a=1&amp;b=2">docs</a><br>'
        "<code>x&lt;y</code></p><ul><li>item</li></ul><h3>H</h3>"
    )


def test_adf_to_html_escapes_markup_in_text_so_jira_content_cannot_inject_html() -> None:
    document = doc(paragraph(text('<img src=x onerror="alert(1)"> & "quotes"')))

    assert adf_to_html(document) == (
        "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; &quot;quotes&quot;</p>"
    )


def test_adf_to_html_drops_javascript_links_but_keeps_their_text() -> None:
    document = doc(paragraph(text("click", link("javascript:alert(1)"))))

    assert adf_to_html(document) == "<p>click</p>"


def test_adf_to_html_merges_text_nodes_split_by_the_editor() -> None:
    split = doc(paragraph(text("ab", STRONG), text("cd", STRONG), text("e")))
    whole = doc(paragraph(text("abcd", STRONG), text("e")))

    assert adf_to_html(split) == adf_to_html(whole) == "<p><strong>abcd</strong>e</p>"


def test_adf_to_html_renders_nodes_salesforce_lacks_as_their_text() -> None:
    document = doc(
        paragraph(
            text("ping "),
            {"type": "mention", "attrs": {"id": "abc", "text": "@Alice"}},
        ),
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [paragraph(text("note"))]},
    )

    assert adf_to_html(document) == "<p>ping @Alice</p><p>note</p>"


def test_adf_to_html_of_a_plain_v2_string_escapes_and_keeps_lines() -> None:
    assert adf_to_html("a < b\nc\n\nd") == "<p>a &lt; b<br>c</p><p>d</p>"
    assert adf_to_html(None) == ""


# ---- properties ---------------------------------------------------------------------------

# Text a person might type: newlines, markup characters, entities, emoji, other scripts.
typed_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\n \t<>&\"';/=#*_`[]()")),
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    ),
    max_size=60,
)


def _words(value: str) -> list[str]:
    return re.sub(r"[ \t\n\r\f]+", " ", value).split()


@settings(max_examples=60, deadline=None)
@given(typed_text)
def test_plain_text_to_adf_is_always_schema_valid(value: str) -> None:
    assert_valid_adf(text_to_adf(value))


@settings(max_examples=60, deadline=None)
@given(typed_text)
def test_text_survives_adf_to_html_and_back_with_a_valid_document(value: str) -> None:
    back = html_to_adf(adf_to_html(text_to_adf(value)))

    assert_valid_adf(back)
    assert _words(adf_to_text(back)) == _words(value)


html_fragment = st.lists(
    st.one_of(
        typed_text,
        st.sampled_from(
            ["<p>", "</p>", "<br>", "<b>", "</b>", "<i>", "</i>", "<code>", "</code>", "<ul>",
             "</ul>", "<ol>", "</ol>", "<li>", "</li>", "<h1>", "</h1>", "<h4>", "<blockquote>",
             "</blockquote>", "<pre>", "</pre>", "<hr>", '<a href="https://x.io">', "</a>",
             '<a href="javascript:x">', "<table><tr><td>", "</td></tr></table>", "<img alt=pic>",
             "&amp;", "&lt;", "&nbsp;", "<script>", "</script>", "<div>", "</div>"]
        ),
    ),
    max_size=25,
).map("".join)  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(html_fragment)
def test_any_html_gives_schema_valid_adf(markup: str) -> None:
    assert_valid_adf(html_to_adf(markup))


@settings(max_examples=40, deadline=None)
@given(html_fragment)
def test_html_to_adf_to_html_is_stable_after_one_pass(markup: str) -> None:
    once = adf_to_html(html_to_adf(markup))

    assert adf_to_html(html_to_adf(once)) == once
