"""Value conversion between Jira fields and Salesforce fields, one small converter per type.

A value crosses in three steps: *read* it from its source into a neutral Python value, apply the
mapping's value map (``mapping_engine``), then *write* it in the target's wire shape. Neutral
values are ``None``, ``str``, ``bool``, ``Decimal``, ``date``, ``datetime`` (always aware, UTC),
``list[str]`` and rich text as an ADF ``doc`` dict.

Every converter either returns a value the target accepts or raises :class:`ConversionFailed`
naming the field, the value and how to fix it. None of them guesses: a value that does not fit
(too long, not a number, not an allowed picklist value) is refused rather than truncated,
rounded beyond what Salesforce itself does, or emptied. That is the fix for SFJC's "the target
may be emptied, or left unchanged" on format mismatches (sfjc-and-peers.md §c.4).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from forcebridge.errors import ValidationFailed
from forcebridge.jira.adf import adf_to_text, text_to_adf
from forcebridge.sync.rich_text import adf_to_html, html_to_adf


class ConversionFailed(ValidationFailed):
    """A value cannot be written to its target field; ``message`` names field and value."""


# --------------------------------------------------------------------------------------------
# Jira field kinds, from GET /rest/api/3/field entries
# --------------------------------------------------------------------------------------------

JIRA_TEXT = "text"  # summary, single-line text: a plain string
JIRA_RICH_TEXT = "rich_text"  # description, environment, multi-line text: ADF in REST v3
JIRA_NUMBER = "number"
JIRA_DATE = "date"
JIRA_DATETIME = "datetime"
JIRA_SELECT = "select"  # {"value": ...}
JIRA_MULTISELECT = "multiselect"  # [{"value": ...}]
JIRA_LABELS = "labels"  # ["a", "b"]
JIRA_PRIORITY = "priority"  # {"name": ...}
JIRA_STATUS = "status"  # read as {"name"}; written through a transition, never in an edit
JIRA_USER = "user"  # {"accountId": ...}
JIRA_READ_ONLY = "read_only"  # key, created, resolution...: readable as text, never written
JIRA_UNSUPPORTED = "unsupported"

CUSTOM_TYPE_PREFIX = "com.atlassian.jira.plugin.system.customfieldtypes:"

# Pseudo fields that are not in GET /field but are worth mapping (the issue key into a
# Salesforce text field is the most common mapping of all).
JIRA_ISSUE_ATTRIBUTES = frozenset({"key", "id"})

_READ_ONLY_SYSTEM_FIELDS = frozenset(
    {"created", "updated", "creator", "resolutiondate", "statuscategorychangedate", "resolution",
     "issuetype", "project", "lastViewed", "votes", "watches", "workratio", "aggregateprogress",
     "progress", "timespent", "aggregatetimespent"}
)  # fmt: skip
_RICH_TEXT_SYSTEM_FIELDS = frozenset({"description", "environment"})
_SINGLE_LINE_MAX_LENGTH = 255  # Jira's limit for summary and single-line text custom fields
_MULTI_LINE_MAX_LENGTH = 32767  # Jira's limit for description and multi-line text fields


def jira_field_kind(field: Mapping[str, Any]) -> str:
    """The kind of a Jira field (one of the ``JIRA_*`` constants) from its ``schema``."""
    field_id = str(field.get("id", ""))
    if field_id in JIRA_ISSUE_ATTRIBUTES:
        return JIRA_READ_ONLY
    raw_schema = field.get("schema")
    schema: Mapping[str, Any] = raw_schema if isinstance(raw_schema, Mapping) else {}
    schema_type = schema.get("type")
    system = schema.get("system")
    custom = str(schema.get("custom") or "")
    items = schema.get("items")
    if system in _READ_ONLY_SYSTEM_FIELDS or field_id in _READ_ONLY_SYSTEM_FIELDS:
        return JIRA_READ_ONLY
    if schema_type == "string":
        if system in _RICH_TEXT_SYSTEM_FIELDS or custom == CUSTOM_TYPE_PREFIX + "textarea":
            return JIRA_RICH_TEXT
        return JIRA_TEXT
    if schema_type == "array":
        if items == "option":
            return JIRA_MULTISELECT
        if items == "string":
            return JIRA_LABELS
        return JIRA_UNSUPPORTED
    return {
        "number": JIRA_NUMBER,
        "date": JIRA_DATE,
        "datetime": JIRA_DATETIME,
        "option": JIRA_SELECT,
        "priority": JIRA_PRIORITY,
        "status": JIRA_STATUS,
        "user": JIRA_USER,
    }.get(str(schema_type), JIRA_UNSUPPORTED)


def read_jira_value(kind: str, raw: Any) -> Any:
    """The neutral value of a Jira field as GET issue returns it (REST v3)."""
    if raw is None:
        return [] if kind in (JIRA_MULTISELECT, JIRA_LABELS) else None
    if kind == JIRA_RICH_TEXT:
        if is_adf(raw):
            return raw
        if isinstance(raw, str):
            return text_to_adf(raw)  # a REST v2 string, or a field Jira still keeps as text
        raise ConversionFailed(f"expected rich text (an ADF document), got {_describe(raw)}")
    if kind == JIRA_NUMBER:
        return as_decimal(raw)
    if kind == JIRA_DATE:
        return as_date(raw)
    if kind == JIRA_DATETIME:
        return as_datetime(raw)
    if kind in (JIRA_SELECT, JIRA_PRIORITY, JIRA_STATUS):
        return _option_name(raw)
    if kind == JIRA_MULTISELECT:
        return [_option_name(item) for item in _as_list(raw)]
    if kind == JIRA_LABELS:
        return [as_text(item) for item in _as_list(raw)]
    if kind == JIRA_USER:
        if isinstance(raw, Mapping):
            return raw  # the engine turns it into an email through its directory callback
        raise ConversionFailed(f"expected a Jira user object, got {_describe(raw)}")
    if kind == JIRA_READ_ONLY and isinstance(raw, Mapping):
        return _option_name(raw)
    if isinstance(raw, str | bool):
        return raw
    if isinstance(raw, int | float):
        return as_decimal(raw)
    raise ConversionFailed(f"cannot read a value of this Jira field type: {_describe(raw)}")


def write_jira_value(kind: str, value: Any, *, field_name: str) -> Any:
    """The ``fields`` entry of a Jira edit for a neutral value (users excepted: see the engine)."""
    if kind in (JIRA_READ_ONLY, JIRA_STATUS, JIRA_USER, JIRA_UNSUPPORTED):
        raise ConversionFailed(
            f"{field_name}: this Jira field cannot be set through an issue edit",
            hint="Set the mapping's direction to push.",
        )
    if value is None or value == []:
        if kind in (JIRA_MULTISELECT, JIRA_LABELS):
            return []
        if field_name == "summary":
            raise ConversionFailed(
                "summary: Jira requires a summary; the Salesforce value is empty",
                hint="Fill the Salesforce field or map another one to the summary.",
            )
        return None
    if kind == JIRA_TEXT:
        # A single-line field cannot show line breaks; folding them to spaces keeps every word.
        text = " ".join(as_text(value).splitlines()).strip()
        _check_length(field_name, text, _SINGLE_LINE_MAX_LENGTH, side="Jira")
        if not text and field_name == "summary":
            raise ConversionFailed(
                "summary: Jira requires a summary; the Salesforce value is blank",
                hint="Fill the Salesforce field or map another one to the summary.",
            )
        return text
    if kind == JIRA_RICH_TEXT:
        document = as_adf(value)
        _check_length(field_name, adf_to_text(document), _MULTI_LINE_MAX_LENGTH, side="Jira")
        return document
    if kind == JIRA_NUMBER:
        return _json_number(as_decimal(value))
    if kind == JIRA_DATE:
        return as_date(value).isoformat()
    if kind == JIRA_DATETIME:
        return format_datetime(as_datetime(value))
    if kind == JIRA_SELECT:
        return {"value": _single_name(field_name, value)}
    if kind == JIRA_PRIORITY:
        return {"name": _single_name(field_name, value)}
    if kind == JIRA_MULTISELECT:
        return [{"value": item} for item in as_list(value, separators=";")]
    if kind == JIRA_LABELS:
        labels = as_list(value, separators=";,")
        with_spaces = [label for label in labels if any(char.isspace() for char in label)]
        if with_spaces:
            raise ConversionFailed(
                f"{field_name}: Jira labels cannot contain spaces: {with_spaces[0]!r}",
                hint="Add a value map that gives each value a label without spaces.",
            )
        return labels
    raise ConversionFailed(f"{field_name}: unknown Jira field kind {kind!r}")


# --------------------------------------------------------------------------------------------
# Salesforce fields, from the object's describe
# --------------------------------------------------------------------------------------------

SALESFORCE_TEXT_TYPES = frozenset(
    {"string", "textarea", "email", "phone", "url", "combobox", "encryptedstring"}
)
SALESFORCE_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
SALESFORCE_UNSUPPORTED_TYPES = frozenset(
    {"reference", "id", "address", "location", "base64", "anyType", "complexvalue", "json"}
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_salesforce_rich_text(field: Mapping[str, Any]) -> bool:
    """Rich text areas are textarea fields that describe flags as HTML."""
    return bool(field.get("htmlFormatted")) or field.get("extraTypeInfo") == "richtextarea"


def read_salesforce_value(field: Mapping[str, Any], raw: Any) -> Any:
    """The neutral value of a Salesforce field as the REST API returns it in a record."""
    field_type = str(field.get("type", ""))
    if field_type in SALESFORCE_UNSUPPORTED_TYPES:
        raise ConversionFailed(
            f"{field.get('name')}: Salesforce {field_type} fields are not synced",
            hint="Map a text or formula field that holds the value you need instead.",
        )
    if raw is None:
        return [] if field_type == "multipicklist" else None
    if field_type == "textarea" and is_salesforce_rich_text(field):
        return html_to_adf(str(raw))
    if field_type == "boolean":
        return as_bool(raw)
    if field_type in SALESFORCE_NUMBER_TYPES:
        return as_decimal(raw)
    if field_type == "date":
        return as_date(raw)
    if field_type == "datetime":
        return as_datetime(raw)
    if field_type == "multipicklist":
        return as_list(raw, separators=";")
    return raw if isinstance(raw, str) else as_text(raw)


def write_salesforce_value(field: Mapping[str, Any], value: Any) -> Any:
    """The value to send for a Salesforce field, checked against its describe."""
    name = str(field.get("name", "?"))
    field_type = str(field.get("type", ""))
    if field_type in SALESFORCE_UNSUPPORTED_TYPES:
        raise ConversionFailed(
            f"{name}: Salesforce {field_type} fields are not synced",
            hint="Map the value into a text field, or use a Salesforce flow to resolve it.",
        )
    if value is None or value == []:
        return _empty_salesforce_value(field)
    if field_type == "boolean":
        return as_bool(value)
    if field_type in SALESFORCE_NUMBER_TYPES:
        return _salesforce_number(field, as_decimal(value))
    if field_type == "date":
        return as_date(value).isoformat()
    if field_type == "datetime":
        return format_datetime(as_datetime(value))
    if field_type == "time":
        return _salesforce_time(as_text(value))
    if field_type == "picklist":
        return _allowed_picklist_value(field, _single_name(name, value))
    if field_type == "multipicklist":
        items = [_allowed_picklist_value(field, item) for item in as_list(value, separators=";")]
        joined = ";".join(dict.fromkeys(items))
        _check_length(name, joined, field.get("length"), side="Salesforce")
        return joined
    if field_type == "textarea" and is_salesforce_rich_text(field):
        markup = adf_to_html(as_adf(value))
        _check_length(name, markup, field.get("length"), side="Salesforce")
        return markup
    if field_type in SALESFORCE_TEXT_TYPES:
        text = as_text(value)
        if field_type == "email" and not _EMAIL.match(text):
            raise ConversionFailed(f"{name}: {text!r} is not an email address")
        _check_length(name, text, field.get("length"), side="Salesforce")
        return text
    raise ConversionFailed(
        f"{name}: Salesforce field type {field_type!r} is not supported",
        hint="Map a text field instead.",
    )


def _empty_salesforce_value(field: Mapping[str, Any]) -> Any:
    if field.get("type") == "boolean":
        return False  # a checkbox is never null in Salesforce: empty means unchecked
    if not field.get("nillable", True):
        raise ConversionFailed(
            f"{field.get('name')}: Salesforce requires a value; the Jira value is empty",
            hint="Fill the Jira field, or set an unmapped-value policy that provides a value.",
        )
    return None


def _salesforce_number(field: Mapping[str, Any], number: Decimal) -> int | float:
    name = field.get("name")
    if field.get("type") == "int" or field.get("type") == "long":
        if number != number.to_integral_value():
            raise ConversionFailed(f"{name}: {number} is not a whole number")
        digits = int(field.get("digits") or 18)
        if abs(number) >= Decimal(10) ** digits:
            raise ConversionFailed(f"{name}: {number} has more than {digits} digits")
        return int(number)
    precision = int(field.get("precision") or 18)
    scale = int(field.get("scale") or 0)
    # Salesforce itself rounds half up to the field's scale on save; doing it here keeps the
    # value we remember equal to the value Salesforce stores (no endless re-sync).
    with localcontext() as context:
        context.prec = _WIDE_PRECISION
        rounded = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
    if abs(rounded) >= Decimal(10) ** (precision - scale):
        raise ConversionFailed(
            f"{name}: {number} is too large (at most {precision - scale} digits before the point)"
        )
    return _json_number(rounded)


def _allowed_picklist_value(field: Mapping[str, Any], value: str) -> str:
    entries = [entry for entry in field.get("picklistValues") or [] if isinstance(entry, Mapping)]
    active = [str(entry.get("value")) for entry in entries if entry.get("active", True)]
    if value in active:
        return value
    # Jira "high" for Salesforce "High": send the org's spelling, not a near-duplicate value.
    by_lowercase = {allowed.lower(): allowed for allowed in active}
    if value.lower() in by_lowercase:
        return by_lowercase[value.lower()]
    if field.get("restrictedPicklist"):
        shown = ", ".join(active[:10]) + (", ..." if len(active) > 10 else "")
        raise ConversionFailed(
            f"{field.get('name')}: {value!r} is not an allowed value of this restricted picklist"
            f" (allowed: {shown})",
            hint="Add the value to the value map or to the Salesforce picklist.",
        )
    _check_length(str(field.get("name")), value, field.get("length"), side="Salesforce")
    return value


def _salesforce_time(text: str) -> str:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?", text.strip())
    if not match:
        raise ConversionFailed(f"{text!r} is not a time of day (expected HH:MM or HH:MM:SS)")
    hours, minutes, seconds, fraction = match.groups()
    try:
        moment = time(int(hours), int(minutes), int(seconds or 0))
    except ValueError as error:
        raise ConversionFailed(f"{text!r} is not a time of day") from error
    return f"{moment.isoformat()}.{(fraction or '0').ljust(3, '0')}Z"


# --------------------------------------------------------------------------------------------
# Neutral coercions: shared by both directions
# --------------------------------------------------------------------------------------------

# Enough digits for any value either vendor can hold (Salesforce: 18; a double: ~17).
_WIDE_PRECISION = 400
_SMALLEST_EXPONENT, _LARGEST_EXPONENT = -324, 308  # the decimal exponents of a double

_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on", "checked"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "unchecked", ""})


def as_text(value: Any) -> str:
    """The plain text of a neutral value (rich text loses its formatting, lists join with ', ')."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal | int | float):
        return format_number(as_decimal(value))
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if is_adf(value):
        return adf_to_text(value)
    if isinstance(value, list):
        return ", ".join(as_text(item) for item in value)
    raise ConversionFailed(f"cannot turn {_describe(value)} into text")


