"""Rich text between Jira's ADF and Salesforce's rich-text HTML.

Jira REST v3 carries descriptions and textarea custom fields as Atlassian Document Format (ADF,
https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/); Salesforce rich
text areas (``htmlFormatted`` in describe) carry a small HTML dialect. Plain text ↔ ADF lives in
``forcebridge.jira.adf``; this module owns ADF ↔ HTML for what both editors share: paragraphs,
line breaks, headings, bold, italic, underline, strike, inline code, links, bullet and ordered
lists, code blocks, quotes and rules. Everything else degrades to its text, never to raw markup.

Two promises, both tested: every ADF document :func:`html_to_adf` returns validates against the
ADF JSON schema (whatever HTML comes in), and :func:`adf_to_html` escapes every piece of text
and only emits ``http``, ``https`` and ``mailto`` links, so Jira content cannot inject markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from forcebridge.jira.adf import adf_to_text

ADF_VERSION = 1

# Marks in the order their tags nest in HTML (outermost first). ``code`` is innermost because the
# ADF schema lets a ``code`` mark share a text node with ``link`` only.
_MARK_TAGS: dict[str, str] = {
    "link": "a",
    "strong": "strong",
    "em": "em",
    "underline": "u",
    "strike": "s",
    "code": "code",
}
_MARK_ORDER = tuple(_MARK_TAGS)
_SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:")

# HTML collapses only ASCII whitespace; a no-break space is content and must survive.
_HTML_WHITESPACE = re.compile(r"[ \t\n\r\f]+")

_HTML_TAG_MARKS = {
    "b": "strong",
    "strong": "strong",
    "i": "em",
    "em": "em",
    "cite": "em",
    "u": "underline",
    "ins": "underline",
    "s": "strike",
    "strike": "strike",
    "del": "strike",
    "code": "code",
    "tt": "code",
    "kbd": "code",
    "samp": "code",
}
_VOID_TAGS = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "col", "area", "source"})
_DROPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "blockquote",
        "hr", "table", "thead", "tbody", "tfoot", "tr", "td", "th", "section", "article",
        "header", "footer", "aside", "nav", "main", "figure", "figcaption", "dl", "dt", "dd",
        "address", "center",
    }
)  # fmt: skip
_HEADING_TAGS = {f"h{level}": level for level in range(1, 7)}

# Where a block may sit decides what it may be: the ADF schema allows headings, quotes and rules
# at the top level only; list items and quotes hold paragraphs, lists and code blocks.
_TOP_LEVEL = "top"
_NESTED = "nested"


# --------------------------------------------------------------------------------------------
# ADF → HTML
# --------------------------------------------------------------------------------------------


def adf_to_html(document: dict[str, Any] | str | None) -> str:
    """Salesforce rich-text HTML for an ADF document (a v2 string is escaped; None gives "")."""
    if document is None:
        return ""
    if isinstance(document, str):
        return _plain_text_to_html(document)
    return "".join(_block_html(node) for node in _dicts(document.get("content")))


def _plain_text_to_html(text: str) -> str:
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    if not normalized:
        return ""
    return "".join(
        "<p>" + html.escape(block).replace("\n", "<br>") + "</p>"
        for block in normalized.split("\n\n")
    )


def _block_html(node: dict[str, Any]) -> str:
    kind = node.get("type")
    raw_attrs = node.get("attrs")
    attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
    content = node.get("content")
    if kind == "paragraph":
        return f"<p>{_inline_html(_dicts(content))}</p>"
    if kind == "heading":
        level = attrs.get("level")
        level = level if isinstance(level, int) and 1 <= level <= 6 else 1
        return f"<h{level}>{_inline_html(_dicts(content))}</h{level}>"
    if kind in ("bulletList", "orderedList"):
        tag = "ul" if kind == "bulletList" else "ol"
        start = attrs.get("order")
        opening = (
            f'<ol start="{start}">'
            if tag == "ol" and isinstance(start, int) and start != 1
            else f"<{tag}>"
        )
        items = "".join(_list_item_html(item) for item in _dicts(content))
        return f"{opening}{items}</{tag}>"
    if kind == "codeBlock":
        code = "".join(str(child.get("text", "")) for child in _dicts(content))
        return f"<pre>{html.escape(code)}</pre>"
    if kind == "blockquote":
        return (
            "<blockquote>"
            + "".join(_block_html(child) for child in _dicts(content))
            + "</blockquote>"
        )
    if kind == "rule":
        return "<hr>"
    if kind in (
        "panel",
        "expand",
        "nestedExpand",
        "layoutSection",
        "layoutColumn",
        "bodiedExtension",
    ):
        # Containers Salesforce has no equivalent for: keep what is inside.
        return "".join(_block_html(child) for child in _dicts(content))
    # Tables, media, cards, task lists and newer nodes: their text, one line per line.
    text = adf_to_text({"content": [node]})
    return _plain_text_to_html(text)


def _list_item_html(item: dict[str, Any]) -> str:
    children = list(_dicts(item.get("content")))
    if item.get("type") != "listItem":
        return "<li>" + html.escape(adf_to_text({"content": [item]})) + "</li>"
    if len(children) == 1 and children[0].get("type") == "paragraph":
        # Salesforce's editor writes <li>text</li>, not <li><p>text</p></li>.
        return "<li>" + _inline_html(_dicts(children[0].get("content"))) + "</li>"
    return "<li>" + "".join(_block_html(child) for child in children) + "</li>"


@dataclass
class _Run:
    text: str
    marks: tuple[str, ...]
    href: str | None


def _inline_html(nodes: Iterable[dict[str, Any]]) -> str:
    runs: list[_Run | str] = []  # a str entry is ready-made markup (<br>)
    for node in nodes:
        kind = node.get("type")
        if kind == "hardBreak":
            runs.append("<br>")
            continue
        if kind == "text":
            marks, href = _marks_of(node.get("marks"))
            text = str(node.get("text", ""))
        elif kind == "inlineCard":
            url = str((node.get("attrs") or {}).get("url", ""))
            marks, href, text = (("link",), url, url) if _is_safe_href(url) else ((), None, url)
        else:
            text = adf_to_text({"content": [{"type": "paragraph", "content": [node]}]})
            marks, href = (), None
        if not text:
            continue
        previous = runs[-1] if runs else None
        # Editors split text into many nodes; merging equal neighbours makes equal documents
        # render to equal HTML (which value fingerprints rely on).
        if isinstance(previous, _Run) and previous.marks == marks and previous.href == href:
            previous.text += text
        else:
            runs.append(_Run(text, marks, href))
    return "".join(run if isinstance(run, str) else _run_html(run) for run in runs)


def _marks_of(raw_marks: Any) -> tuple[tuple[str, ...], str | None]:
    names: set[str] = set()
    href: str | None = None
    for mark in _dicts(raw_marks):
        kind = mark.get("type")
        if kind == "link":
            candidate = str((mark.get("attrs") or {}).get("href", ""))
            if _is_safe_href(candidate):
                href = candidate
                names.add("link")
        elif kind in _MARK_TAGS:
            names.add(str(kind))
    return tuple(name for name in _MARK_ORDER if name in names), href


def _run_html(run: _Run) -> str:
    markup = html.escape(run.text)
    for name in reversed(run.marks):
        tag = _MARK_TAGS[name]
        if name == "link":
            markup = f'<a href="{html.escape(run.href or "", quote=True)}">{markup}</a>'
        else:
            markup = f"<{tag}>{markup}</{tag}>"
    return markup


def _is_safe_href(href: str) -> bool:
    return href.strip().lower().startswith(_SAFE_LINK_SCHEMES)


def _dicts(items: Any) -> Iterable[dict[str, Any]]:
    if not isinstance(items, list):
        return ()
    return (item for item in items if isinstance(item, dict))


# --------------------------------------------------------------------------------------------
# HTML → ADF
# --------------------------------------------------------------------------------------------


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Element | str] = field(default_factory=list)


class _TreeBuilder(HTMLParser):
    """A forgiving DOM: unclosed tags are closed by their parent, stray end tags are ignored."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Element("root")
        self._stack: list[_Element] = [self.root]
        self._dropping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_TAGS:
            self._dropping += 1
            return
        if self._dropping:
            return
        if tag in _BLOCK_TAGS:
            self._close_implicitly(tag)
        element = _Element(tag, {name: value or "" for name, value in attrs})
        self._stack[-1].children.append(element)
        if tag not in _VOID_TAGS:
            self._stack.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS and tag not in _DROPPED_TAGS and not self._dropping:
            self._stack.pop()
        elif tag in _DROPPED_TAGS:
            self._dropping -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_TAGS:
            self._dropping = max(0, self._dropping - 1)
            return
        if self._dropping:
            return
        for depth in range(len(self._stack) - 1, 0, -1):
            if self._stack[depth].tag == tag:
                del self._stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if not self._dropping and data:
            self._stack[-1].children.append(data)

    def _close_implicitly(self, tag: str) -> None:
        # A block start ends an open <p>; a new <li> ends the previous item of the same list.
        if self._stack[-1].tag == "p":
            self._stack.pop()
        if tag == "li":
            for depth in range(len(self._stack) - 1, 0, -1):
                current = self._stack[depth].tag
                if current in ("ul", "ol"):
                    break
                if current == "li":
                    del self._stack[depth:]
                    break


