"""Building SOQL safely: values go in through :func:`quote`, queries through :func:`format_soql`.

Escapes follow "Quoted String Escape Sequences" of the SOQL and SOSL Reference
(https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm):
inside single quotes ``\\n \\r \\t \\b \\f \\" \\' \\\\`` are escapes, and in a ``LIKE``
pattern ``\\%`` and ``\\_`` match a literal percent sign or underscore. Date and datetime
literals are **unquoted** (``SystemModstamp > 2024-01-01T00:00:00Z``).

Placeholders in a template:
- ``{}`` / ``{name}``: a quoted literal (strings, numbers, booleans, None, dates, datetimes, or a
  list for ``IN``);
- ``{:like}``: the escaped *content* of a LIKE pattern, without quotes, so the template adds the
  wildcards: ``"Name LIKE '{:like}%'"``;
- ``{:identifier}``: a field or object name (or a list of them, comma-joined), checked, unquoted.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from forcebridge.errors import InvalidInput

_STRING_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_LIKE_ESCAPES = {**_STRING_ESCAPES, "%": "\\%", "_": "\\_"}

# API names: Name, Custom_Field__c, ns__Thing__c, and relationship paths such as Account.Owner.Name.
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")


def quote(value: object) -> str:
    """The SOQL literal for ``value``: ``quote("O'Brien")`` → ``'O\\'Brien'``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + _escape(value, _STRING_ESCAPES) + "'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise InvalidInput("SOQL datetimes need a time zone; pass an aware datetime")
        # Whole seconds in UTC: the form every SOQL version accepts.
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = [quote(item) for item in value]
        if not items:
            raise InvalidInput("SOQL IN lists need at least one value")
        return "(" + ", ".join(items) + ")"
    raise InvalidInput(f"Cannot put a {type(value).__name__} into SOQL")


def like_pattern_content(value: str) -> str:
    """``value`` escaped to match literally inside a quoted LIKE pattern (``%`` and ``_`` too)."""
    if not isinstance(value, str):
        raise InvalidInput("LIKE patterns take strings")
    return _escape(value, _LIKE_ESCAPES)


def identifier(name: object) -> str:
    """A checked field, relationship or object API name (or a comma-joined list of them)."""
    if isinstance(name, str):
        if not _IDENTIFIER.match(name):
            raise InvalidInput(f"{name!r} is not a Salesforce API name")
        return name
    if isinstance(name, Iterable) and not isinstance(name, bytes | Mapping):
        names = [identifier(item) for item in name]
        if not names:
            raise InvalidInput("An empty list of Salesforce API names")
        return ", ".join(names)
    raise InvalidInput(f"{name!r} is not a Salesforce API name")


class _SoqlFormatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec == "":
            return quote(value)
        if format_spec == "like":
            return like_pattern_content(value)
        if format_spec == "identifier":
            return identifier(value)
        raise InvalidInput(f"Unknown SOQL placeholder format {format_spec!r}")


def format_soql(template: str, *args: object, **kwargs: object) -> str:
    """Fill ``{}``/``{name}`` placeholders of a trusted template with quoted values.

    ``format_soql("SELECT Id FROM Case WHERE Subject = {} AND IsClosed = {c}", s, c=False)``.
    Literal braces are ``{{``/``}}``.
    """
    return _SoqlFormatter().vformat(template, args, kwargs)


def _escape(value: str, table: Mapping[str, str]) -> str:
    return "".join(table.get(character, character) for character in value)


def _number(value: float | Decimal) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput("SOQL numbers must be finite")
    if isinstance(value, Decimal) and not value.is_finite():
        raise InvalidInput("SOQL numbers must be finite")
    # Positional notation: SOQL does not read exponents such as 1e-07.
    text = format(Decimal(repr(value)) if isinstance(value, float) else value, "f")
    return text