def as_adf(value: Any) -> dict[str, Any]:
    """Rich text as an ADF document (plain text becomes paragraphs and line breaks)."""
    if is_adf(value):
        return dict(value)
    return text_to_adf(as_text(value))


def is_adf(value: Any) -> bool:
    """Whether ``value`` is an ADF document (the neutral form of rich text)."""
    return (
        isinstance(value, Mapping)
        and value.get("type") == "doc"
        and isinstance(value.get("content"), list)
    )


def as_decimal(value: Any) -> Decimal:
    """A finite number; strings are read in the C locale ("1234.5", not "1,234.5")."""
    if isinstance(value, bool):
        raise ConversionFailed(f"expected a number, got the boolean {value}")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionFailed(f"expected a finite number, got {value}")
        number = Decimal(repr(value))  # repr keeps the shortest round-trip form: 0.1, not 0.1000…
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation as error:
            raise ConversionFailed(f"{value!r} is not a number") from error
    else:
        raise ConversionFailed(f"expected a number, got {_describe(value)}")
    if not number.is_finite():
        raise ConversionFailed(f"expected a finite number, got {value!r}")
    # Beyond what a double holds, neither vendor can store it (Jira numbers are doubles,
    # Salesforce's have at most 18 digits); refusing early also keeps formatting cheap.
    if not number.is_zero() and not _SMALLEST_EXPONENT <= number.adjusted() <= _LARGEST_EXPONENT:
        raise ConversionFailed(
            f"{_describe(value)} is out of the range of numbers either side holds"
        )
    return number


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, Decimal | int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise ConversionFailed(f"{_describe(value)} is not a yes/no value")


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:
            try:
                return date.fromisoformat(text)
            except ValueError as error:
                raise ConversionFailed(f"{value!r} is not a date (expected YYYY-MM-DD)") from error
        return as_datetime(text).date()
    raise ConversionFailed(f"expected a date, got {_describe(value)}")


