"""Field values: parsing what clients send, storing, rendering per API version, and describing
changes for the changelog.

Stored forms (inside the issue document): numbers as numbers, text as str, rich text as an ADF
document, select as an option id, multiselect as option ids, date as ``yyyy-MM-dd``, datetime as
epoch milliseconds, users as accountIds, labels as a list of str.
"""

from __future__ import annotations

import math
from typing import Any

from forcebridge.sandbox.jira import adf
from forcebridge.sandbox.jira.catalog import Catalog, FieldDefinition
from forcebridge.sandbox.jira.wire import format_timestamp, parse_date, parse_timestamp

MAX_TEXT_FIELD_LENGTH = 255
MAX_RICH_TEXT_LENGTH = 32_767
NOT_AN_ADF_DOCUMENT = (
    "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
)


class FieldValueError(ValueError):
    """A value that the field does not accept; the message is Jira's text for ``errors[field]``."""


def cannot_be_set(field_id: str) -> str:
    return f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."


def parse_rich_text(raw: Any, version: str) -> dict[str, Any] | None:
    """Rich text: a string in REST v2, an ADF document in REST v3; None clears it."""
    if raw is None:
        return None
    document: dict[str, Any] | None
    if version == "3":
        if not isinstance(raw, dict):
            raise FieldValueError(NOT_AN_ADF_DOCUMENT)
        try:
            document = adf.validate_document(raw)
        except adf.InvalidDocument as error:
            raise FieldValueError(f"{NOT_AN_ADF_DOCUMENT}: {error}") from None
        text_length = len(adf.document_to_text(document))
    else:
        if not isinstance(raw, str):
            raise FieldValueError("Operation value must be a string")
        text_length = len(raw)
        document = adf.text_to_document(raw) if raw else None
    if text_length > MAX_RICH_TEXT_LENGTH:
        raise FieldValueError(
            "The entered text is too long. It exceeds the allowed limit of 32,767 characters."
        )
    return document


def render_rich_text(document: dict[str, Any] | None, version: str) -> Any:
    if document is None:
        return None
    return document if version == "3" else adf.document_to_text(document)


def _reference(raw: Any, keys: tuple[str, ...]) -> Any:
    """The id/name/key inside a reference object like ``{"id": "10000"}`` (or a bare value)."""
    if isinstance(raw, dict):
        for key in keys:
            if key in raw and isinstance(raw[key], str | int) and not isinstance(raw[key], bool):
                return str(raw[key])
        return None
    if isinstance(raw, str | int) and not isinstance(raw, bool):
        return str(raw)
    return None


def parse_user(catalog: Catalog, raw: Any) -> str | None:
    if raw is None:
        return None
    account_id = _reference(raw, ("accountId", "id"))
    if account_id is None or account_id not in catalog.users:
        raise FieldValueError(
            "Specified user does not exist or you do not have required permissions"
        )
    return str(account_id)


