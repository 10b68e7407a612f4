"""Plain text ↔ Atlassian Document Format (ADF), the rich-text JSON of Jira REST v3.

Jira v3 takes and returns ADF for descriptions, comments and textarea custom fields
(https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/); Salesforce fields
are plain text. :func:`text_to_adf` and :func:`adf_to_text` are exact inverses for plain text:
blank lines (``\\n\\n``) separate paragraphs, single newlines become ``hardBreak`` nodes, and URLs
get a ``link`` mark. :func:`adf_to_text` also reads what people write in Jira's editor (headings,
lists, quotes, code, tables, mentions, emoji, cards...), dropping formatting marks but keeping a
link's target when its text differs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any

ADF_VERSION = 1
PARAGRAPH_SEPARATOR = "\n\n"

# Trailing punctuation usually ends the sentence, not the URL ("see https://x.io/a.").
_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'}]")


def text_to_adf(text: str) -> dict[str, Any]:
    """An ADF ``doc`` holding ``text``: one paragraph per blank-line-separated block."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [_paragraph(block) for block in normalized.split(PARAGRAPH_SEPARATOR)]
    return {"version": ADF_VERSION, "type": "doc", "content": paragraphs}


def adf_to_text(document: dict[str, Any] | str | None) -> str:
    """The plain text of an ADF document (a v2 string is returned as is; None gives "")."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        return ""
    return _blocks(_children(document))


def _paragraph(block: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for index, line in enumerate(block.split("\n")):
        if index:
            content.append({"type": "hardBreak"})
        content.extend(_text_nodes(line))
    return {"type": "paragraph", "content": content}


def _text_nodes(line: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    position = 0
    for match in _URL.finditer(line):
        if match.start() > position:
            nodes.append({"type": "text", "text": line[position : match.start()]})
        url = match.group(0)
        nodes.append(
            {"type": "text", "text": url, "marks": [{"type": "link", "attrs": {"href": url}}]}
        )
        position = match.end()
    if position < len(line):  # ADF forbids empty text nodes
        nodes.append({"type": "text", "text": line[position:]})
    return nodes


def _blocks(nodes: Iterable[Any]) -> str:
    rendered: list[str] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        text = _block(node)
        # Empty paragraphs are kept: they are how blank lines survive the round trip.
        if text or node.get("type") == "paragraph":
            rendered.append(text)
    return PARAGRAPH_SEPARATOR.join(rendered)


def _block(node: dict[str, Any]) -> str:
    kind = node.get("type")
    content = _children(node)
    attrs = _attrs(node)
    if kind in ("paragraph", "heading"):
        return _inline(content)
    if kind == "codeBlock":
        return "".join(str(child.get("text", "")) for child in content if isinstance(child, dict))
    if kind == "bulletList":
        return _list_items(content, lambda _: "- ")
    if kind == "orderedList":
        order = attrs.get("order")
        start = order if isinstance(order, int) and not isinstance(order, bool) else 1
        return _list_items(content, lambda index: f"{start + index}. ")
    if kind == "taskList":
        return _list_items(content, lambda _: "", marker_of=lambda item: _task_marker(_attrs(item)))
    if kind == "decisionList":
        return _list_items(content, lambda _: "- ")
    if kind == "blockquote":
        return "\n".join("> " + line for line in _blocks(content).split("\n"))
    if kind == "rule":
        return "---"
    if kind == "table":
        return "\n".join(_table_row(row) for row in content if isinstance(row, dict))
    if kind in ("blockCard", "embedCard"):
        return str(attrs.get("url", ""))
    if kind in ("mediaSingle", "mediaGroup", "media", "extension", "bodiedExtension"):
        return _media(node)
    if kind in ("taskItem", "decisionItem"):
        return _inline(content)
    if kind in ("expand", "nestedExpand"):
        title = str(attrs.get("title") or "")
        body = _blocks(content)
        return PARAGRAPH_SEPARATOR.join(part for part in (title, body) if part)
    # panel, layoutSection, layoutColumn and anything newer: keep the text inside.
    if content and all(isinstance(child, dict) and _is_inline(child) for child in content):
        return _inline(content)
    return _blocks(content)


def _list_items(
    items: Iterable[Any],
    prefix_of: Callable[[int], str],
    *,
    marker_of: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    lines: list[str] = []
    for index, item in enumerate(child for child in items if isinstance(child, dict)):
        prefix = marker_of(item) if marker_of else prefix_of(index)
        children = _children(item)
        if item.get("type") in ("taskItem", "decisionItem"):
            text = _inline(children)
        else:
            text = "\n".join(_block(child) for child in children if isinstance(child, dict))
        first, *rest = text.split("\n") if text else [""]
        lines.append(prefix + first)
        lines.extend("  " + line for line in rest)
    return "\n".join(lines)


def _task_marker(attrs: dict[str, Any]) -> str:
    return "[x] " if attrs.get("state") == "DONE" else "[ ] "


def _table_row(row: dict[str, Any]) -> str:
    cells = [
        _blocks(_children(cell)).replace("\n", " ")
        for cell in _children(row)
        if isinstance(cell, dict)
    ]
    return " | ".join(cells)


def _media(node: dict[str, Any]) -> str:
    for child in _children(node):
        if isinstance(child, dict):
            text = _media(child)
            if text:
                return text
    attrs = _attrs(node)
    if node.get("type") == "media":
        name = attrs.get("alt") or attrs.get("id") or "file"
        return f"[attachment: {name}]"
    return ""


_INLINE_TYPES = {
    "text",
    "hardBreak",
    "mention",
    "emoji",
    "inlineCard",
    "date",
    "status",
    "placeholder",
    "mediaInline",
    "inlineExtension",
}


def _is_inline(node: dict[str, Any]) -> bool:
    return node.get("type") in _INLINE_TYPES


def _inline(nodes: Iterable[Any]) -> str:
    return "".join(_inline_node(node) for node in nodes if isinstance(node, dict))


def _inline_node(node: dict[str, Any]) -> str:
    kind = node.get("type")
    attrs = _attrs(node)
    if kind == "text":
        text = str(node.get("text", ""))
        marks = node.get("marks")
        for mark in marks if isinstance(marks, list) else []:
            if isinstance(mark, dict) and mark.get("type") == "link":
                href = str(_attrs(mark).get("href", ""))
                if href and href != text:
                    return f"{text} ({href})"
        return text
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        return str(attrs.get("text") or f"@{attrs.get('id', 'someone')}")
    if kind == "emoji":
        return str(attrs.get("text") or attrs.get("shortName") or "")
    if kind == "inlineCard":
        return str(attrs.get("url", ""))
    if kind == "date":
        return _date_text(attrs.get("timestamp"))
    if kind == "status":
        return str(attrs.get("text", ""))
    if kind == "mediaInline":
        return f"[attachment: {attrs.get('alt') or attrs.get('id') or 'file'}]"
    if _children(node):
        return _inline(_children(node))
    return str(node.get("text", ""))


def _children(node: dict[str, Any]) -> list[Any]:
    # Documents come from Jira or from webhook payloads: tolerate any shape, never crash.
    content = node.get("content")
    return content if isinstance(content, list) else []


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _date_text(timestamp: object) -> str:
    # ADF dates are milliseconds since the epoch, as a string, at midnight UTC of the day.
    try:
        milliseconds = int(str(timestamp))
    except ValueError:
        return str(timestamp or "")
    try:
        return dt.datetime.fromtimestamp(milliseconds / 1000, tz=dt.UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return str(timestamp)