def as_datetime(value: Any) -> datetime:
    """An aware UTC datetime; a date means midnight UTC, a time without zone means UTC."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        moment = _parse_datetime(value)
    else:
        raise ConversionFailed(f"expected a date and time, got {_describe(value)}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Jira and Salesforce both write offsets without a colon ("+0000"), which older parsers reject.
_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def _parse_datetime(text: str) -> datetime:
    cleaned = _LONG_FRACTION.sub(r"\1", _COMPACT_OFFSET.sub(r"\1:\2", text.strip()))
    try:
        return datetime.fromisoformat(cleaned)
    except ValueError as error:
        raise ConversionFailed(
            f"{text!r} is not a date and time"
            " (expected ISO 8601, e.g. 2026-01-17T12:34:00.000+0000)"
        ) from error


def format_datetime(moment: datetime) -> str:
    """The wire form both vendors return: ``2026-01-17T12:34:00.000+0000`` (UTC, milliseconds)."""
    utc = as_datetime(moment)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def format_number(number: Decimal) -> str:
    """``1``, ``1.5``, ``1200`` — never ``1.0``, ``1.2E+3`` or ``-0``."""
    if number.is_zero():
        return "0"
    with localcontext() as context:
        context.prec = _WIDE_PRECISION  # normalize() would round to 28 digits otherwise
        return format(number.normalize(), "f")


def as_list(value: Any, *, separators: str) -> list[str]:
    """A list of strings; a string is split on any of ``separators`` (blank items dropped)."""
    if value is None:
        return []
    if isinstance(value, list):
        items = [as_text(item) for item in value]
    else:
        text = as_text(value)
        items = re.split("[" + re.escape(separators) + "]", text) if separators else [text]
    return [item.strip() for item in items if item.strip()]


def _json_number(number: Decimal) -> int | float:
    if number == number.to_integral_value() and abs(number) < 2**53:
        return int(number)
    as_float = float(number)
    if not math.isfinite(as_float):
        raise ConversionFailed(f"{format_number(number)} is too large for a JSON number")
    return as_float


def _single_name(field_name: str, value: Any) -> str:
    if isinstance(value, list):
        if len(value) != 1:
            raise ConversionFailed(f"{field_name}: expected one value, got {len(value)}: {value!r}")
        value = value[0]
    text = as_text(value).strip()
    if not text:
        raise ConversionFailed(f"{field_name}: the value is blank")
    return text


def _option_name(raw: Any) -> str:
    if isinstance(raw, Mapping):
        for key in ("value", "name", "displayName", "key"):
            if isinstance(raw.get(key), str):
                return str(raw[key])
        raise ConversionFailed(f"cannot read an option from {_describe(raw)}")
    return as_text(raw)


def _as_list(raw: Any) -> Sequence[Any]:
    if isinstance(raw, list):
        return raw
    raise ConversionFailed(f"expected a list, got {_describe(raw)}")


def _check_length(field_name: str, text: str, limit: Any, *, side: str) -> None:
    if isinstance(limit, int) and limit > 0 and len(text) > limit:
        raise ConversionFailed(
            f"{field_name}: the value is {len(text)} characters long;"
            f" {side} accepts at most {limit}",
            hint="Shorten the value at its source or map it to a longer field; ForceBridge never"
            " truncates.",
        )


def _describe(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{type(value).__name__} {shown}"
