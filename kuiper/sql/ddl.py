"""Parser methods for CREATE/DROP/SHOW/DESCRIBE STREAM|TABLE and EXPLAIN (mixed into the dialect)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlglot.tokens import Token, TokenType

from kuiper.catalog.defs import FieldDef, StreamDef
from kuiper.sql.expressions import StatementNode
from kuiper.sql.statements import (
    CreateStream,
    DescribeStream,
    DropStream,
    Explain,
    Query,
    ShowStreams,
)

if TYPE_CHECKING:
    from sqlglot import exp

# eKuiper's full WITH option set (`StreamTokens`, pkg/ast/sourceStmt.go).
STREAM_OPTIONS = (
    "DATASOURCE", "FORMAT", "TYPE", "KEY", "CONF_KEY", "SHARED", "TIMESTAMP", "TIMESTAMP_FORMAT",
    "SCHEMAID", "STRICT_VALIDATION", "RETAIN_SIZE", "KIND", "DELIMITER", "EXTRA", "VERSION",
    "TEMP",
)
SCALAR_TYPES = ("bigint", "float", "string", "datetime", "boolean", "bytea")
ALL_TYPES = ", ".join(t.upper() for t in SCALAR_TYPES) + ", ARRAY(type), STRUCT(name type, …)"
NAME_TOKENS = (TokenType.VAR, TokenType.IDENTIFIER)
DEFAULT_TYPES = ("bigint", "float", "string", "boolean")
DEFAULT_TOKENS = (TokenType.NUMBER, TokenType.STRING, TokenType.TRUE, TokenType.FALSE)


def default_value(kind: str, text: str) -> Any:
    """A DEFAULT literal's text as `kind`, converted as eKuiper's cast (CONVERT_ALL) does;
    ValueError when it does not convert."""
    if kind == "string":
        return text
    lowered = text.lower()
    if kind == "boolean":
        if lowered in ("1", "t", "true"):
            return True
        if lowered in ("0", "f", "false"):
            return False
        number = float(text)
        return number != 0
    if lowered in ("true", "false"):
        value: float = 1 if lowered == "true" else 0
    else:
        value = int(text) if text.lstrip("-").isdigit() else float(text)
    return int(value) if kind == "bigint" else float(value)


class DdlParserMixin:
    """The non-SELECT statements; every method runs after its first keyword was consumed."""

    # Provided by sqlglot's Parser.
    _curr: Token | None
    _prev: Token
    _index: int
    _tokens: list[Token]
    sql: str

    if TYPE_CHECKING:
        def _match(self, token_type: TokenType, advance: bool = True) -> Any: ...
        def _advance(self, times: int = 1) -> None: ...
        def _parse_select(self, *args: Any, **kwargs: Any) -> exp.Expr | None: ...
        def raise_error(self, message: str, token: Token | None = None) -> None: ...

    # --- helpers ----------------------------------------------------------------------------
    def _expect(self, token_type: TokenType, what: str) -> Token:
        if not self._match(token_type):
            self.raise_error(f"expected {what}")
        return self._prev

    def _expect_word(self, *words: str) -> str:
        curr = self._curr
        if not curr or curr.text.upper() not in words:
            self.raise_error(f"expected {' or '.join(words)}")
            raise AssertionError  # unreachable
        self._advance()
        return curr.text.upper()

    def _expect_name(self, what: str) -> str:
        curr = self._curr
        if not curr or curr.token_type not in NAME_TOKENS:
            self.raise_error(f"expected {what}")
            raise AssertionError  # unreachable
        self._advance()
        return curr.text

    def _expect_end(self) -> None:
        if self._curr:
            self.raise_error("unexpected text after the end of the statement")

    def _kind(self, plural: bool = False) -> bool:
        """Consume STREAM or TABLE (STREAMS/TABLES); True for a table."""
        words = ("STREAMS", "TABLES") if plural else ("STREAM", "TABLE")
        return self._expect_word(*words) == words[1]

    def _text_from(self, first: Token) -> str:
        last = self._tokens[-1] if self._tokens else first
        return self.sql[first.start : last.end + 1]

    # --- statements -------------------------------------------------------------------------
    def _parse_kuiper_create(self) -> StatementNode:
        first = self._prev
        is_table = self._kind()
        name = self._expect_name("a stream name" if not is_table else "a table name")
        self._expect(TokenType.L_PAREN, "'(' and the field list (use '()' for schemaless)")
        fields: list[FieldDef] = []
        if not self._match(TokenType.R_PAREN):
            fields = self._parse_field_defs()
        options = self._parse_stream_options()
        self._expect_end()
        definition = StreamDef(
            name=name, fields=tuple(fields), options=options, is_table=is_table,
            statement=self._text_from(first),
        )
        return StatementNode(this=CreateStream(definition))

    def _parse_field_defs(self) -> list[FieldDef]:
        """`name type, …` up to and including the closing ')'."""
        fields: list[FieldDef] = []
        while True:
            name_token = self._curr
            field = self._parse_field_def()
            if any(f.name == field.name for f in fields):
                self.raise_error(f"duplicate field name {field.name}", name_token)
            fields.append(field)
            if not self._match(TokenType.COMMA):
                break
        self._expect(TokenType.R_PAREN, "',' or ')' in the field list")
        return fields

    def _parse_field_def(self) -> FieldDef:
        name = self._expect_name("a field name")
        kind, element, nested = self._parse_field_type()
        default = None
        if self._curr and self._curr.text.upper() == "DEFAULT":
            default = self._parse_default(name, kind)
        return FieldDef(name=name, kind=kind, element=element, fields=nested, default=default)

    def _parse_default(self, name: str, kind: str) -> Any:
        """`DEFAULT literal` after a column type: the literal as the column's type (eKuiper
        allows it for bigint, float, string and boolean only)."""
        if kind not in DEFAULT_TYPES:
            self.raise_error(f"DEFAULT clause is not supported for {kind}")
        self._advance()
        sign = ""
        if self._curr and self._curr.token_type == TokenType.DASH:
            sign = "-"
            self._advance()
        curr = self._curr
        if not curr or curr.token_type not in DEFAULT_TOKENS or (
                sign and curr.token_type != TokenType.NUMBER):
            self.raise_error(f"expected a literal after DEFAULT of field {name} "
                             "(a number, a quoted string, true or false)")
            raise AssertionError  # unreachable
        self._advance()
        try:
            return default_value(kind, sign + curr.text)
        except ValueError:
            self.raise_error(f"DEFAULT of field {name}: cannot convert {sign + curr.text} to "
                             f"{kind}", curr)
            raise AssertionError from None  # unreachable

    def _parse_field_type(self) -> tuple[str, FieldDef | None, tuple[FieldDef, ...]]:
        curr = self._curr
        word = curr.text.lower() if curr and curr.token_type == TokenType.VAR else ""
        if word in SCALAR_TYPES:
            self._advance()
            return word, None, ()
        if word == "array":
            self._advance()
            self._expect(TokenType.L_PAREN, "'(' after ARRAY")
            kind, element, nested = self._parse_field_type()
            self._expect(TokenType.R_PAREN, "')' after the ARRAY element type")
            return "array", FieldDef(name="", kind=kind, element=element, fields=nested), ()
        if word == "struct":
            self._advance()
            self._expect(TokenType.L_PAREN, "'(' after STRUCT")
            return "struct", None, tuple(self._parse_field_defs())
        self.raise_error(f"unknown field type, expected one of {ALL_TYPES}")
        raise AssertionError  # unreachable

    def _parse_stream_options(self) -> dict[str, str]:
        self._expect(TokenType.WITH, "WITH (…) options")
        self._expect(TokenType.L_PAREN, "'(' after WITH")
        options: dict[str, str] = {}
        if self._match(TokenType.R_PAREN):
            return options
        while True:
            key_token = self._curr
            key = self._expect_name("an option name").upper()
            if key not in STREAM_OPTIONS:
                self.raise_error(
                    f"unknown stream option {key}, valid options: {', '.join(STREAM_OPTIONS)}",
                    key_token,
                )
            self._expect(TokenType.EQ, f"'=' after {key}")
            value = self._expect(TokenType.STRING, f"a quoted string value for {key}")
            options[key] = value.text
            if self._match(TokenType.R_PAREN):
                return options
            self._expect(TokenType.COMMA, "',' or ')' in the WITH options")

    def _parse_kuiper_drop(self) -> StatementNode:
        is_table = self._kind()
        name = self._expect_name("a table name" if is_table else "a stream name")
        self._expect_end()
        return StatementNode(this=DropStream(name=name, is_table=is_table))

    def _parse_kuiper_show(self) -> StatementNode:
        is_table = self._kind(plural=True)
        self._expect_end()
        return StatementNode(this=ShowStreams(is_table=is_table))

    def _parse_kuiper_describe(self) -> StatementNode:
        if self._prev.text.upper() == "EXPLAIN":
            return self._parse_kuiper_explain()
        is_table = self._kind()
        name = self._expect_name("a table name" if is_table else "a stream name")
        self._expect_end()
        return StatementNode(this=DescribeStream(name=name, is_table=is_table))

    def _parse_kuiper_explain(self) -> StatementNode:
        first = self._curr
        if not first or first.token_type != TokenType.SELECT:
            self.raise_error("expected SELECT after EXPLAIN")
            raise AssertionError  # unreachable
        select = self._parse_select()
        self._expect_end()
        return StatementNode(this=Explain(Query(select=select, text=self._text_from(first))))  # type: ignore[arg-type]
