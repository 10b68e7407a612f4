"""Atlassian Document Format (ADF) for the emulator: validation and conversion to and from text.

Rich text (issue description, comment body, textarea custom fields) is stored as ADF. REST v3
reads and writes ADF; REST v2 reads and writes plain strings, which we convert here. The
validator is structural (node kinds, where blocks and inline nodes may sit, required attributes,
non-empty text): it rejects what Jira rejects in practice without shipping the whole JSON schema.
https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/
"""

from __future__ import annotations

import html
from typing import Any

MAX_DEPTH = 48

TOP_LEVEL_BLOCKS = frozenset(
    {
        "paragraph", "heading", "bulletList", "orderedList", "codeBlock", "blockquote", "rule",
        "panel", "table", "mediaSingle", "mediaGroup", "expand", "taskList", "decisionList",
        "blockCard", "embedCard", "extension", "bodiedExtension", "layoutSection",
    }
)  # fmt: skip
INLINE_NODES = frozenset(
    {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "mediaInline",
     "placeholder", "inlineExtension"}
)  # fmt: skip
NESTED_NODES = frozenset(
    {"listItem", "tableRow", "tableHeader", "tableCell", "media", "taskItem", "decisionItem",
     "layoutColumn", "caption", "nestedExpand"}
)  # fmt: skip
MARKS = frozenset(
    {"strong", "em", "code", "strike", "underline", "link", "subsup", "textColor",
     "backgroundColor", "alignment", "indentation", "annotation", "border", "fontSize",
     "breakout", "dataConsumer", "fragment"}
)  # fmt: skip
# Nodes whose children are inline content, not blocks.
INLINE_CONTAINERS = frozenset(
    {"paragraph", "heading", "codeBlock", "taskItem", "decisionItem", "caption"}
)
REQUIRED_ATTRIBUTES = {
    "heading": ("level",),
    "mention": ("id",),
    "emoji": ("shortName",),
    "media": ("type",),
    "date": ("timestamp",),
    "panel": ("panelType",),
}


class InvalidDocument(ValueError):
    """The value is not a valid Atlassian Document."""


def validate_document(value: Any) -> dict[str, Any]:
    """Return ``value`` when it is a valid ADF document, else raise :class:`InvalidDocument`."""
    if not isinstance(value, dict) or value.get("type") != "doc":
        raise InvalidDocument('the root node must be {"type": "doc", ...}')
    if value.get("version") != 1:
        raise InvalidDocument("the document version must be 1")
    content = value.get("content")
    if not isinstance(content, list):
        raise InvalidDocument("the document needs a 'content' list")
    for child in content:
        _validate_node(child, depth=1, inline_expected=False)
    return value


def _validate_node(node: Any, *, depth: int, inline_expected: bool) -> None:
    if depth > MAX_DEPTH:
        raise InvalidDocument("the document is nested too deeply")
    if not isinstance(node, dict) or not isinstance(node.get("type"), str):
        raise InvalidDocument("every node must be an object with a 'type'")
    kind = node["type"]
    if kind not in TOP_LEVEL_BLOCKS and kind not in INLINE_NODES and kind not in NESTED_NODES:
        raise InvalidDocument(f"unknown node type '{kind}'")
    if inline_expected and kind not in INLINE_NODES:
        raise InvalidDocument(f"'{kind}' cannot appear inside inline content")
    if not inline_expected and kind in INLINE_NODES:
        raise InvalidDocument(f"inline node '{kind}' must sit inside a paragraph or heading")
    attributes = node.get("attrs", {})
    if not isinstance(attributes, dict):
        raise InvalidDocument(f"'attrs' of '{kind}' must be an object")
    for name in REQUIRED_ATTRIBUTES.get(kind, ()):
        if name not in attributes:
            raise InvalidDocument(f"'{kind}' needs the attribute '{name}'")
    if kind == "heading" and attributes.get("level") not in (1, 2, 3, 4, 5, 6):
        raise InvalidDocument("heading level must be between 1 and 6")
    if kind == "text":
        text = node.get("text")
        if not isinstance(text, str) or not text:
            raise InvalidDocument("text nodes need a non-empty 'text'")
        marks = node.get("marks", [])
        if not isinstance(marks, list):
            raise InvalidDocument("'marks' must be a list")
        for mark in marks:
            if not isinstance(mark, dict) or mark.get("type") not in MARKS:
                raise InvalidDocument("unknown or malformed mark")
        return
    content = node.get("content", [])
    if not isinstance(content, list):
        raise InvalidDocument(f"'content' of '{kind}' must be a list")
    for child in content:
        _validate_node(child, depth=depth + 1, inline_expected=kind in INLINE_CONTAINERS)


def text_to_document(text: str) -> dict[str, Any]:
    """Plain text as ADF: blank-line separated paragraphs, single newlines as ``hardBreak``.

    The split is exact, so :func:`document_to_text` gives back the same string (REST v2 clients
    read what they wrote).
    """
    paragraphs: list[dict[str, Any]] = []
    for block in text.split("\n\n"):
        inline: list[dict[str, Any]] = []
        for index, line in enumerate(block.split("\n")):
            if index > 0:
                inline.append({"type": "hardBreak"})
            if line:  # ADF forbids empty text nodes
                inline.append({"type": "text", "text": line})
        paragraphs.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": paragraphs}


def document_to_text(document: dict[str, Any] | None) -> str:
    """The plain text of an ADF document (the REST v2 view of rich text)."""
    if not document:
        return ""
    return "\n\n".join(_block_text(block) for block in document.get("content", []))


def _block_text(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        return str(node.get("attrs", {}).get("text") or "@" + str(node.get("attrs", {}).get("id")))
    if kind == "emoji":
        return str(node.get("attrs", {}).get("shortName", ""))
    if kind == "inlineCard":
        return str(node.get("attrs", {}).get("url", ""))
    children = node.get("content", [])
    if kind in INLINE_CONTAINERS:
        return "".join(_block_text(child) for child in children)
    return "\n".join(_block_text(child) for child in children)


def document_to_html(document: dict[str, Any] | None) -> str:
    """A simple HTML rendering (``renderedFields``): one ``<p>`` per block, ``<br/>`` for breaks."""
    if not document:
        return ""
    parts = []
    for block in document.get("content", []):
        text = html.escape(_block_text(block)).replace("\n", "<br/>\n")
        parts.append(f"<p>{text}</p>")
    return "\n".join(parts)
