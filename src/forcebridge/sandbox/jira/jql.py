"""JQL syntax: a tokenizer and a recursive-descent parser producing a small syntax tree.

Grammar of the supported subset (keywords are case-insensitive)::

    query    := [or_expr] [ORDER BY sort ("," sort)*]
    or_expr  := and_expr (OR and_expr)*
    and_expr := not_expr (AND not_expr)*
    not_expr := (NOT | "!") not_expr | "(" or_expr ")" | clause
    clause   := field operator operand
    operator := = | != | < | <= | > | >= | ~ | !~ | IN | NOT IN | IS | IS NOT
    operand  := value | "(" value ("," value)* ")" | EMPTY | NULL
              | function "(" [value ("," value)*] ")"
    sort     := field [ASC | DESC]

Values and field names are bare words (``TEST-1``, ``-5m``, ``cf[10010]``) or quoted strings
(``"Story Points"``, ``'it''s'`` is not JQL: quotes are escaped with a backslash). Evaluation
against issues lives in ``search.py``; this module knows nothing about issues.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RESERVED_WORDS = frozenset({"and", "or", "not", "in", "is", "empty", "null", "order", "by"})
SINGLE_CHARACTER_PUNCTUATION = "(),"
# Characters that end a bare word: whitespace, punctuation, operators and quotes.
WORD_DELIMITERS = frozenset(" \t\r\n(),=!<>~\"'")
ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "t": "\t", "r": "\r", " ": " "}
MAX_NESTING = 64


class JqlError(ValueError):
    """A JQL query that cannot be parsed (or, in ``search.py``, evaluated)."""


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", "operator", "punct", "end"
    text: str
    position: int  # 1-based character index, as in Jira's messages

    def is_keyword(self, keyword: str) -> bool:
        return self.kind == "word" and self.text.lower() == keyword


@dataclass(frozen=True)
class Value:
    text: str
    quoted: bool = False


@dataclass(frozen=True)
class FunctionCall:
    name: str
    arguments: tuple[str, ...] = ()


@dataclass(frozen=True)
class EmptyValue:
    pass


Operand = Value | FunctionCall | EmptyValue | tuple[Value | FunctionCall, ...]


@dataclass(frozen=True)
class Clause:
    field: str
    operator: str  # "=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in", "is", "is not"
    operand: Operand
    position: int


@dataclass(frozen=True)
class And:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expression, ...]


@dataclass(frozen=True)
class Not:
    item: Expression


Expression = Clause | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    where: Expression | None
    order_by: tuple[SortKey, ...] = field(default_factory=tuple)


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``; raises :class:`JqlError` on an unterminated string or bad escape."""
    tokens: list[Token] = []
    index = 0
    length = len(text)
    while index < length:
        character = text[index]
        if character.isspace():
            index += 1
            continue
        start = index
        if character in SINGLE_CHARACTER_PUNCTUATION:
            tokens.append(Token("punct", character, start + 1))
            index += 1
        elif character in "=~":
            tokens.append(Token("operator", character, start + 1))
            index += 1
        elif character in "!<>":
            if (
                index + 1 < length
                and text[index + 1] in "=~"
                and not (character in "<>" and text[index + 1] == "~")
            ):
                tokens.append(Token("operator", text[index : index + 2], start + 1))
                index += 2
            else:
                tokens.append(Token("operator", character, start + 1))
                index += 1
        elif character in "\"'":
            value, index = _read_string(text, index)
            tokens.append(Token("string", value, start + 1))
        else:
            while index < length and text[index] not in WORD_DELIMITERS:
                if text[index] == "\\":
                    raise JqlError(
                        "The escape sequence is only allowed in quoted strings "
                        f"(character {index + 1})."
                    )
                index += 1
            tokens.append(Token("word", text[start:index], start + 1))
    tokens.append(Token("end", "", length + 1))
    return tokens


def _read_string(text: str, index: int) -> tuple[str, int]:
    quote = text[index]
    start = index
    index += 1
    characters: list[str] = []
    while index < len(text):
        character = text[index]
        if character == quote:
            return "".join(characters), index + 1
        if character == "\\":
            if index + 1 >= len(text):
                break
            escaped = text[index + 1]
            if escaped == "u":
                digits = text[index + 2 : index + 6]
                if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                    raise JqlError(f"Invalid unicode escape at character {index + 1}.")
                characters.append(chr(int(digits, 16)))
                index += 6
                continue
            if escaped not in ESCAPES:
                raise JqlError(
                    f"'\\{escaped}' is an illegal JQL escape sequence (character {index + 1})."
                )
            characters.append(ESCAPES[escaped])
            index += 2
            continue
        characters.append(character)
        index += 1
    raise JqlError(f"The quoted string starting at character {start + 1} is not terminated.")


