"""The field-mapping engine: which values a push or a pull writes, and what it cannot write.

Pure functions over the vendors' JSON (a Jira issue from REST v3, the ``GET /field`` list, a
Salesforce record and its object's describe) and the mapping rows; no database, no HTTP. The sync
engine calls :func:`map_push` or :func:`map_pull`, compares each value's :func:`value_fingerprint`
with the one it stored after the last sync, and writes only what changed.

The rule this module keeps above all: a field that cannot be converted is reported as a
:class:`FieldProblem` and left out of the values, so the target keeps what it had. Nothing is
emptied because a value was missing, of the wrong type or not in a value map (SFJC's most
damaging failure, sfjc-and-peers.md §c.4). Status is never part of an edit: a pull returns the
status the mapping asks for, and the engine reaches it with :func:`choose_transition`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from forcebridge.errors import ValidationFailed
from forcebridge.models import FieldMapping
from forcebridge.sync import conversion
from forcebridge.sync.conversion import ConversionFailed
from forcebridge.sync.rich_text import adf_to_html

DIRECTIONS = ("push", "pull", "both")
UNMAPPED_POLICIES = ("copy", "set", "empty", "error")
CONFLICT_POLICIES = ("newest", "salesforce", "jira")


@dataclass(frozen=True)
class FieldRule:
    """One field mapping as the engine applies it (a detached copy of a ``FieldMapping`` row)."""

    jira_field: str
    salesforce_field: str
    direction: str = "both"
    value_map: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    unmapped_push: str = "copy"
    unmapped_push_value: str | None = None
    unmapped_pull: str = "copy"
    unmapped_pull_value: str | None = None
    conflict_policy: str = "newest"

    def __post_init__(self) -> None:
        where = f"mapping {self.jira_field} ↔ {self.salesforce_field}"
        if self.direction not in DIRECTIONS:
            raise ValidationFailed(
                f"{where}: direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}"
            )
        for policy in (self.unmapped_push, self.unmapped_pull):
            if policy not in UNMAPPED_POLICIES:
                raise ValidationFailed(
                    f"{where}: unmapped-value policy {policy!r} is not one of"
                    f" {', '.join(UNMAPPED_POLICIES)}"
                )
        if self.conflict_policy not in CONFLICT_POLICIES:
            raise ValidationFailed(
                f"{where}: conflict policy {self.conflict_policy!r} is not one of"
                f" {', '.join(CONFLICT_POLICIES)}"
            )

    @classmethod
    def from_model(cls, row: FieldMapping) -> FieldRule:
        raw_map = row.value_map if isinstance(row.value_map, Mapping) else {}
        value_map = {
            direction: {
                str(key): "" if value is None else str(value) for key, value in table.items()
            }
            for direction, table in raw_map.items()
            if direction in ("push", "pull") and isinstance(table, Mapping)
        }
        return cls(
            jira_field=row.jira_field,
            salesforce_field=row.salesforce_field,
            direction=row.direction or "both",
            value_map=value_map,
            unmapped_push=row.unmapped_push or "copy",
            unmapped_push_value=row.unmapped_push_value,
            unmapped_pull=row.unmapped_pull or "copy",
            unmapped_pull_value=row.unmapped_pull_value,
            conflict_policy=row.conflict_policy or "newest",
        )

    def applies_to(self, direction: Literal["push", "pull"]) -> bool:
        return self.direction in (direction, "both")


@dataclass(frozen=True)
class FieldProblem:
    """A field that was left out of a sync, with why and (when known) how to fix it."""

    field: str
    value: Any
    message: str
    hint: str | None = None


@dataclass
class MappedValues:
    """What a push or pull should write: target field → wire value, plus the fields it cannot."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[FieldProblem] = field(default_factory=list)
    transition_to_status: str | None = None  # pull: the Jira status the mapped value asks for


def _no_email(_account_id: str) -> str | None:
    return None


def _no_account(_email: str) -> str | None:
    return None


# --------------------------------------------------------------------------------------------
# Push: Jira issue → Salesforce record
# --------------------------------------------------------------------------------------------


