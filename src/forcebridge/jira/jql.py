"""Building JQL safely: every value goes into a query through :func:`quote` or :func:`format_jql`.

JQL string literals are double-quoted; inside them Jira's lexer understands the escapes ``\\"``,
``\\'``, ``\\\\``, ``\\n``, ``\\r``, ``\\t`` and ``\\uXXXX`` ("Restricted words and characters" in
https://support.atlassian.com/jira-software-cloud/docs/use-advanced-search-with-jira-query-language-jql/).
Quoting every value, even numbers-as-text and keys, means a value can never end the literal and add
clauses (JQL injection), and reserved words such as ``AND`` or ``EMPTY`` stay plain text.

Dates and times are written the way JQL reads them (``yyyy-MM-dd`` and ``yyyy-MM-dd HH:mm``);
Jira interprets them in the **searching user's time zone**, so callers convert first.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterable, Mapping
from typing import Any

from forcebridge.errors import InvalidInput

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(value: str) -> str:
    """A JQL string literal for ``value``: ``quote('say "hi"')`` → ``"say \\"hi\\""``."""
    if not isinstance(value, str):
        raise InvalidInput(f"JQL quote() takes a string, not {type(value).__name__}")
    pieces: list[str] = []
    for character in value:
        if character in _ESCAPES:
            pieces.append(_ESCAPES[character])
        elif ord(character) < 0x20 or 0x7F <= ord(character) < 0xA0:
            # Other control characters would be rejected or silently dropped by the lexer.
            pieces.append(f"\\u{ord(character):04x}")
        else:
            pieces.append(character)
    return '"' + "".join(pieces) + '"'


def literal(value: object) -> str:
    """The JQL form of a Python value: strings, integers, dates, datetimes, or a list for ``IN``."""
    if isinstance(value, bool):
        # JQL has no boolean literals; a bool here is almost certainly a bug in the caller.
        raise InvalidInput("JQL has no boolean values")
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return quote(value.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, dt.date):
        return quote(value.strftime("%Y-%m-%d"))
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = [literal(item) for item in value]
        if not items:
            raise InvalidInput("JQL lists (IN) need at least one value")
        return "(" + ", ".join(items) + ")"
    raise InvalidInput(f"Cannot put a {type(value).__name__} into JQL")


class _JqlFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec:
            raise InvalidInput(f"JQL placeholders take no format spec (got {format_spec!r})")
        return literal(value)


def format_jql(template: str, *values: object) -> str:
    """Fill ``{}`` placeholders of a trusted template with quoted values.

    ``format_jql("project = {} AND updated >= {}", "PROJ", since)``.
    Literal braces are ``{{``/``}}``.
    """
    return _JqlFormatter().vformat(template, values, {})