def parse_labels(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FieldValueError("Operation value must be a list of labels")
    return [parse_label(label) for label in raw]


def parse_label(raw: Any) -> str:
    if not isinstance(raw, str) or not raw:
        raise FieldValueError("Operation value must be a non-empty string")
    if any(character.isspace() for character in raw):
        raise FieldValueError(f"The label '{raw}' contains spaces which is invalid.")
    if len(raw) > MAX_TEXT_FIELD_LENGTH:
        raise FieldValueError("The label is too long (255 characters at most).")
    return raw


def parse_option(definition: FieldDefinition, raw: Any) -> str:
    reference = _reference(raw, ("id", "value"))
    option = definition.option_by_id_or_value(reference) if reference is not None else None
    if option is None:
        shown = raw.get("value", raw.get("id")) if isinstance(raw, dict) else raw
        raise FieldValueError(f"Option value '{shown}' is not valid")
    return option["id"]


def parse_value(catalog: Catalog, definition: FieldDefinition, raw: Any, version: str) -> Any:
    """The stored form of ``raw`` for a settable field; raises :class:`FieldValueError`."""
    kind = definition.kind
    if definition.id == "summary":
        if not isinstance(raw, str) or not raw.strip():
            raise FieldValueError("You must specify a summary of the issue.")
        if len(raw) > MAX_TEXT_FIELD_LENGTH:
            raise FieldValueError("Summary must be less than 255 characters.")
        if "\n" in raw or "\r" in raw:
            raise FieldValueError("The summary is invalid because it contains newline characters.")
        return raw
    if definition.id == "reporter" and raw is None:
        raise FieldValueError("Reporter is required.")
    if kind == "textarea":
        return parse_rich_text(raw, version)
    if raw is None and kind not in ("priority",):
        return [] if kind in ("labels", "multiselect") else None
    if kind == "text":
        if not isinstance(raw, str):
            raise FieldValueError("Operation value must be a string")
        if len(raw) > MAX_TEXT_FIELD_LENGTH:
            raise FieldValueError("You can only enter 255 characters for this field.")
        return raw
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise FieldValueError("Operation value must be a number")
        return raw
    if kind == "select":
        return parse_option(definition, raw)
    if kind == "multiselect":
        if not isinstance(raw, list):
            raise FieldValueError("Operation value must be a list of options")
        return list(dict.fromkeys(parse_option(definition, item) for item in raw))
    if kind == "date":
        parsed_date = parse_date(raw) if isinstance(raw, str) else None
        if parsed_date is None:
            raise FieldValueError(f"Error parsing date string: {raw}")
        return parsed_date
    if kind == "datetime":
        parsed_time = parse_timestamp(raw) if isinstance(raw, str) else None
        if parsed_time is None:
            raise FieldValueError(f"Error parsing time: {raw}")
        return parsed_time
    if kind == "user":
        return parse_user(catalog, raw)
    if kind == "labels":
        return list(dict.fromkeys(parse_labels(raw)))
    if kind == "priority":
        reference = _reference(raw, ("id", "name"))
        priority = catalog.priority(reference) if reference is not None else None
        if priority is None:
            raise FieldValueError("Specify the Priority (id or name) as an existing priority.")
        return priority["id"]
    raise FieldValueError(cannot_be_set(definition.id))


def render_value(
    catalog: Catalog, definition: FieldDefinition, stored: Any, base_url: str, version: str
) -> Any:
    """The JSON of a stored custom-field value (system fields are rendered by the issue view)."""
    kind = definition.kind
    if kind == "textarea":
        return render_rich_text(stored, version)
    if stored is None:
        return None
    if kind == "select":
        option = definition.option_by_id_or_value(stored)
        return catalog.option_bean(option, base_url, version) if option else None
    if kind == "multiselect":
        options = [definition.option_by_id_or_value(option_id) for option_id in stored]
        return [
            catalog.option_bean(option, base_url, version) for option in options if option
        ] or None
    if kind == "datetime":
        return format_timestamp(stored)
    if kind == "user":
        return catalog.user_bean(stored, base_url)
    if kind == "labels":
        return list(stored)
    return stored


def describe(
    catalog: Catalog, definition: FieldDefinition, stored: Any
) -> tuple[str | None, str | None]:
    """``(from|to, fromString|toString)`` of a value, as in changelog items."""
    kind = definition.kind
    if stored is None or stored == []:
        return None, None
    if kind == "textarea":
        return None, adf.document_to_text(stored)
    if kind in ("text", "date"):
        return None, str(stored)
    if kind == "number":
        return None, str(stored)
    if kind == "labels":
        return None, " ".join(stored)
    if kind == "select":
        option = definition.option_by_id_or_value(stored)
        return str(stored), option["value"] if option else None
    if kind == "multiselect":
        values = [definition.option_by_id_or_value(option_id) for option_id in stored]
        return ",".join(stored), ",".join(option["value"] for option in values if option)
    if kind == "datetime":
        return format_timestamp(stored), format_timestamp(stored)
    if kind == "user":
        user = catalog.users.get(stored)
        return str(stored), user["displayName"] if user else None
    if kind == "priority":
        return str(stored), catalog.priorities[stored]["name"]
    if kind == "status":
        return str(stored), catalog.statuses[stored]["name"]
    if kind == "issuetype":
        return str(stored), catalog.issue_types[stored]["name"]
    if kind == "project":
        return str(stored), catalog.projects[stored]["name"]
    return None, str(stored)


def changelog_item(
    catalog: Catalog, definition: FieldDefinition, before: Any, after: Any
) -> dict[str, Any]:
    from_value, from_string = describe(catalog, definition, before)
    to_value, to_string = describe(catalog, definition, after)
    return {
        "field": definition.name if definition.custom else definition.id,
        "fieldtype": "custom" if definition.custom else "jira",
        "fieldId": definition.id,
        "from": from_value,
        "fromString": from_string,
        "to": to_value,
        "toString": to_string,
    }