def map_push(
    rules: Sequence[FieldRule],
    issue: dict[str, Any],
    jira_fields: Sequence[dict[str, Any]],
    describe: dict[str, Any],
    *,
    email_for_account: Callable[[str], str | None] = _no_email,
) -> MappedValues:
    """The Salesforce field values for a Jira issue (rules with direction push or both)."""
    result = MappedValues()
    salesforce_fields = _salesforce_fields(describe)
    object_name = str(describe.get("name") or "the object")
    for rule in rules:
        if not rule.applies_to("push"):
            continue
        target = salesforce_fields.get(rule.salesforce_field.lower())
        target_name = str(target.get("name")) if target else rule.salesforce_field
        raw: Any = None
        try:
            if target is None:
                raise _missing_salesforce_field(rule.salesforce_field, object_name)
            if not target.get("updateable", False):
                raise ConversionFailed(
                    f"{object_name}.{target_name} is read-only in Salesforce",
                    hint="Set the mapping's direction to pull, or map a writable field.",
                )
            jira_field = _find_jira_field(jira_fields, rule.jira_field)
            kind = conversion.jira_field_kind(jira_field)
            raw = _jira_raw_value(issue, str(jira_field["id"]))
            neutral = conversion.read_jira_value(kind, raw)
            if kind == conversion.JIRA_USER and neutral is not None:
                neutral = _email_of_user(neutral, email_for_account)
            mapped = _apply_value_map(rule, "push", neutral, target_name)
            result.values[target_name] = conversion.write_salesforce_value(target, mapped)
        except ConversionFailed as error:
            result.problems.append(_problem(target_name, raw, error))
    return result


