"""The eKuiper SQL dialect for sqlglot: tokenizer and parser adjustments, errors with positions."""
from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.parser import Parser
from sqlglot.tokens import Token, Tokenizer, TokenType

from kuiper.errors import ParseError
from kuiper.sql.ddl import DdlParserMixin
from kuiper.sql.expressions import Arrow

# Words the tokenizer treats as keywords; every other word is a plain name, so fields called
# `timestamp`, `date`, `key` or `count` need no quoting (as in eKuiper).
KEYWORDS = frozenset(
    """SELECT FROM WHERE GROUP BY ORDER HAVING LIMIT AS AND OR NOT IN BETWEEN LIKE IS NULL TRUE
    FALSE CASE WHEN THEN ELSE END JOIN INNER LEFT RIGHT FULL CROSS OUTER ON ASC DESC OVER
    PARTITION FILTER EXCEPT REPLACE UNION INTERSECT DISTINCT ALL INSERT UPDATE DELETE CREATE
    DROP DESCRIBE WITH""".split()
)
OPERATORS = frozenset({">=", "<=", "<>", "!=", "->"})

# Rejected at the start of a statement or inside one, with the reason eKuiper gives.
UNSUPPORTED = {
    TokenType.INSERT: "INSERT is not supported: use an updatable sink (rowkindField)",
    TokenType.UPDATE: "UPDATE is not supported: use an updatable sink (rowkindField)",
    TokenType.DELETE: "DELETE is not supported: use an updatable sink (rowkindField)",
    TokenType.DISTINCT: "DISTINCT is not supported: use the deduplicate() function",
    TokenType.UNION: "UNION is not supported",
    TokenType.INTERSECT: "INTERSECT is not supported",
    TokenType.WITH: "WITH (common table expressions) is not supported",
}


def _keywords() -> dict[str, TokenType]:
    keep: dict[str, TokenType] = {}
    for key, token_type in Tokenizer.KEYWORDS.items():
        if key in OPERATORS or (key[0].isalpha() and set(key.split()) <= KEYWORDS):
            keep[key] = token_type
    keep["SHOW"] = TokenType.SHOW
    keep["EXPLAIN"] = TokenType.DESCRIBE  # told apart by text in the DDL parser
    return keep