def quote(value: str) -> str:
    """``value`` as a double-quoted JQL string literal (the inverse of the tokenizer)."""
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def parse(text: str) -> Query:
    """Parse a JQL query; raises :class:`JqlError` with a Jira-like message on bad input."""
    return _Parser(tokenize(text)).parse_query()


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def fail(self, expected: str) -> JqlError:
        token = self.current
        found = "the end of the query" if token.kind == "end" else f"'{token.text}'"
        return JqlError(
            f"Expecting {expected} but got {found}. (line 1, character {token.position})"
        )

    def parse_query(self) -> Query:
        where: Expression | None = None
        if self.current.kind != "end" and not self.current.is_keyword("order"):
            where = self.parse_or()
        order_by: tuple[SortKey, ...] = ()
        if self.current.is_keyword("order"):
            self.advance()
            if not self.current.is_keyword("by"):
                raise self.fail("'by'")
            self.advance()
            order_by = self.parse_sort_list()
        if self.current.kind != "end":
            raise self.fail("'AND', 'OR' or 'ORDER BY'")
        return Query(where, order_by)

    def parse_sort_list(self) -> tuple[SortKey, ...]:
        keys = [self.parse_sort_key()]
        while self.current.kind == "punct" and self.current.text == ",":
            self.advance()
            keys.append(self.parse_sort_key())
        return tuple(keys)

    def parse_sort_key(self) -> SortKey:
        name = self.parse_field_name()
        descending = False
        if self.current.is_keyword("asc"):
            self.advance()
        elif self.current.is_keyword("desc"):
            self.advance()
            descending = True
        return SortKey(name, descending)

    def parse_or(self) -> Expression:
        items = [self.parse_and()]
        while self.current.is_keyword("or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Expression:
        items = [self.parse_not()]
        while self.current.is_keyword("and"):
            self.advance()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_not(self) -> Expression:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise JqlError("The query is nested too deeply.")
        try:
            token = self.current
            if token.is_keyword("not") or (token.kind == "operator" and token.text == "!"):
                self.advance()
                return Not(self.parse_not())
            if token.kind == "punct" and token.text == "(":
                self.advance()
                inner = self.parse_or()
                if not (self.current.kind == "punct" and self.current.text == ")"):
                    raise self.fail("')'")
                self.advance()
                return inner
            return self.parse_clause()
        finally:
            self.depth -= 1

    def parse_field_name(self) -> str:
        token = self.current
        if token.kind == "string" or (
            token.kind == "word" and token.text.lower() not in RESERVED_WORDS
        ):
            self.advance()
            return token.text
        raise self.fail("a field name")

    def parse_clause(self) -> Clause:
        position = self.current.position
        name = self.parse_field_name()
        operator = self.parse_operator()
        if operator in ("is", "is not"):
            if not (self.current.is_keyword("empty") or self.current.is_keyword("null")):
                raise self.fail("'EMPTY' or 'NULL'")
            self.advance()
            return Clause(name, operator, EmptyValue(), position)
        if operator in ("in", "not in"):
            return Clause(name, operator, self.parse_list(), position)
        return Clause(name, operator, self.parse_operand(), position)

    def parse_operator(self) -> str:
        token = self.current
        if token.kind == "operator" and token.text in ("=", "!=", "<", "<=", ">", ">=", "~", "!~"):
            self.advance()
            return token.text
        if token.is_keyword("in"):
            self.advance()
            return "in"
        if token.is_keyword("not"):
            self.advance()
            if not self.current.is_keyword("in"):
                raise self.fail("'IN'")
            self.advance()
            return "not in"
        if token.is_keyword("is"):
            self.advance()
            if self.current.is_keyword("not"):
                self.advance()
                return "is not"
            return "is"
        raise self.fail(
            "operator. The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', "
            "'IN', 'NOT IN', 'IS' and 'IS NOT'"
        )

    def parse_list(self) -> tuple[Value | FunctionCall, ...]:
        if not (self.current.kind == "punct" and self.current.text == "("):
            raise self.fail("'('")
        self.advance()
        values = [self.parse_single_value()]
        while self.current.kind == "punct" and self.current.text == ",":
            self.advance()
            values.append(self.parse_single_value())
        if not (self.current.kind == "punct" and self.current.text == ")"):
            raise self.fail("',' or ')'")
        self.advance()
        return tuple(values)

    def parse_operand(self) -> Operand:
        if self.current.is_keyword("empty") or self.current.is_keyword("null"):
            self.advance()
            return EmptyValue()
        if self.current.kind == "punct" and self.current.text == "(":
            return self.parse_list()
        return self.parse_single_value()

    def parse_single_value(self) -> Value | FunctionCall:
        token = self.current
        if token.kind == "string":
            self.advance()
            return Value(token.text, quoted=True)
        if token.kind == "word" and token.text.lower() not in RESERVED_WORDS:
            self.advance()
            if self.current.kind == "punct" and self.current.text == "(":
                return self.parse_function_arguments(token.text)
            return Value(token.text)
        if token.kind == "word":
            raise JqlError(
                f"'{token.text}' is a reserved JQL word. You must surround it in quotation marks "
                f"to use it in a query. (line 1, character {token.position})"
            )
        raise self.fail("either a value, list or function")

    def parse_function_arguments(self, name: str) -> FunctionCall:
        self.advance()  # "("
        arguments: list[str] = []
        if not (self.current.kind == "punct" and self.current.text == ")"):
            while True:
                token = self.current
                if token.kind not in ("word", "string"):
                    raise self.fail("a function argument")
                arguments.append(self.advance().text)
                if self.current.kind == "punct" and self.current.text == ",":
                    self.advance()
                    continue
                break
        if not (self.current.kind == "punct" and self.current.text == ")"):
            raise self.fail("')'")
        self.advance()
        return FunctionCall(name, tuple(arguments))