def _salesforce_fields(describe: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    # Salesforce API names are case-insensitive; admins type them in any case.
    return {
        str(entry.get("name", "")).lower(): entry
        for entry in describe.get("fields") or []
        if isinstance(entry, Mapping) and entry.get("name")
    }


def _missing_salesforce_field(name: str, object_name: str) -> ConversionFailed:
    return ConversionFailed(
        f"{object_name} has no field {name!r}, or the integration user cannot see it",
        hint="Check the field's API name and its field-level security for the integration user,"
        " then refresh the object's metadata.",
    )


def _find_jira_field(jira_fields: Sequence[Mapping[str, Any]], wanted: str) -> Mapping[str, Any]:
    if wanted in conversion.JIRA_ISSUE_ATTRIBUTES:
        return {"id": wanted}
    by_id = {str(entry.get("id")): entry for entry in jira_fields if isinstance(entry, Mapping)}
    if wanted in by_id:
        return by_id[wanted]
    # Admins sometimes write the display name ("Story Points") instead of the id.
    for entry in by_id.values():
        if str(entry.get("name", "")).casefold() == wanted.casefold():
            return entry
    raise ConversionFailed(
        f"Jira has no field {wanted!r}, or the integration user cannot see it",
        hint="Use the field id (e.g. customfield_10010) from Jira's field list.",
    )


def _jira_raw_value(issue: Mapping[str, Any], field_id: str) -> Any:
    if field_id in conversion.JIRA_ISSUE_ATTRIBUTES:
        return issue.get(field_id)
    fields = issue.get("fields")
    if not isinstance(fields, Mapping) or field_id not in fields:
        # Absent is not empty: the field was not fetched, or is not on this issue type's
        # screens. Reading it as empty would wipe the Salesforce value.
        raise ConversionFailed(
            f"the Jira issue has no value for {field_id!r} (not fetched, or not on its screens)",
            hint="Add the field to the issue type's screens in Jira.",
        )
    return fields[field_id]


def _email_of_user(user: Any, email_for_account: Callable[[str], str | None]) -> str:
    account_id = str(user.get("accountId", "")) if isinstance(user, Mapping) else ""
    email = email_for_account(account_id) if account_id else None
    if not email and isinstance(user, Mapping) and isinstance(user.get("emailAddress"), str):
        email = user["emailAddress"]
    if not email:
        name = user.get("displayName", account_id) if isinstance(user, Mapping) else account_id
        raise ConversionFailed(
            f"no email address is known for the Jira user {name!r}",
            hint="The user's Atlassian profile hides their email; ask them to make it visible to"
            " the integration, or map the user through a value map.",
        )
    return str(email)


# --------------------------------------------------------------------------------------------
# Pull: Salesforce record → Jira issue edit
# --------------------------------------------------------------------------------------------


def map_pull(
    rules: Sequence[FieldRule],
    record: dict[str, Any],
    describe: dict[str, Any],
    jira_fields: Sequence[dict[str, Any]],
    *,
    account_for_email: Callable[[str], str | None] = _no_account,
) -> MappedValues:
    """The ``fields`` of a Jira edit for a Salesforce record, and the status it asks for."""
    result = MappedValues()
    salesforce_fields = _salesforce_fields(describe)
    object_name = str(describe.get("name") or "the object")
    for rule in rules:
        if not rule.applies_to("pull"):
            continue
        target_name = rule.jira_field
        raw: Any = None
        try:
            jira_field = _find_jira_field(jira_fields, rule.jira_field)
            target_name = str(jira_field["id"])
            kind = conversion.jira_field_kind(jira_field)
            if kind in (conversion.JIRA_READ_ONLY, conversion.JIRA_UNSUPPORTED):
                raise ConversionFailed(
                    f"{target_name}: this Jira field cannot be written",
                    hint="Set the mapping's direction to push.",
                )
            source = salesforce_fields.get(rule.salesforce_field.lower())
            if source is None:
                raise _missing_salesforce_field(rule.salesforce_field, object_name)
            raw = _salesforce_raw_value(record, str(source["name"]))
            neutral = conversion.read_salesforce_value(source, raw)
            mapped = _apply_value_map(rule, "pull", neutral, target_name)
            if kind == conversion.JIRA_STATUS:
                status = _status_name(mapped, rule)
                if status is not None:
                    result.transition_to_status = status
            elif kind == conversion.JIRA_USER:
                result.values[target_name] = _jira_user(mapped, account_for_email)
            else:
                result.values[target_name] = conversion.write_jira_value(
                    kind, mapped, field_name=target_name
                )
        except ConversionFailed as error:
            result.problems.append(_problem(target_name, raw, error))
    return result


def _salesforce_raw_value(record: Mapping[str, Any], name: str) -> Any:
    if name in record:
        return record[name]
    for key, value in record.items():
        if key.lower() == name.lower():
            return value
    # As for Jira: a field missing from the record was not queried; it is not empty.
    raise ConversionFailed(
        f"the Salesforce record has no value for {name!r} (not queried)",
        hint="This is a bug in the query that read the record, or the field was removed.",
    )


def _status_name(mapped: Any, rule: FieldRule) -> str | None:
    if mapped is None or mapped == "" or mapped == []:
        if rule.unmapped_pull == "empty" and rule.value_map.get("pull"):
            raise ConversionFailed(
                "status: a Jira issue always has a status; it cannot be set empty",
                hint="Use the 'set' or 'error' unmapped-value policy for status.",
            )
        return None  # an empty Salesforce value asks for no transition
    names = mapped if isinstance(mapped, list) else [mapped]
    if len(names) != 1:
        raise ConversionFailed(f"status: expected one status, got {mapped!r}")
    return conversion.as_text(names[0]).strip() or None


def _jira_user(mapped: Any, account_for_email: Callable[[str], str | None]) -> Any:
    if mapped is None or mapped == "":
        return None  # unassigns
    email = conversion.as_text(mapped).strip()
    if "@" not in email:
        raise ConversionFailed(
            f"{email!r} is not an email address, so no Jira user can be found for it",
            hint="Map a Salesforce email field to Jira user fields.",
        )
    account_id = account_for_email(email)
    if not account_id:
        raise ConversionFailed(
            f"no Jira user has the email address {email!r}",
            hint="Invite the user to Jira, make their email visible, or add a value map.",
        )
    return {"accountId": account_id}


# --------------------------------------------------------------------------------------------
# Value maps and the unmapped-value policy
# --------------------------------------------------------------------------------------------


def _apply_value_map(
    rule: FieldRule, direction: Literal["push", "pull"], value: Any, target_name: str
) -> Any:
    table = rule.value_map.get(direction) or {}
    if not table or conversion.is_adf(value):  # no map, or rich text (maps are for choices)
        return value
    policy = rule.unmapped_push if direction == "push" else rule.unmapped_pull
    replacement = rule.unmapped_push_value if direction == "push" else rule.unmapped_pull_value
    if isinstance(value, list):
        mapped_items: list[Any] = []
        for item in value:
            # Per value: copy keeps it, set replaces it, empty drops it, error fails the field.
            found, mapped = _lookup(table, item)
            if found:
                mapped_items.append(mapped)
            elif policy == "copy":
                mapped_items.append(item)
            elif policy == "set":
                if replacement:
                    mapped_items.append(replacement)
            elif policy == "error":
                raise _unmapped(target_name, item)
        return list(dict.fromkeys(mapped_items))
    if value is None:
        found, mapped = _lookup(table, "")
        return mapped if found else None
    found, mapped = _lookup(table, value)
    if found:
        return mapped
    if policy == "copy":
        return value
    if policy == "set":
        return replacement if replacement not in (None, "") else None
    if policy == "empty":
        return None  # the writer refuses it for fields that cannot be empty
    raise _unmapped(target_name, value)


def _lookup(table: Mapping[str, str], value: Any) -> tuple[bool, str | None]:
    """Whether the map holds ``value`` (exactly, else ignoring case), and its mapped value.

    A value mapped to "" means "empty" (None), as in SFJC's value-mapping screen.
    """
    key = conversion.as_text(value)
    if key in table:
        return True, table[key] or None
    folded = key.casefold()
    for candidate, mapped in table.items():
        if candidate.casefold() == folded:
            return True, mapped or None
    return False, None


def _unmapped(target_name: str, value: Any) -> ConversionFailed:
    return ConversionFailed(
        f"{target_name}: value '{conversion.as_text(value)}' has no mapping; add it to the value"
        " map or change the unmapped-value policy"
    )


def _problem(target_name: str, raw: Any, error: ConversionFailed) -> FieldProblem:
    message = error.message
    if not message.startswith(f"{target_name}:"):
        message = f"{target_name}: {message}"
    return FieldProblem(field=target_name, value=raw, message=message, hint=error.hint)


# --------------------------------------------------------------------------------------------
# Echo suppression, conflicts, transitions
# --------------------------------------------------------------------------------------------


def value_fingerprint(value: Any) -> str:
    """A SHA-256 of the value's canonical form: equal for values that mean the same.

    Dict key order does not matter; numbers compare by value (``1``, ``1.0`` and
    ``Decimal("1.00")`` are one number); an ADF document is compared by what it renders
    (node splits, ``localId`` attributes and key order do not count, formatting does).
    """
    canonical = json.dumps(
        _canonical(value), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _canonical(value: Any) -> Any:
    # Every scalar is tagged by kind, so the string "1" and the number 1 differ.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        try:
            return "n:" + conversion.format_number(conversion.as_decimal(value))
        except ConversionFailed:
            return "n:" + str(value)  # NaN and infinities: only equal to themselves
    if isinstance(value, str):
        return "s:" + value
    if isinstance(value, datetime):
        return "t:" + conversion.format_datetime(value)
    if isinstance(value, date):
        return "d:" + value.isoformat()
    if isinstance(value, Mapping):
        if conversion.is_adf(value):
            return {"adf": adf_to_html(dict(value))}
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return "r:" + repr(value)


def resolve_conflict(
    policy: str,
    *,
    jira_changed_at: datetime | None,
    salesforce_changed_at: datetime | None,
) -> Literal["jira", "salesforce"]:
    """Which side wins a field both sides changed since the last sync.

    ``newest``: the later change (a tie, or no time on either side, goes to Jira, where the work
    is tracked); a side without a time loses to one with a time. ``salesforce``/``jira``: that side.
    """
    if policy == "jira":
        return "jira"
    if policy == "salesforce":
        return "salesforce"
    if policy != "newest":
        raise ValidationFailed(
            f"conflict policy {policy!r} is not one of {', '.join(CONFLICT_POLICIES)}"
        )
    if salesforce_changed_at is None:
        return "jira"
    if jira_changed_at is None:
        return "salesforce"
    return "salesforce" if _aware(salesforce_changed_at) > _aware(jira_changed_at) else "jira"


def _aware(moment: datetime) -> datetime:
    # Naive times come from our own store, which keeps UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def choose_transition(
    transitions: Sequence[dict[str, Any]], target_status: str
) -> dict[str, Any] | None:
    """The transition (from GET .../transitions) leading to ``target_status``, or None.

    Matches ``to.name`` case-insensitively; transitions Jira marks unavailable are skipped. None
    means the status is not reachable in one step from where the issue is.
    """
    wanted = target_status.strip().casefold()
    if not wanted:
        return None
    for transition in transitions:
        if not isinstance(transition, Mapping) or transition.get("isAvailable") is False:
            continue
        destination = transition.get("to")
        if isinstance(destination, Mapping):
            name = str(destination.get("name", "")).strip().casefold()
            if name == wanted:
                return transition
    return None