def position(sql: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of character `offset` in `sql`."""
    offset = max(0, min(offset, len(sql)))
    line = sql.count("\n", 0, offset) + 1
    column = offset - (sql.rfind("\n", 0, offset) + 1) + 1
    return line, column


def token_text(sql: str, token: Token) -> str:
    """The token as written (quotes included)."""
    if token.end >= token.start and sql:
        return sql[token.start : token.end + 1]
    return token.text


def error_at(message: str, sql: str, token: Token) -> ParseError:
    """A ParseError naming the line, column and text of `token`."""
    line, column = position(sql, token.start)
    return ParseError(message, line=line, column=column, token=token_text(sql, token), sql=sql)


def _friendly(message: str, prev: Token | None) -> str:
    """Reword sqlglot's generic messages."""
    after = f" after '{prev.text}'" if prev else ""
    if message.startswith("Required keyword") or message.startswith("Expected expression"):
        return f"expected an expression{after}"
    if message.startswith("Invalid expression / Unexpected token"):
        return "unexpected token"
    if message.startswith("Expected table name"):
        return f"expected a stream name{after}"
    if message.startswith("Expected END after CASE"):
        return "expected END to close CASE"
    if message.startswith("Expecting )"):
        return "expected ')'"
    return message


def error_at_end(message: str, sql: str, tokens: list[Token]) -> ParseError:
    """A ParseError placed just after the last token of a statement."""
    line, column = position(sql, tokens[-1].end + 1 if tokens else len(sql))
    return ParseError(f"{message} (unexpected end of statement)", line=line, column=column,
                      token="", sql=sql)


class KuiperTokenizer(Tokenizer):
    """`'…'` and `"…"` are strings, backticks quote identifiers, `--` and `/* */` comments."""

    QUOTES = ["'", '"']
    IDENTIFIERS = ["`"]
    STRING_ESCAPES = ["\\"]
    IDENTIFIER_ESCAPES: list[str] = []
    COMMENTS = ["--", ("/*", "*/")]
    NESTED_COMMENTS = False
    BIT_STRINGS: list[str | tuple[str, str]] = []
    BYTE_STRINGS: list[str | tuple[str, str]] = []
    HEX_STRINGS: list[str | tuple[str, str]] = []
    RAW_STRINGS: list[str | tuple[str, str]] = []
    HEREDOC_STRINGS: list[str | tuple[str, str]] = []
    UNICODE_STRINGS: list[str | tuple[str, str]] = []
    NATIONAL_RAW_STRINGS: list[str | tuple[str, str]] = []
    COMMANDS: set[TokenType] = set()
    KEYWORDS = _keywords()


class KuiperParser(DdlParserMixin, Parser):
    """sqlglot's SELECT grammar with eKuiper's operators, precedence and restrictions."""

    # Every call is exp.Anonymous: built-in, plugin and external functions share one registry.
    FUNCTIONS: dict[str, Any] = {}
    FUNCTION_PARSERS: dict[str, Any] = {}
    NO_PAREN_FUNCTION_PARSERS = {"CASE": Parser.NO_PAREN_FUNCTION_PARSERS["CASE"]}
    NO_PAREN_FUNCTIONS: dict[TokenType, Any] = {}

    # eKuiper precedence: OR < AND < comparisons < + - | ^ < * / % & < [] -> .
    EQUALITY = {
        TokenType.EQ: exp.EQ,
        TokenType.NEQ: exp.NEQ,
        TokenType.GT: exp.GT,
        TokenType.GTE: exp.GTE,
        TokenType.LT: exp.LT,
        TokenType.LTE: exp.LTE,
    }
    COMPARISON: dict[TokenType, Any] = {}
    BITWISE: dict[TokenType, Any] = {}
    TERM = {
        TokenType.PLUS: exp.Add,
        TokenType.DASH: exp.Sub,
        TokenType.PIPE: exp.BitwiseOr,
        TokenType.CARET: exp.BitwiseXor,
    }
    FACTOR = {
        TokenType.STAR: exp.Mul,
        TokenType.SLASH: exp.Div,
        TokenType.MOD: exp.Mod,
        TokenType.AMP: exp.BitwiseAnd,
    }
    EXPONENT: dict[TokenType, Any] = {}
    RANGE_PARSERS = {
        k: v
        for k, v in Parser.RANGE_PARSERS.items()
        if k in (TokenType.BETWEEN, TokenType.IN, TokenType.IS, TokenType.LIKE)
    }
    COLUMN_OPERATORS = {TokenType.DOT: None, TokenType.ARROW: None}
    LAMBDAS: dict[TokenType, Any] = {}  # `f(a->b)` is a field access, never a lambda
    PLACEHOLDER_PARSERS: dict[TokenType, Any] = {}
    PRIMARY_PARSERS = {
        k: v for k, v in Parser.PRIMARY_PARSERS.items()
        if k in (TokenType.STRING, TokenType.NUMBER, TokenType.NULL, TokenType.TRUE,
                 TokenType.FALSE, TokenType.STAR)
    }
    UNARY_PARSERS = {
        k: v
        for k, v in Parser.UNARY_PARSERS.items()
        if k in (TokenType.NOT, TokenType.DASH, TokenType.PLUS)
    }
    STATEMENT_PARSERS = {
        TokenType.CREATE: lambda self: self._parse_kuiper_create(),
        TokenType.DROP: lambda self: self._parse_kuiper_drop(),
        TokenType.SHOW: lambda self: self._parse_kuiper_show(),
        TokenType.DESCRIBE: lambda self: self._parse_kuiper_describe(),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._select_depth = 0
        self._pending_when: exp.Expr | None = None

    # --- errors -------------------------------------------------------------------------
    def raise_error(self, message: str, token: Token | None = None) -> None:  # type: ignore[override]
        """Raise kuiper's ParseError at once, on `token` (default: the current one; none left:
        the end of the statement)."""
        token = token or self._curr
        message = _friendly(message, self._prev)
        if not token:
            raise error_at_end(message, self.sql, self._tokens)
        raise error_at(message, self.sql, token)

    def _parse_statement(self) -> exp.Expr | None:
        if self._curr and self._curr.token_type in UNSUPPORTED:
            self.raise_error(UNSUPPORTED[self._curr.token_type])
        if self._curr and self._curr.token_type not in self.STATEMENT_PARSERS and (
            self._curr.token_type != TokenType.SELECT
        ):
            self.raise_error(
                "expected SELECT, CREATE, DROP, SHOW, DESCRIBE or EXPLAIN at the start of a statement"
            )
        return super()._parse_statement()

    # --- SELECT restrictions --------------------------------------------------------------
    def _parse_select(self, *args: Any, **kwargs: Any) -> exp.Expr | None:
        curr = self._curr
        if not curr or curr.token_type != TokenType.SELECT:
            if curr and curr.token_type in UNSUPPORTED:
                self.raise_error(UNSUPPORTED[curr.token_type])
            return super()._parse_select(*args, **kwargs)
        if self._select_depth:
            self.raise_error("subqueries are not supported", curr)
        if not self._next:
            raise error_at_end("expected the selected fields after SELECT", self.sql, self._tokens)
        if self._next.token_type == TokenType.FROM:
            self.raise_error("expected the selected fields after SELECT", self._next)
        if self._next.token_type == TokenType.DISTINCT:
            self.raise_error(UNSUPPORTED[TokenType.DISTINCT], self._next)
        self._select_depth += 1
        try:
            return super()._parse_select(*args, **kwargs)
        finally:
            self._select_depth -= 1

    def _parse_from(self, *args: Any, **kwargs: Any) -> exp.From | None:
        skip = kwargs.get("skip_from_token") or (len(args) > 1 and args[1])
        if self._select_depth and not skip and self._curr.token_type != TokenType.FROM:
            self.raise_error("expected FROM and a stream name")
        return super()._parse_from(*args, **kwargs)

    def _parse_set_operations(self, this: exp.Expr | None) -> exp.Expr | None:
        curr = self._curr
        if curr and curr.token_type in (TokenType.UNION, TokenType.INTERSECT, TokenType.EXCEPT):
            self.raise_error(f"{curr.text.upper()} is not supported", curr)
        return this

    def _parse_alias(self, this: exp.Expr | None, explicit: bool = False) -> exp.Expr | None:
        if self._curr.token_type == TokenType.ALIAS and self._next.token_type not in (
            TokenType.VAR, TokenType.IDENTIFIER
        ):
            self.raise_error("expected a name after AS", self._next or None)
        result = super()._parse_alias(this, explicit)
        if (isinstance(result, exp.Alias) and self._curr is not None
                and self._curr.token_type == TokenType.VAR
                and self._curr.text.upper() == "INVISIBLE"):
            self._advance()  # eKuiper's `expr AS name INVISIBLE`: computed, not output
            result.meta["invisible"] = True
        return result

    # --- names, `.`, `->`, `[]` ------------------------------------------------------------
    def _parse_column_parts_fast(self) -> exp.Column | exp.Dot | None:
        return None  # the general path below builds eKuiper's shapes

    def _parse_column_ops(self, this: exp.Expr | None) -> exp.Expr | None:
        this = self._parse_bracket(this)
        while self._curr:
            if self._match(TokenType.DOT):
                if self._match(TokenType.STAR):
                    key: exp.Expr = exp.Star()
                else:
                    key = self._parse_key("'.'")
                if isinstance(this, exp.Column) and not this.args.get("table"):
                    this = exp.Column(this=key, table=this.this)
                else:
                    this = exp.Dot(this=this, expression=key)
            elif self._match(TokenType.ARROW):
                this = Arrow(this=this, expression=self._parse_key("'->'"))
            else:
                break
            this = self._parse_bracket(this)
        return this

    def _parse_key(self, after: str) -> exp.Identifier:
        token = self._curr
        if not token or token.token_type not in (TokenType.VAR, TokenType.IDENTIFIER):
            self.raise_error(f"expected a field name after {after}")
        self._advance()
        return exp.Identifier(this=token.text, quoted=token.token_type == TokenType.IDENTIFIER)

    def _parse_function_args(self, alias: bool = False) -> list[exp.Expr]:
        """Plain expressions (or `*`): no aliases, lambdas, ORDER BY or IGNORE NULLS."""
        return self._parse_csv(self._parse_disjunction)

    def _parse_bitwise(self) -> exp.Expr | None:
        return self._parse_term()  # | ^ & live in TERM/FACTOR; no shifts, ||, ?? in eKuiper

    def _parse_star_op(self, *keywords: str) -> list[exp.Expr] | None:
        if not self._match_texts(keywords):
            return None
        if not self._match(TokenType.L_PAREN, advance=False):
            self.raise_error(f"expected '(' after {self._prev.text.upper()}")
        return self._parse_wrapped_csv(self._parse_expression)

    def _parse_group(self, skip_group_by_token: bool = False) -> exp.Group | None:
        group = super()._parse_group(skip_group_by_token)
        if group is not None and not group.expressions:
            self.raise_error("expected dimensions or a window after GROUP BY")
        return group

    def _parse_limit(self, *args: Any, **kwargs: Any) -> exp.Expr | None:
        value_token = self._next if self._curr.token_type == TokenType.LIMIT else None
        result = super()._parse_limit(*args, **kwargs)
        if isinstance(result, exp.Limit) and value_token:
            value = result.expression
            if not (isinstance(value, exp.Literal) and value.is_int) or result.args.get("offset"):
                self.raise_error("LIMIT takes a whole number", value_token)
        return result

    def _parse_bracket(self, this: exp.Expr | None = None) -> exp.Expr | None:
        if this is None or not self._match(TokenType.L_BRACKET):
            if this is None and self._curr.token_type == TokenType.L_BRACKET:
                self.raise_error("array literals are not supported")
            return this
        low = None if self._curr.token_type == TokenType.COLON else (
            self._parse_disjunction()
        )
        if self._match(TokenType.COLON):
            high = None if self._curr.token_type == TokenType.R_BRACKET else (
                self._parse_disjunction()
            )
            index: exp.Expr = exp.Slice(this=low, expression=high)
        elif low is None:
            self.raise_error("expected an index or a slice inside [ ]")
            raise AssertionError  # unreachable: raise_error raises
        else:
            index = low
        if not self._match(TokenType.R_BRACKET):
            self.raise_error("expected ']'")
        return self._parse_bracket(exp.Bracket(this=this, expressions=[index]))

    def _parse_range(self, this: exp.Expr | None = None, parse_is: bool = False) -> exp.Expr | None:
        result = super()._parse_range(this, parse_is)
        if isinstance(result, exp.Like) and result.args.get("negate"):
            result.set("negate", None)  # NOT LIKE is Not(Like), like NOT IN and NOT BETWEEN
            result = exp.Not(this=result)
        return result

    # --- OVER (PARTITION BY … WHEN …) ---------------------------------------------------
    def _parse_partition_and_order(self) -> tuple[list[exp.Expr], exp.Expr | None]:
        partition, order = super()._parse_partition_and_order()
        when = self._parse_disjunction() if self._match(TokenType.WHEN) else None
        self._pending_when = when
        return partition, order

    def _parse_window(self, this: exp.Expr | None, alias: bool = False) -> exp.Expr | None:
        self._pending_when = None
        result = super()._parse_window(this, alias)
        when, self._pending_when = self._pending_when, None
        if when is not None and isinstance(result, exp.Window):
            result.set("when", when)
        return result


class Kuiper(Dialect):
    """eKuiper's SQL: strings in either quote, backtick identifiers, 0-based indexes."""

    INDEX_OFFSET = 0
    NORMALIZE_FUNCTIONS = False
    Tokenizer = KuiperTokenizer
    Parser = KuiperParser
