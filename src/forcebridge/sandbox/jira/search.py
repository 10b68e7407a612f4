"""JQL evaluation: turns the syntax tree of ``jql.py`` into a predicate and an ordering over issue
documents, resolving names the way Jira does (project keys or names, status names, emails...).

Errors follow Jira: syntax problems read "Error in the JQL Query: ...", values that do not exist
read "The value 'X' does not exist for the field 'project'." (both 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forcebridge.sandbox.jira import adf
from forcebridge.sandbox.jira.catalog import Catalog, FieldDefinition
from forcebridge.sandbox.jira.issues import IssueStore
from forcebridge.sandbox.jira.jql import (
    And,
    Clause,
    EmptyValue,
    Expression,
    FunctionCall,
    JqlError,
    Not,
    Or,
    Query,
    SortKey,
    Value,
    parse,
)

Predicate = Callable[[dict[str, Any]], bool]
RELATIVE_PERIOD = re.compile(r"^([+-]?)((?:\s*\d+\s*[wdhm])+)$", re.IGNORECASE)
PERIOD_PART = re.compile(r"(\d+)\s*([wdhm])", re.IGNORECASE)
PERIOD_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")
INVALID_DATE = (
    "Date value '{value}' for field '{field}' is invalid. Valid formats include: "
    "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', "
    "or a period format e.g. '-5d', '4w 2d'."
)
TEXT_FIELDS = ("summary", "description", "comment", "text", "environment")
EQUALITY_OPERATORS = ("=", "!=", "in", "not in", "is", "is not")
COMPARISON_OPERATORS = ("<", "<=", ">", ">=")


class JqlValueError(JqlError):
    """A well-formed query naming something that does not exist (Jira's message has no prefix)."""


@dataclass(frozen=True)
class CompiledQuery:
    predicate: Predicate
    order_by: tuple[SortKey, ...]
    bounded: bool


def jql_error_message(error: JqlError) -> str:
    if isinstance(error, JqlValueError):
        return str(error)
    return f"Error in the JQL Query: {error}"


class JqlCompiler:
    """Compiles a query for one caller at one moment (``currentUser()``, relative dates)."""

    def __init__(self, catalog: Catalog, issues: IssueStore, now_ms: int, account_id: str) -> None:
        self.catalog = catalog
        self.issues = issues
        self.now_ms = now_ms
        self.account_id = account_id

    def compile(self, text: str) -> CompiledQuery:
        query: Query = parse(text)
        predicate = self._expression(query.where) if query.where is not None else _always
        for key in query.order_by:
            self._sort_value_getter(key.field)  # reject unknown sort fields early
        return CompiledQuery(predicate, query.order_by, bounded=query.where is not None)

    # -- expressions -------------------------------------------------------------------------
    def _expression(self, node: Expression) -> Predicate:
        if isinstance(node, And):
            parts = [self._expression(item) for item in node.items]
            return lambda issue: all(part(issue) for part in parts)
        if isinstance(node, Or):
            parts = [self._expression(item) for item in node.items]
            return lambda issue: any(part(issue) for part in parts)
        if isinstance(node, Not):
            inner = self._expression(node.item)
            return lambda issue: not inner(issue)
        return self._clause(node)

    def _clause(self, clause: Clause) -> Predicate:
        name = clause.field.lower()
        if name in ("key", "issuekey", "id"):
            return self._reference_clause(clause, "key", lambda issue: issue["id"])
        if name in TEXT_FIELDS:
            return self._text_clause(clause, self._text_getter(name))
        definition = self.catalog.field_for_clause(clause.field)
        if definition is None:
            raise JqlError(
                f"Field '{clause.field}' does not exist or you do not have permission to view it."
            )
        getter = self._getter(definition)
        kind = definition.kind
        if definition.id in ("project", "status", "issuetype", "priority") or kind in (
            "user",
            "select",
        ):
            return self._reference_clause(clause, definition.id, getter, definition)
        if kind in ("labels", "multiselect"):
            return self._multi_clause(clause, definition, getter)
        if kind in ("datetime", "date", "number"):
            return self._ordered_clause(clause, definition, getter)
        if kind in ("text", "textarea"):
            return self._text_clause(
                clause, lambda issue: _plain(getter(issue)), empty_getter=getter
            )
        raise JqlError(f"Field '{clause.field}' is not searchable in the sandbox.")

    def _getter(self, definition: FieldDefinition) -> Callable[[dict[str, Any]], Any]:
        field_id = definition.id
        if field_id in ("created", "updated"):
            return lambda issue: issue[field_id]
        if field_id == "resolutiondate":
            return lambda issue: None
        if definition.kind == "date":
            return lambda issue: _date_to_ms(issue["custom"].get(field_id))
        return lambda issue: (
            IssueStore.stored_value(issue, field_id) if field_id != "creator" else issue["creator"]
        )

    def _text_getter(self, name: str) -> Callable[[dict[str, Any]], str]:
        if name == "summary":
            return lambda issue: str(issue["summary"])
        if name == "description":
            return lambda issue: adf.document_to_text(issue["description"])
        if name == "comment":
            return lambda issue: "\n".join(
                adf.document_to_text(c["body"]) for c in issue["comments"]
            )
        text_fields = [
            f.id
            for f in self.catalog.fields.values()
            if f.custom and f.kind in ("text", "textarea")
        ]

        def all_text(issue: dict[str, Any]) -> str:
            parts = [issue["summary"], adf.document_to_text(issue["description"])]
            parts += [adf.document_to_text(c["body"]) for c in issue["comments"]]
            parts += [_plain(issue["custom"].get(field_id)) for field_id in text_fields]
            return "\n".join(parts)

        return all_text

    # -- value resolution --------------------------------------------------------------------
    def _resolve(
        self, field: str, operand: Value | FunctionCall, definition: FieldDefinition | None
    ) -> Any:
        if isinstance(operand, FunctionCall):
            function = operand.name.lower()
            if function == "currentuser" and definition is not None and definition.kind == "user":
                return self.account_id
            if function == "now":
                return self.now_ms
            raise JqlError(f"Unable to find JQL function '{operand.name}()'.")
        text = operand.text
        not_found = JqlValueError(f"The value '{text}' does not exist for the field '{field}'.")
        if field == "key":
            issue = self.issues.find(text)
            if issue is None:
                raise JqlValueError(f"An issue with key '{text}' does not exist for field 'key'.")
            return issue["id"]
        lookups: dict[str, Callable[[str], dict[str, Any] | None]] = {
            "project": self.catalog.project_by_name_or_key,
            "status": self.catalog.status,
            "issuetype": self.catalog.issue_type,
            "priority": self.catalog.priority,
        }
        if field in lookups:
            found = lookups[field](text)
            if found is None:
                raise not_found
            return found["id"]
        assert definition is not None
        if definition.kind == "user":
            user = self.catalog.user(text)
            if user is None:
                raise not_found
            return user["accountId"]
        if definition.kind in ("select", "multiselect"):
            option = next(
                (
                    o
                    for o in definition.options
                    if text in (o["id"], o["value"]) or o["value"].lower() == text.lower()
                ),
                None,
            )
            if option is None:
                raise not_found
            return option["id"]
        if definition.kind == "number":
            try:
                return float(text)
            except ValueError:
                raise JqlValueError(
                    f"The value '{text}' is not a valid number for '{field}'."
                ) from None
        if definition.kind in ("datetime", "date"):
            return self._date_value(text, field)
        return text

    def _date_value(self, text: str, field: str) -> int:
        relative = RELATIVE_PERIOD.match(text.strip())
        if relative:
            sign = -1 if relative.group(1) == "-" else 1
            offset = sum(
                int(amount) * PERIOD_MS[unit.lower()]
                for amount, unit in PERIOD_PART.findall(relative.group(2))
            )
            return self.now_ms + sign * offset
        for pattern in DATE_FORMATS:
            try:
                moment = datetime.strptime(text.strip(), pattern).replace(tzinfo=UTC)
            except ValueError:
                continue
            return int(moment.timestamp() * 1000)
        raise JqlValueError(INVALID_DATE.format(value=text, field=field))

    def _values(self, clause: Clause, definition: FieldDefinition | None, field: str) -> list[Any]:
        operand = clause.operand
        items = operand if isinstance(operand, tuple) else (operand,)
        values: list[Any] = []
        for item in items:
            if isinstance(item, EmptyValue):
                values.append(None)
            else:
                values.append(self._resolve(field, item, definition))
        return values

    # -- clause kinds ------------------------------------------------------------------------
    def _unsupported(self, clause: Clause) -> JqlError:
        return JqlError(
            f"The operator '{clause.operator.upper()}' is not supported by the "
            f"'{clause.field}' field."
        )

    def _reference_clause(
        self,
        clause: Clause,
        field: str,
        getter: Callable[[dict[str, Any]], Any],
        definition: FieldDefinition | None = None,
    ) -> Predicate:
        if clause.operator not in EQUALITY_OPERATORS:
            raise self._unsupported(clause)
        values = self._values(clause, definition, field)
        return _equality(clause.operator, values, getter)

    def _multi_clause(
        self, clause: Clause, definition: FieldDefinition, getter: Callable[[dict[str, Any]], Any]
    ) -> Predicate:
        if clause.operator not in EQUALITY_OPERATORS:
            raise self._unsupported(clause)
        values = set(self._values(clause, definition, definition.id))
        operator = clause.operator
        wants_empty = None in values
        values.discard(None)

        def matches(issue: dict[str, Any]) -> bool:
            present = set(getter(issue) or [])
            hit = bool(present & values) or (wants_empty and not present)
            if operator in ("=", "in", "is"):
                return hit
            if wants_empty:  # IS NOT EMPTY, NOT IN (x, EMPTY)
                return not hit
            # != and NOT IN never match an empty field in Jira.
            return bool(present) and not present & values

        return matches

    def _ordered_clause(
        self, clause: Clause, definition: FieldDefinition, getter: Callable[[dict[str, Any]], Any]
    ) -> Predicate:
        if clause.operator in EQUALITY_OPERATORS:
            values = self._values(clause, definition, clause.field)
            return _equality(clause.operator, values, getter)
        if clause.operator not in COMPARISON_OPERATORS or isinstance(
            clause.operand, tuple | EmptyValue
        ):
            raise self._unsupported(clause)
        assert isinstance(clause.operand, Value | FunctionCall)
        bound = self._resolve(clause.field, clause.operand, definition)
        compare: Callable[[Any, Any], bool] = {
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }[clause.operator]

        def matches(issue: dict[str, Any]) -> bool:
            value = getter(issue)
            return value is not None and compare(value, bound)

        return matches

    def _text_clause(
        self,
        clause: Clause,
        text_getter: Callable[[dict[str, Any]], str],
        empty_getter: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Predicate:
        operator = clause.operator
        if operator in ("is", "is not") or (
            operator in ("=", "!=") and isinstance(clause.operand, EmptyValue)
        ):
            empty = (
                (lambda issue: not text_getter(issue))
                if empty_getter is None
                else (lambda issue: empty_getter(issue) in (None, ""))
            )
            return empty if operator in ("is", "=") else (lambda issue: not empty(issue))
        if (
            operator in ("=", "!=")
            and empty_getter is not None
            and isinstance(clause.operand, Value)
        ):
            # Exact match is only valid on single-line text custom fields.
            expected = clause.operand.text
            if operator == "=":
                return lambda issue: text_getter(issue) == expected
            return lambda issue: bool(text_getter(issue)) and text_getter(issue) != expected
        if operator not in ("~", "!~") or not isinstance(clause.operand, Value):
            raise self._unsupported(clause)
        matcher = _text_matcher(clause.operand.text)
        if operator == "~":
            return lambda issue: matcher(text_getter(issue))
        return lambda issue: not matcher(text_getter(issue))

    # -- ordering ----------------------------------------------------------------------------
    def _sort_value_getter(self, field: str) -> Callable[[dict[str, Any]], Any]:
        name = field.lower()
        if name in ("key", "issuekey"):
            return lambda issue: (
                issue["key"].rsplit("-", 1)[0],
                int(issue["key"].rsplit("-", 1)[1]),
            )
        if name == "id":
            return lambda issue: int(issue["id"])
        definition = self.catalog.field_for_clause(field)
        if definition is None:
            raise JqlError(
                f"Field '{field}' does not exist or you do not have permission to view it."
            )
        if definition.id == "priority":
            return lambda issue: self.catalog.priority_rank.get(issue["priority_id"], 99)
        if definition.id == "status":
            return lambda issue: self.catalog.statuses[issue["status_id"]]["name"].lower()
        if definition.id == "issuetype":
            return lambda issue: self.catalog.issue_types[issue["issuetype_id"]]["name"].lower()
        if definition.id == "project":
            return lambda issue: self.catalog.projects[issue["project_id"]]["key"]
        if definition.kind == "user":
            getter = self._getter(definition)
            return lambda issue: (self.catalog.users.get(getter(issue)) or {}).get("displayName")
        if definition.kind in ("text", "textarea"):
            getter = self._getter(definition)
            return lambda issue: _plain(getter(issue)).lower() or None
        if definition.kind in ("labels", "multiselect"):
            getter = self._getter(definition)
            return lambda issue: ",".join(getter(issue) or []) or None
        return self._getter(definition)

    def order(
        self, issues: list[dict[str, Any]], order_by: tuple[SortKey, ...]
    ) -> list[dict[str, Any]]:
        if not order_by:
            # Without ORDER BY Jira returns the newest issues first.
            return sorted(
                issues, key=lambda issue: (issue["created"], int(issue["id"])), reverse=True
            )
        ordered = list(issues)
        for key in reversed(order_by):
            getter = self._sort_value_getter(key.field)

            def sort_key(
                issue: dict[str, Any], getter: Callable[[dict[str, Any]], Any] = getter
            ) -> Any:
                value = getter(issue)
                return (1, 0) if value is None else (0, value)

            present = [issue for issue in ordered if getter(issue) is not None]
            missing = [issue for issue in ordered if getter(issue) is None]
            present.sort(key=sort_key, reverse=key.descending)
            ordered = present + missing  # empty values last, whatever the direction
        return ordered


def _always(issue: dict[str, Any]) -> bool:
    return True


def _equality(
    operator: str, values: list[Any], getter: Callable[[dict[str, Any]], Any]
) -> Predicate:
    wanted = set(values)
    if operator in ("=", "in", "is"):
        return lambda issue: getter(issue) in wanted
    # != and NOT IN skip empty values unless EMPTY itself was excluded.
    if None in wanted:
        return lambda issue: getter(issue) not in wanted
    return lambda issue: getter(issue) is not None and getter(issue) not in wanted


def _date_to_ms(value: Any) -> int | None:
    if value is None:
        return None
    moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return adf.document_to_text(value)
    return str(value)


_WORD = re.compile(r"[\w]+", re.UNICODE)
_STEM_SUFFIXES = ("ing", "es", "ed", "s")


def _stem(word: str) -> str:
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _text_matcher(query: str) -> Callable[[str], bool]:
    """Jira's text search, simplified: every term must occur as a word (stemmed, case-insensitive);
    ``term*`` matches a prefix; a query wrapped in double quotes matches as a phrase."""
    stripped = query.strip()
    if len(stripped) >= 2 and stripped.startswith('"') and stripped.endswith('"'):
        phrase = " ".join(_WORD.findall(stripped[1:-1].lower()))
        return lambda text: phrase in " ".join(_WORD.findall(text.lower()))
    terms = re.findall(r"[\w]+\*?", stripped.lower())
    if not terms:
        return lambda text: False

    def matches(text: str) -> bool:
        words = _WORD.findall(text.lower())
        stems = {_stem(word) for word in words}
        for term in terms:
            if term.endswith("*"):
                prefix = term[:-1]
                if not any(word.startswith(prefix) for word in words):
                    return False
            elif _stem(term) not in stems:
                return False
        return True

    return matches