def html_to_adf(markup: str | None) -> dict[str, Any]:
    """An ADF ``doc`` for Salesforce rich-text HTML; always valid against the ADF schema."""
    builder = _TreeBuilder()
    builder.feed(markup or "")
    builder.close()
    blocks = _convert_blocks(builder.root.children, _TOP_LEVEL)
    return {"version": ADF_VERSION, "type": "doc", "content": blocks}


def html_to_text(markup: str | None) -> str:
    """The plain text of Salesforce rich-text HTML (paragraphs separated by blank lines)."""
    return adf_to_text(html_to_adf(markup))


@dataclass
class _InlineState:
    marks: frozenset[str] = frozenset()
    href: str | None = None


class _BlockCollector:
    """Gathers blocks, turning runs of inline content into paragraphs."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.blocks: list[dict[str, Any]] = []
        self._inline: list[dict[str, Any]] = []

    def add_inline(self, nodes: Sequence[dict[str, Any]]) -> None:
        self._inline.extend(nodes)

    def add_block(self, block: dict[str, Any] | None) -> None:
        self.flush()
        if block is not None:
            self.blocks.append(block)

    def add_blocks(self, blocks: Sequence[dict[str, Any]]) -> None:
        self.flush()
        self.blocks.extend(blocks)

    def flush(self) -> None:
        content = _tidy_inline(self._inline)
        self._inline = []
        if content:
            self.blocks.append({"type": "paragraph", "content": content})


def _convert_blocks(children: Sequence[_Element | str], context: str) -> list[dict[str, Any]]:
    collector = _BlockCollector(context)
    for child in children:
        _convert_into(child, collector)
    collector.flush()
    return collector.blocks


def _convert_into(node: _Element | str, collector: _BlockCollector) -> None:
    if isinstance(node, str):
        collector.add_inline(_inline_nodes(node, _InlineState()))
        return
    tag = node.tag
    if tag not in _BLOCK_TAGS:
        collector.add_inline(_element_inline(node, _InlineState()))
        return
    if tag in _HEADING_TAGS:
        content = _tidy_inline(_children_inline(node, _InlineState()))
        if not content:
            return
        if collector.context == _TOP_LEVEL:
            collector.add_block(
                {"type": "heading", "attrs": {"level": _HEADING_TAGS[tag]}, "content": content}
            )
        else:
            collector.add_block({"type": "paragraph", "content": content})
        return
    if tag in ("ul", "ol"):
        collector.add_block(_list_block(node))
        return
    if tag == "pre":
        code = _pre_text(node)
        block: dict[str, Any] = {"type": "codeBlock"}
        if code:
            block["content"] = [{"type": "text", "text": code}]
        collector.add_block(block)
        return
    if tag == "blockquote":
        inner = _convert_blocks(node.children, _NESTED)
        if collector.context == _TOP_LEVEL:
            collector.add_block({"type": "blockquote", "content": inner} if inner else None)
        else:
            collector.add_blocks(inner)
        return
    if tag == "hr":
        collector.add_block({"type": "rule"} if collector.context == _TOP_LEVEL else None)
        return
    if tag in ("tr", "dt", "dd", "li"):
        # Rows and stray items read best as one line each.
        collector.add_blocks(_convert_blocks(node.children, collector.context))
        return
    # p, div and other containers: their children, as blocks of the same context.
    collector.add_blocks(_convert_blocks(node.children, collector.context))


def _list_block(node: _Element) -> dict[str, Any] | None:
    items: list[dict[str, Any]] = []
    loose: list[_Element | str] = []

    def flush_loose() -> None:
        if loose:
            content = _convert_blocks(loose, _NESTED)
            if content:
                items.append({"type": "listItem", "content": content})
            loose.clear()

    for child in node.children:
        if isinstance(child, _Element) and child.tag == "li":
            flush_loose()
            content = _convert_blocks(child.children, _NESTED)
            # A listItem needs at least one block; an empty <li> is an empty paragraph.
            items.append({"type": "listItem", "content": content or [{"type": "paragraph"}]})
        elif isinstance(child, str) and not child.strip():
            continue
        else:
            loose.append(child)
    flush_loose()
    if not items:
        return None
    if node.tag == "ul":
        return {"type": "bulletList", "content": items}
    block: dict[str, Any] = {"type": "orderedList", "content": items}
    start = node.attrs.get("start", "").strip()
    if start.isdigit() and int(start) != 1:
        block["attrs"] = {"order": int(start)}
    return block


def _pre_text(node: _Element) -> str:
    parts: list[str] = []

    def walk(current: _Element | str) -> None:
        if isinstance(current, str):
            parts.append(current)
        elif current.tag == "br":
            parts.append("\n")
        else:
            for child in current.children:
                walk(child)

    for child in node.children:
        walk(child)
    text = "".join(parts).replace("\r\n", "\n").replace("\r", "\n")
    # HTML drops one newline right after <pre>.
    return text[1:] if text.startswith("\n") else text


def _children_inline(node: _Element, state: _InlineState) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for child in node.children:
        if isinstance(child, str):
            nodes.extend(_inline_nodes(child, state))
        elif child.tag in _BLOCK_TAGS:
            # A block inside inline content (<b><p>x</p></b>) reads as a line of its own.
            inner = _children_inline(child, state)
            if inner:
                nodes.append({"type": "hardBreak"})
                nodes.extend(inner)
                nodes.append({"type": "hardBreak"})
        else:
            nodes.extend(_element_inline(child, state))
    return nodes


def _element_inline(node: _Element, state: _InlineState) -> list[dict[str, Any]]:
    tag = node.tag
    if tag == "br":
        return [{"type": "hardBreak"}]
    if tag == "img":
        alt = node.attrs.get("alt", "").strip()
        return _inline_nodes(f"[image: {alt}]" if alt else "[image]", state)
    if tag == "a":
        href = node.attrs.get("href", "").strip()
        if _is_safe_href(href):
            state = _InlineState(state.marks | {"link"}, href)
        return _children_inline(node, state)
    mark = _HTML_TAG_MARKS.get(tag)
    if mark is not None:
        state = _InlineState(state.marks | {mark}, state.href)
    return _children_inline(node, state)


def _inline_nodes(text: str, state: _InlineState) -> list[dict[str, Any]]:
    collapsed = _HTML_WHITESPACE.sub(" ", text)
    if not collapsed:
        return []
    node: dict[str, Any] = {"type": "text", "text": collapsed}
    marks = _adf_marks(state)
    if marks:
        node["marks"] = marks
    return [node]


def _adf_marks(state: _InlineState) -> list[dict[str, Any]]:
    names = state.marks
    if "code" in names:
        # The schema allows code alongside link only.
        names = names & {"code", "link"}
    marks: list[dict[str, Any]] = []
    for name in _MARK_ORDER:
        if name not in names:
            continue
        if name == "link":
            marks.append({"type": "link", "attrs": {"href": state.href or ""}})
        else:
            marks.append({"type": name})
    return marks


def _tidy_inline(nodes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inline content as a browser shows it: equal neighbours merged, no space at line edges or
    after a space, no empty text, no breaks at the edges or more than two in a row."""
    tidy = [dict(node) for node in nodes if node["type"] in ("text", "hardBreak")]
    # Each pass can expose more work (dropping an empty text joins its neighbours), so repeat
    # until nothing changes; a pass that changes something removes characters or nodes, so
    # this ends.
    while True:
        tidied = _tidy_pass(tidy)
        if tidied == tidy:
            return tidied
        tidy = tidied


