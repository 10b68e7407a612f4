"""A SOQL subset: tokenizer, recursive-descent parser, semantic checks and evaluation.

Supported: ``SELECT`` fields, parent relationship paths (``Account.Name``), ``FIELDS(ALL|STANDARD|
CUSTOM)``, ``COUNT()`` and single-row aggregates (``COUNT(f)``, ``MIN``, ``MAX``, ``SUM``, ``AVG``,
``COUNT_DISTINCT`` with optional aliases), child subqueries (``(SELECT Id FROM CaseComments)``),
``FROM`` with an optional alias, ``WHERE`` with ``= != <> < <= > >= LIKE IN NOT IN INCLUDES
EXCLUDES`` (``IN`` / ``NOT IN`` also with a semi-join subquery on an id field), ``AND``, ``OR``,
``NOT`` and parentheses, string / number / boolean / null / date / datetime literals and the date
literals ``TODAY``, ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n``,
``N_DAYS_AGO:n``, then ``ORDER BY`` (``ASC|DESC``, ``NULLS FIRST|LAST``), ``LIMIT`` and ``OFFSET``.

Semantics follow a real org where they matter to a client: text comparisons ignore case, ``!=``
matches nulls, ``AND`` and ``OR`` may not be mixed without parentheses, long text areas cannot be
filtered or sorted, picklists sort in their defined order, literals must match the field's type,
errors are ``MALFORMED_QUERY`` / ``INVALID_FIELD`` / ``INVALID_TYPE`` with the row and column of
the offending token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from forcebridge.sandbox.salesforce.ids import canonical_id
from forcebridge.sandbox.salesforce.records import (
    RecordStore,
    SalesforceError,
    parse_datetime,
)
from forcebridge.sandbox.salesforce.schema import (
    ID_TYPES,
    NUMBER_TYPES,
    STRING_LIKE_TYPES,
    FieldDefinition,
    ObjectDefinition,
)

MAX_OFFSET = 2000
_TEXT_TYPES = STRING_LIKE_TYPES | {"textarea"} | ID_TYPES
_KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "INCLUDES",
        "EXCLUDES",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "GROUP",
        "HAVING",
        "WITH",
        "FOR",
        "USING",
        "TRUE",
        "FALSE",
        "NULL",
    }
)
_AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "MIN", "MAX", "SUM", "AVG"})
_DATE_LITERALS = frozenset({"TODAY", "YESTERDAY", "TOMORROW"})
_DATE_N_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"})
_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}


# -- errors ---------------------------------------------------------------------------------------
def malformed(message: str) -> SalesforceError:
    return SalesforceError(400, "MALFORMED_QUERY", message)


# -- tokens ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # IDENT STRING NUMBER DATE DATETIME OP LPAREN RPAREN COMMA COLON EOF
    text: str
    position: int
    value: Any = None
    like_pattern: str | None = None  # for STRING: the regular expression LIKE would use

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "IDENT" and self.text.upper() in words


_TOKEN_PATTERN = re.compile(
    r"(?P<space>\s+)"
    r"|(?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))"
    r"|(?P<date>\d{4}-\d{2}-\d{2}(?![\w:]))"
    r"|(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)"
    r"|(?P<op>!=|<>|<=|>=|=|<|>)"
    r"|(?P<lparen>\()|(?P<rparen>\))|(?P<comma>,)|(?P<colon>:)|(?P<quote>')"
)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN_PATTERN.match(query, position)
        if match is None:
            raise _unexpected(query, position, query[position])
        kind = match.lastgroup
        text = match.group()
        if kind == "space":
            pass
        elif kind == "quote":
            token, position = _read_string(query, position)
            tokens.append(token)
            continue
        elif kind == "number":
            number: int | float = float(text) if "." in text else int(text)
            tokens.append(Token("NUMBER", text, position, number))
        elif kind == "datetime":
            parsed = parse_datetime(text)
            if parsed is None:
                raise _unexpected(query, position, text)
            tokens.append(Token("DATETIME", text, position, parsed))
        elif kind == "date":
            try:
                tokens.append(Token("DATE", text, position, date.fromisoformat(text)))
            except ValueError as error:
                raise _unexpected(query, position, text) from error
        else:
            assert kind is not None
            tokens.append(Token(kind.upper(), text, position))
        position = match.end()
    tokens.append(Token("EOF", "", len(query)))
    return tokens


def _read_string(query: str, start: int) -> tuple[Token, int]:
    """A quoted literal: backslash escapes as SOQL defines them; ``\\%`` and ``\\_`` stay
    literal in LIKE.
    """
    value: list[str] = []
    pattern: list[str] = []
    position = start + 1
    while position < len(query):
        char = query[position]
        if char == "'":
            text = query[start : position + 1]
            return Token("STRING", text, start, "".join(value), "".join(pattern)), position + 1
        if char == "\\":
            if position + 1 >= len(query):
                break
            escaped = query[position + 1]
            if escaped in _ESCAPES:
                value.append(_ESCAPES[escaped])
                pattern.append(re.escape(_ESCAPES[escaped]))
            elif escaped in "%_":
                value.append("\\" + escaped)
                pattern.append(re.escape(escaped))
            elif escaped == "u" and re.fullmatch(
                r"[0-9a-fA-F]{4}", query[position + 2 : position + 6]
            ):
                decoded = chr(int(query[position + 2 : position + 6], 16))
                value.append(decoded)
                pattern.append(re.escape(decoded))
                position += 6
                continue
            else:
                raise malformed(
                    f"Invalid string literal '{query[start : position + 2]}'. Illegal "
                    "character sequence "
                    f"'\\{escaped}' in string literal."
                )
            position += 2
            continue
        value.append(char)
        pattern.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        position += 1
    raise malformed(f"unexpected token: '{query[start:]}' (unterminated string literal)")


def quote(value: str) -> str:
    """``value`` as a SOQL string literal (what a client's quoting helper must produce)."""
    escaped = []
    for char in value:
        if char in "\\'\"":
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append("\\n")
        elif char == "\r":
            escaped.append("\\r")
        elif char == "\t":
            escaped.append("\\t")
        elif char == "\b":
            escaped.append("\\b")
        elif char == "\f":
            escaped.append("\\f")
        else:
            escaped.append(char)
    return "'" + "".join(escaped) + "'"


def _location(query: str, position: int) -> tuple[int, int]:
    row = query.count("\n", 0, position) + 1
    column = position - (query.rfind("\n", 0, position) + 1) + 1
    return row, column


def _unexpected(query: str, position: int, text: str) -> SalesforceError:
    row, column = _location(query, position)
    return malformed(
        f"\n{query}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\nunexpected "
        f"token: '{text}'"
    )


# -- syntax tree ----------------------------------------------------------------------------------
@dataclass
class FieldPath:
    parts: list[str]
    position: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass
class Aggregate:
    function: str
    path: FieldPath | None  # None for COUNT()
    alias: str | None
    position: int


@dataclass
class Literal:
    kind: str  # STRING NUMBER BOOLEAN NULL DATE DATETIME DATE_RANGE
    value: Any
    position: int
    like_pattern: str | None = None


@dataclass
class Comparison:
    path: FieldPath
    operator: str  # = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES
    values: list[Literal]
    semi_join: Query | None = None  # `Id IN (SELECT ParentId FROM ...)`


@dataclass
class BooleanExpression:
    operator: str  # AND OR NOT
    operands: list[Condition]


Condition = Comparison | BooleanExpression


@dataclass
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_last: bool


@dataclass
class Query:
    sobject: str
    sobject_position: int
    select: list[FieldPath | Aggregate | Query | str]  # str: FIELDS(ALL|STANDARD|CUSTOM)
    alias: str | None = None
    where: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


# -- parser ---------------------------------------------------------------------------------------
class Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.index = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "EOF":
            self.index += 1
        return token

    def error(self, token: Token | None = None) -> SalesforceError:
        token = token or self.current
        return _unexpected(self.query, token.position, token.text or "<EOF>")

    def expect_keyword(self, word: str) -> Token:
        if not self.current.is_keyword(word):
            raise self.error()
        return self.advance()

    def expect(self, kind: str) -> Token:
        if self.current.kind != kind:
            raise self.error()
        return self.advance()

    def parse(self) -> Query:
        query = self._query()
        if self.current.kind != "EOF":
            if self.current.is_keyword("GROUP", "HAVING", "WITH", "USING", "FOR"):
                raise malformed(
                    f"{self.current.text.upper()} is not supported by the ForceBridge sandbox"
                )
            raise self.error()
        return query

    def _query(self) -> Query:
        self.expect_keyword("SELECT")
        select = self._select_list()
        self.expect_keyword("FROM")
        sobject_token = self.expect("IDENT")
        query = Query(sobject_token.text, sobject_token.position, select)
        if self.current.kind == "IDENT" and self.current.text.upper() not in _KEYWORDS:
            query.alias = self.advance().text
        if self.current.is_keyword("WHERE"):
            self.advance()
            query.where = self._condition()
        if self.current.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by = self._order_list()
        if self.current.is_keyword("LIMIT"):
            self.advance()
            query.limit = self._non_negative_integer()
        if self.current.is_keyword("OFFSET"):
            self.advance()
            query.offset = self._non_negative_integer()
            if query.offset > MAX_OFFSET:
                raise SalesforceError(
                    400,
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                )
        return query

    def _non_negative_integer(self) -> int:
        token = self.expect("NUMBER")
        if not isinstance(token.value, int) or token.value < 0:
            raise self.error(token)
        return token.value

    def _select_list(self) -> list[FieldPath | Aggregate | Query | str]:
        items: list[FieldPath | Aggregate | Query | str] = [self._select_item()]
        while self.current.kind == "COMMA":
            self.advance()
            items.append(self._select_item())
        return items

    def _select_item(self) -> FieldPath | Aggregate | Query | str:
        token = self.current
        if token.kind == "LPAREN":
            self.advance()
            subquery = self._query()
            self.expect("RPAREN")
            return subquery
        if token.kind != "IDENT" or token.text.upper() in _KEYWORDS:
            raise self.error()
        self.advance()
        if self.current.kind == "LPAREN":
            function = token.text.upper()
            self.advance()
            if function == "FIELDS":
                scope = self.expect("IDENT").text.upper()
                if scope not in {"ALL", "STANDARD", "CUSTOM"}:
                    raise self.error(self.tokens[self.index - 1])
                self.expect("RPAREN")
                return scope
            if function not in _AGGREGATES:
                raise self.error(token)
            path = None
            if self.current.kind != "RPAREN":
                path = self._path()
            elif function != "COUNT":
                raise self.error()
            self.expect("RPAREN")
            alias = None
            if self.current.kind == "IDENT" and self.current.text.upper() not in _KEYWORDS:
                alias = self.advance().text
            return Aggregate(function, path, alias, token.position)
        return FieldPath(token.text.split("."), token.position)

    def _path(self) -> FieldPath:
        token = self.expect("IDENT")
        if token.text.upper() in _KEYWORDS:
            raise self.error(token)
        return FieldPath(token.text.split("."), token.position)

    def _order_list(self) -> list[OrderItem]:
        items = []
        while True:
            path = self._path()
            descending = False
            if self.current.is_keyword("ASC", "DESC"):
                descending = self.advance().text.upper() == "DESC"
            nulls_last = descending  # Salesforce's defaults: ASC NULLS FIRST, DESC NULLS LAST
            if self.current.is_keyword("NULLS"):
                self.advance()
                if not self.current.is_keyword("FIRST", "LAST"):
                    raise self.error()
                nulls_last = self.advance().text.upper() == "LAST"
            items.append(OrderItem(path, descending, nulls_last))
            if self.current.kind != "COMMA":
                return items
            self.advance()

    def _condition(self) -> Condition:
        operands = [self._unary()]
        operator: str | None = None
        while self.current.is_keyword("AND", "OR"):
            token = self.advance()
            word = token.text.upper()
            if operator is not None and word != operator:
                # A real org refuses `a AND b OR c`: precedence must be explicit.
                raise self.error(token)
            operator = word
            operands.append(self._unary())
        return operands[0] if operator is None else BooleanExpression(operator, operands)

    def _unary(self) -> Condition:
        if self.current.is_keyword("NOT"):
            self.advance()
            return BooleanExpression("NOT", [self._unary()])
        if self.current.kind == "LPAREN":
            self.advance()
            condition = self._condition()
            self.expect("RPAREN")
            return condition
        return self._comparison()

    def _comparison(self) -> Comparison:
        path = self._path()
        token = self.current
        if token.kind == "OP":
            self.advance()
            operator = "!=" if token.text == "<>" else token.text
            return Comparison(path, operator, [self._literal()])
        if token.is_keyword("LIKE"):
            self.advance()
            return Comparison(path, "LIKE", [self._literal()])
        if token.is_keyword("NOT"):
            self.advance()
            self.expect_keyword("IN")
            return self._membership(path, "NOT IN")
        if token.is_keyword("IN"):
            self.advance()
            return self._membership(path, "IN")
        if token.is_keyword("INCLUDES", "EXCLUDES"):
            self.advance()
            return Comparison(path, token.text.upper(), self._literal_list())
        raise self.error()

    def _membership(self, path: FieldPath, operator: str) -> Comparison:
        if self.tokens[self.index + 1].is_keyword("SELECT"):
            self.expect("LPAREN")
            semi_join = self._query()
            self.expect("RPAREN")
            return Comparison(path, operator, [], semi_join)
        return Comparison(path, operator, self._literal_list())

    def _literal_list(self) -> list[Literal]:
        self.expect("LPAREN")
        if self.current.is_keyword("SELECT"):
            raise malformed("INCLUDES and EXCLUDES take values, not a subquery")
        values = [self._literal()]
        while self.current.kind == "COMMA":
            self.advance()
            values.append(self._literal())
        self.expect("RPAREN")
        return values

    def _literal(self) -> Literal:
        token = self.advance()
        if token.kind == "STRING":
            return Literal("STRING", token.value, token.position, token.like_pattern)
        if token.kind == "NUMBER":
            return Literal("NUMBER", token.value, token.position)
        if token.kind == "DATE":
            return Literal("DATE", token.value, token.position)
        if token.kind == "DATETIME":
            return Literal("DATETIME", token.value, token.position)
        if token.kind == "IDENT":
            word = token.text.upper()
            if word in {"TRUE", "FALSE"}:
                return Literal("BOOLEAN", word == "TRUE", token.position)
            if word == "NULL":
                return Literal("NULL", None, token.position)
            if word in _DATE_LITERALS:
                return Literal("DATE_RANGE", (word, 0), token.position)
            if word in _DATE_N_LITERALS:
                self.expect("COLON")
                amount = self._non_negative_integer()
                return Literal("DATE_RANGE", (word, amount), token.position)
        raise self.error(token)


def parse(query: str) -> Query:
    """The syntax tree of ``query`` or a ``MALFORMED_QUERY`` error."""
    if not isinstance(query, str) or not query.strip():
        raise malformed("SOQL statements cannot be empty or null")
    return Parser(query).parse()


# -- evaluation -----------------------------------------------------------------------------------
@dataclass
class QueryResult:
    total_size: int
    records: list[dict[str, Any]]
    aggregate: bool


@dataclass
class _ResolvedPath:
    """A path checked against the schema: relationship hops then the final field."""

    hops: list[tuple[FieldDefinition, str]]  # (reference field, relationship name as written)
    targets: list[ObjectDefinition]  # the object(s) the last hop lands on
    field_name: str
    field: FieldDefinition


class Evaluator:
    """Runs parsed queries against a ``RecordStore``."""

    def __init__(
        self, records: RecordStore, version: str, now: Callable[[], datetime] | None = None
    ) -> None:
        self.records = records
        self.schema = records.schema
        self.version = version
        self._now = now or (lambda: datetime.now(UTC))

    def run(self, text: str, include_deleted: bool = False) -> QueryResult:
        self.text = text
        query = parse(text)
        definition = self._object(query.sobject, query.sobject_position)
        select = self._expand_fields(query, definition)
        aggregates = [item for item in select if isinstance(item, Aggregate)]
        if aggregates and len(aggregates) != len(select):
            raise (
                malformed(
                    "Field must be grouped or aggregated: "
                    + next(item.text for item in select if isinstance(item, FieldPath))
                )
                if any(isinstance(item, FieldPath) for item in select)
                else malformed("Aggregate queries cannot select child relationships")
            )
        count_only = any(item.function == "COUNT" and item.path is None for item in aggregates)
        if count_only and len(select) > 1:
            raise malformed("COUNT() cannot be combined with other fields")
        rows = self._filtered_rows(
            definition, query, self.records.all(definition.name, include_deleted), query.alias
        )
        if count_only:
            return QueryResult(len(rows), [], aggregate=False)
        if aggregates:
            return QueryResult(
                1, [self._aggregate_row(definition, aggregates, rows, query.alias)], aggregate=True
            )
        projected = [self._project(definition, select, row, query.alias) for row in rows]
        return QueryResult(len(projected), projected, aggregate=False)

    # -- schema checks --------------------------------------------------------------------------
    def _object(self, name: str, position: int) -> ObjectDefinition:
        definition = self.schema.object(name)
        if definition is None:
            raise self._error(
                "INVALID_TYPE",
                position,
                f"sObject type '{name}' is not supported. If you are attempting to use a "
                "custom object, "
                "be sure to append the '__c' after the entity name. Please reference your "
                "WSDL or the "
                "describe call for the appropriate names.",
            )
        return definition

    def _error(self, code: str, position: int, message: str) -> SalesforceError:
        row, column = _location(self.text, position)
        pointer = " " * (column - 1) + "^"
        return SalesforceError(
            400, code, f"\n{self.text}\n{pointer}\nERROR at Row:{row}:Column:{column}\n{message}"
        )

    def _expand_fields(
        self, query: Query, definition: ObjectDefinition
    ) -> list[FieldPath | Aggregate | Query]:
        expanded: list[FieldPath | Aggregate | Query] = []
        for item in query.select:
            if isinstance(item, str):
                if item in {"ALL", "CUSTOM"} and (query.limit is None or query.limit > 200):
                    raise malformed(
                        "The SOQL FIELDS function must have a LIMIT of at most 200 with "
                        f"FIELDS({item})"
                    )
                for definition_field in definition.fields:
                    if item == "ALL" or (item == "CUSTOM") == definition_field.custom:
                        expanded.append(FieldPath([definition_field.name], query.sobject_position))
            else:
                expanded.append(item)
        seen: set[str] = set()
        for item in expanded:
            if isinstance(item, FieldPath):
                resolved = self._resolve(definition, item, query.alias)
                key = ".".join(
                    [hop.relationship_name or "" for hop, _ in resolved.hops]
                    + [resolved.field.name]
                ).lower()
                if key in seen:
                    raise malformed(f"duplicate field selected: {item.text}")
                seen.add(key)
            elif isinstance(item, Aggregate) and item.path is not None:
                target = self._resolve(definition, item.path, query.alias).field
                numeric_only = item.function in {"SUM", "AVG"}
                if (numeric_only and target.type not in NUMBER_TYPES) or not target.filterable:
                    raise self._error(
                        "INVALID_FIELD",
                        item.path.position,
                        f"field {target.name} does not support aggregate operator {item.function}",
                    )
        return expanded

    def _resolve(
        self, definition: ObjectDefinition, path: FieldPath, alias: str | None
    ) -> _ResolvedPath:
        parts = list(path.parts)
        if alias and len(parts) > 1 and parts[0].lower() == alias.lower():
            parts = parts[1:]
        elif (
            len(parts) > 1
            and parts[0].lower() == definition.name.lower()
            and definition.relationship(parts[0]) is None
        ):
            parts = parts[1:]  # `Case.Subject` in a query on Case names the queried object itself
        targets = [definition]
        hops: list[tuple[FieldDefinition, str]] = []
        for relationship_name in parts[:-1]:
            reference = next(
                (
                    found
                    for target in targets
                    if (found := target.relationship(relationship_name)) is not None
                ),
                None,
            )
            if reference is None:
                raise self._error(
                    "INVALID_FIELD",
                    path.position,
                    f"Didn't understand relationship '{relationship_name}' in field path. If "
                    "you are "
                    "attempting to use a custom relationship, be sure to append the '__r' "
                    "after the custom "
                    "relationship name. Please reference your WSDL or the describe call for the "
                    "appropriate names.",
                )
            hops.append((reference, relationship_name))
            targets = [self.schema.objects[name] for name in reference.reference_to]
        final = next(
            (found for target in targets if (found := target.field(parts[-1])) is not None), None
        )
        if final is None:
            entity = targets[0].name if len(targets) == 1 else "Name"
            raise self._error(
                "INVALID_FIELD",
                path.position,
                f"No such column '{parts[-1]}' on entity '{entity}'. If you are attempting to "
                "use a custom "
                "field, be sure to append the '__c' after the custom field name. Please "
                "reference your "
                "WSDL or the describe call for the appropriate names.",
            )
        return _ResolvedPath(hops, targets, parts[-1], final)

    # -- rows -----------------------------------------------------------------------------------
    def _filtered_rows(
        self,
        definition: ObjectDefinition,
        query: Query,
        candidates: Iterable[dict[str, Any]],
        alias: str | None,
    ) -> list[dict[str, Any]]:
        predicate = self._compile_condition(definition, query.where, alias) if query.where else None
        rows = [row for row in candidates if predicate is None or predicate(row)]
        for item in reversed(query.order_by):
            resolved = self._resolve(definition, item.path, alias)
            if not resolved.field.filterable or resolved.field.type == "multipicklist":
                raise self._error(
                    "INVALID_FIELD",
                    item.path.position,
                    f"field '{resolved.field.name}' can not be sorted in a query call",
                )
            rows = self._sorted(rows, resolved, item)
        start = query.offset or 0
        end = None if query.limit is None else start + query.limit
        return rows[start:end]

    def _sorted(
        self, rows: list[dict[str, Any]], resolved: _ResolvedPath, item: OrderItem
    ) -> list[dict[str, Any]]:
        present: list[tuple[Any, dict[str, Any]]] = []
        missing: list[tuple[Any, dict[str, Any]]] = []
        for row in rows:
            value = self._value(row, resolved)
            (missing if value is None else present).append(
                (self._sort_key(resolved.field, value), row)
            )
        present.sort(key=lambda pair: pair[0], reverse=item.descending)
        ordered_present = [row for _, row in present]
        ordered_missing = [row for _, row in missing]
        return (
            ordered_present + ordered_missing
            if item.nulls_last
            else ordered_missing + ordered_present
        )

    @staticmethod
    def _sort_key(definition_field: FieldDefinition, value: Any) -> Any:
        if definition_field.type == "picklist":
            # Picklists sort in their defined order (New, Working, ...), not alphabetically.
            order = [entry.value for entry in definition_field.picklist]
            return (order.index(value) if value in order else len(order), str(value).lower())
        if isinstance(value, str) and definition_field.type not in {"date", "datetime"}:
            return value.lower()
        if isinstance(value, bool):
            return int(value)
        return value

    def _value(self, row: dict[str, Any] | None, resolved: _ResolvedPath) -> Any:
        current = row
        for reference, _ in resolved.hops:
            if current is None:
                return None
            parent_id = current.get(reference.name)
            found = self.records.find_any(parent_id) if parent_id else None
            current = found[1] if found else None
        if current is None:
            return None
        return current.get(resolved.field.name)

    # -- conditions -----------------------------------------------------------------------------
    def _compile_condition(
        self, definition: ObjectDefinition, condition: Condition, alias: str | None
    ) -> Callable[[dict[str, Any]], bool]:
        if isinstance(condition, BooleanExpression):
            parts = [
                self._compile_condition(definition, operand, alias)
                for operand in condition.operands
            ]
            if condition.operator == "NOT":
                return lambda row: not parts[0](row)
            if condition.operator == "AND":
                return lambda row: all(part(row) for part in parts)
            return lambda row: any(part(row) for part in parts)
        resolved = self._resolve(definition, condition.path, alias)
        if not resolved.field.filterable:
            raise self._error(
                "INVALID_FIELD",
                condition.path.position,
                f"field '{resolved.field.name}' can not be filtered in a query call",
            )
        test = self._compile_comparison(resolved, condition)
        return lambda row: test(self._value(row, resolved))

    def _compile_comparison(
        self, resolved: _ResolvedPath, condition: Comparison
    ) -> Callable[[Any], bool]:
        target = resolved.field
        operator = condition.operator
        field_type = target.type
        if operator == "LIKE":
            literal = condition.values[0]
            if field_type not in _TEXT_TYPES or literal.kind != "STRING":
                raise self._invalid_operator(condition, target)
            pattern = re.compile(f"(?s:{literal.like_pattern})\\Z", re.IGNORECASE)
            return lambda value: value is not None and pattern.match(str(value)) is not None
        if operator in {"INCLUDES", "EXCLUDES"}:
            if field_type != "multipicklist":
                raise self._invalid_operator(condition, target)
            wanted = [self._checked(target, literal) for literal in condition.values]
            wanted_sets = [
                {part.strip().lower() for part in str(item).split(";")} for item in wanted
            ]

            def includes(value: Any) -> bool:
                chosen = {part.lower() for part in (value or "").split(";") if part}
                return any(required <= chosen for required in wanted_sets)

            if operator == "INCLUDES":
                return includes
            return lambda value: not includes(value)
        if condition.semi_join is not None:
            members = self._semi_join_values(target, condition)
            inside = operator == "IN"
            return lambda value: (value is not None and str(value).lower() in members) == inside
        if operator in {"IN", "NOT IN"}:
            tests = [self._equality(target, literal) for literal in condition.values]
            if operator == "IN":
                return lambda value: any(test(value) for test in tests)
            return lambda value: not any(test(value) for test in tests)
        literal = condition.values[0]
        if operator == "=":
            return self._equality(target, literal)
        if operator == "!=":
            equal = self._equality(target, literal)
            return lambda value: not equal(value)
        if field_type == "boolean" or (literal.kind == "NULL"):
            if literal.kind == "NULL":
                return lambda value: False
            raise self._invalid_operator(condition, target)
        if literal.kind == "DATE_RANGE":
            self._checked(target, literal)
            start, end = self._date_range(literal)
            as_moment = self._moment_of(target)
            bounds: dict[str, Callable[[datetime], bool]] = {
                "<": lambda moment: moment < start,
                "<=": lambda moment: moment < end,
                ">": lambda moment: moment >= end,
                ">=": lambda moment: moment >= start,
            }
            check = bounds[operator]
            return lambda value: value is not None and check(as_moment(value))
        expected = self._comparable(target, self._checked(target, literal))
        compare: Callable[[Any, Any], bool] = {
            "<": lambda left, right: left < right,
            "<=": lambda left, right: left <= right,
            ">": lambda left, right: left > right,
            ">=": lambda left, right: left >= right,
        }[operator]
        return lambda value: (
            value is not None and compare(self._comparable(target, value), expected)
        )

    def _semi_join_values(self, target: FieldDefinition, condition: Comparison) -> set[str]:
        """The ids a semi-join subquery selects (``Id IN (SELECT ParentId FROM ...)``)."""
        subquery = condition.semi_join
        assert subquery is not None
        if target.type not in ID_TYPES:
            raise self._error(
                "INVALID_FIELD",
                condition.path.position,
                f"Field {target.name} must be an Id or a reference to be used with a semi-join",
            )
        inner = self._object(subquery.sobject, subquery.sobject_position)
        selected = self._expand_fields(subquery, inner)
        if len(selected) != 1 or not isinstance(selected[0], FieldPath):
            raise malformed("A semi-join subquery must select exactly one Id or reference field")
        resolved = self._resolve(inner, selected[0], subquery.alias)
        if resolved.field.type not in ID_TYPES:
            raise self._error(
                "INVALID_FIELD",
                selected[0].position,
                f"Field {resolved.field.name} must be an Id or a reference to use in a semi-join",
            )
        rows = self._filtered_rows(inner, subquery, self.records.all(inner.name), subquery.alias)
        return {
            str(value).lower() for row in rows if (value := self._value(row, resolved)) is not None
        }

    def _invalid_operator(self, condition: Comparison, target: FieldDefinition) -> SalesforceError:
        return self._error(
            "INVALID_FIELD",
            condition.path.position,
            f"invalid operator on {target.type} field: {target.name}",
        )

    def _equality(self, target: FieldDefinition, literal: Literal) -> Callable[[Any], bool]:
        if literal.kind == "NULL":
            return lambda value: value is None
        if literal.kind == "DATE_RANGE":
            self._checked(target, literal)
            start, end = self._date_range(literal)
            as_moment = self._moment_of(target)
            return lambda value: value is not None and start <= as_moment(value) < end
        expected = self._comparable(target, self._checked(target, literal))
        if target.type == "multipicklist":
            wanted = {part.strip().lower() for part in str(expected).split(";") if part.strip()}
            return lambda value: (
                value is not None and {part.lower() for part in value.split(";")} == wanted
            )
        return lambda value: value is not None and self._comparable(target, value) == expected

    def _checked(self, target: FieldDefinition, literal: Literal) -> Any:
        """The literal's value when its kind suits the field's type, else Salesforce's error."""
        field_type = target.type
        if literal.kind == "NULL":
            return None
        if field_type in _TEXT_TYPES:
            if literal.kind != "STRING":
                raise self._error(
                    "INVALID_FIELD",
                    literal.position,
                    f"value of filter criterion for field '{target.name}' must be of type "
                    "string and "
                    "should be enclosed in quotes",
                )
            value = literal.value.replace("\\%", "%").replace("\\_", "_")
            if field_type in ID_TYPES:
                canonical = canonical_id(value)
                if canonical is None:
                    raise SalesforceError(
                        400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}"
                    )
                return canonical
            return value
        expected_kinds = {
            "boolean": {"BOOLEAN"},
            "date": {"DATE", "DATE_RANGE"},
            "datetime": {"DATETIME", "DATE_RANGE"},
        }.get(field_type, {"NUMBER"} if field_type in NUMBER_TYPES else set())
        if literal.kind not in expected_kinds:
            type_name = {"datetime": "dateTime"}.get(field_type, field_type)
            raise self._error(
                "INVALID_FIELD",
                literal.position,
                f"value of filter criterion for field '{target.name}' must be of type "
                f"{type_name} and "
                "should not be enclosed in quotes",
            )
        return literal.value

    def _comparable(self, target: FieldDefinition, value: Any) -> Any:
        if value is None:
            return None
        field_type = target.type
        if field_type in _TEXT_TYPES:
            return str(value).lower()
        if field_type == "date":
            return value if isinstance(value, date) else date.fromisoformat(value)
        if field_type == "datetime":
            return value if isinstance(value, datetime) else parse_datetime(value)
        if field_type in NUMBER_TYPES:
            return float(value)
        return value

    def _moment_of(self, target: FieldDefinition) -> Callable[[Any], datetime]:
        if target.type == "date":
            return lambda value: datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
        return lambda value: parse_datetime(value) or datetime.min.replace(tzinfo=UTC)

    def _date_range(self, literal: Literal) -> tuple[datetime, datetime]:
        name, amount = literal.value
        today = datetime.combine(self._now().astimezone(UTC).date(), time(), tzinfo=UTC)
        day = timedelta(days=1)
        ranges = {
            "TODAY": (today, today + day),
            "YESTERDAY": (today - day, today),
            "TOMORROW": (today + day, today + 2 * day),
            # LAST_N_DAYS:n includes today; NEXT_N_DAYS:n starts tomorrow (as Salesforce defines).
            "LAST_N_DAYS": (today - amount * day, today + day),
            "NEXT_N_DAYS": (today + day, today + (amount + 1) * day),
            "N_DAYS_AGO": (today - amount * day, today - (amount - 1) * day),
        }
        return ranges[name]

    # -- projection -----------------------------------------------------------------------------
    def _project(
        self,
        definition: ObjectDefinition,
        select: list[FieldPath | Aggregate | Query],
        row: dict[str, Any],
        alias: str | None,
    ) -> dict[str, Any]:
        output: dict[str, Any] = {
            "attributes": {
                "type": definition.name,
                "url": self.records.record_url(definition.name, row["Id"], self.version),
            }
        }
        for item in select:
            if isinstance(item, Query):
                name, value = self._subquery(definition, item, row)
                output[name] = value
                continue
            assert isinstance(item, FieldPath)
            resolved = self._resolve(definition, item, alias)
            self._place(output, definition, row, resolved)
        return output

    def _place(
        self,
        output: dict[str, Any],
        definition: ObjectDefinition,
        row: dict[str, Any],
        resolved: _ResolvedPath,
    ) -> None:
        container = output
        current_definition = definition
        current: dict[str, Any] | None = row
        for reference, _written in resolved.hops:
            name = reference.relationship_name or reference.name
            assert current is not None
            parent_id = current.get(reference.name)
            found = self.records.find_any(parent_id) if parent_id else None
            if found is None:
                container[name] = None
                return
            current_definition, current = found
            nested = container.get(name)
            if not isinstance(nested, dict):
                nested = {
                    "attributes": {
                        "type": current_definition.name,
                        "url": self.records.record_url(
                            current_definition.name, current["Id"], self.version
                        ),
                    }
                }
                container[name] = nested
            container = nested
        assert current is not None
        final = current_definition.field(resolved.field_name) or resolved.field
        container[final.name] = self.records.field_json(
            current_definition, final, current, self.version
        )

    def _subquery(
        self, parent: ObjectDefinition, subquery: Query, row: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        relationship = self.schema.child_relationship(parent.name, subquery.sobject)
        if relationship is None:
            raise self._error(
                "INVALID_TYPE",
                subquery.sobject_position,
                f"Didn't understand relationship '{subquery.sobject}' in FROM part of query "
                "call. If you "
                "are attempting to use a custom relationship, be sure to append the '__r' "
                "after the "
                "custom relationship name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        child, reference = relationship
        name = next(
            relationship_name
            for relationship_name, candidate, _ in self.schema.child_relationships(parent.name)
            if relationship_name.lower() == subquery.sobject.lower() and candidate is child
        )
        select = self._expand_fields(subquery, child)
        if any(not isinstance(item, FieldPath) for item in select):
            raise malformed(
                "Nested subqueries and aggregates are not supported in a child relationship query"
            )
        children = (
            candidate
            for candidate in self.records.all(child.name)
            if candidate.get(reference.name) == row["Id"]
        )
        rows = self._filtered_rows(child, subquery, children, subquery.alias)
        if not rows:
            return name, None  # an empty child relationship is null, not an empty list
        records = [self._project(child, select, child_row, subquery.alias) for child_row in rows]
        return name, {"totalSize": len(records), "done": True, "records": records}

    def _aggregate_row(
        self,
        definition: ObjectDefinition,
        aggregates: list[Aggregate],
        rows: list[dict[str, Any]],
        alias: str | None,
    ) -> dict[str, Any]:
        output: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        unnamed = 0
        for item in aggregates:
            values: list[Any] = []
            if item.path is not None:
                resolved = self._resolve(definition, item.path, alias)
                values = [
                    value for row in rows if (value := self._value(row, resolved)) is not None
                ]
            if item.alias:
                name = item.alias
            else:
                name = f"expr{unnamed}"
                unnamed += 1
            function = item.function
            result: Any
            if function == "COUNT":
                result = len(values) if item.path is not None else len(rows)
            elif function == "COUNT_DISTINCT":
                result = len(
                    {value.lower() if isinstance(value, str) else value for value in values}
                )
            elif not values:
                result = None
            elif function == "SUM":
                result = sum(float(value) for value in values)
            elif function == "AVG":
                result = sum(float(value) for value in values) / len(values)
            elif function == "MIN":
                result = min(values)
            else:
                result = max(values)
            output[name] = result
        return output