def _tidy_pass(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: list[dict[str, Any]] = []
    for node in nodes:
        previous = merged[-1] if merged else None
        if (
            node["type"] == "text"
            and previous is not None
            and previous["type"] == "text"
            and previous.get("marks") == node.get("marks")
        ):
            merged[-1] = {**previous, "text": previous["text"] + node["text"]}
        else:
            merged.append(dict(node))
    for index, node in enumerate(merged):
        if node["type"] != "text":
            continue
        before = merged[index - 1] if index else None
        after = merged[index + 1] if index + 1 < len(merged) else None
        text = node["text"]
        if before is None or before["type"] == "hardBreak" or before["text"].endswith(" "):
            text = text.lstrip(" ")
        if after is None or after["type"] == "hardBreak":
            text = text.rstrip(" ")
        node["text"] = text
    tidy = [node for node in merged if node["type"] != "text" or node["text"]]
    while tidy and tidy[0]["type"] == "hardBreak":
        tidy.pop(0)
    while tidy and tidy[-1]["type"] == "hardBreak":
        tidy.pop()
    result: list[dict[str, Any]] = []
    for node in tidy:
        if (
            node["type"] == "hardBreak"
            and len(result) >= 2
            and result[-1]["type"] == result[-2]["type"] == "hardBreak"
        ):
            continue
        result.append(node)
    return result
