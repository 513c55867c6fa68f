"""Entry points: text → Statement(s); the only place that runs sqlglot's tokenizer and parser."""
from __future__ import annotations

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError, TokenError
from sqlglot.tokens import Token, TokenType

from kuiper.errors import ParseError
from kuiper.sql.dialect import (
    UNSUPPORTED,
    Kuiper,
    KuiperParser,
    KuiperTokenizer,
    error_at,
    error_at_end,
    position,
)
from kuiper.sql.expressions import StatementNode
from kuiper.sql.statements import Query, Statement

_DIALECT = Kuiper()


def parse(text: str) -> Statement:
    """Parse exactly one statement (a trailing ';' is allowed)."""
    chunks = _split(text)
    if not chunks:
        raise ParseError("empty statement: expected SELECT, CREATE, DROP, SHOW, DESCRIBE or EXPLAIN",
                         line=1, column=1, sql=text)
    if len(chunks) > 1:
        raise error_at("only one statement is allowed here", text, chunks[1][0])
    return _parse_chunk(text, chunks[0])


def parse_many(text: str) -> list[Statement]:
    """Parse a file of ';'-separated statements (empty ones are skipped)."""
    return [_parse_chunk(text, chunk) for chunk in _split(text)]


def _tokenize(text: str) -> list[Token]:
    tokenizer = KuiperTokenizer(dialect=_DIALECT)
    try:
        return tokenizer.tokenize(text)
    except TokenError as e:
        offset = getattr(getattr(tokenizer, "_core", tokenizer), "_start", None)
        if offset is None:
            offset = e.start or 0
        line, column = position(text, offset)
        rest = text[offset:].split("\n", 1)[0][:20]
        quote = rest[:1]
        if quote == "`":
            reason = "unterminated quoted name"
        elif quote in ("'", '"'):
            reason = "unterminated string"
        else:
            reason = "cannot read this text"
        raise ParseError(reason, line=line, column=column, token=rest, sql=text) from None


def _split(text: str) -> list[list[Token]]:
    """Tokens of each non-empty statement, split on ';' (the tokenizer skips quotes, comments)."""
    chunks: list[list[Token]] = [[]]
    for token in _tokenize(text):
        if token.token_type == TokenType.SEMICOLON:
            chunks.append([])
        else:
            chunks[-1].append(token)
    return [c for c in chunks if c]


def _parse_chunk(text: str, tokens: list[Token]) -> Statement:
    for token in tokens:  # wherever they appear, e.g. count(DISTINCT a)
        if token.token_type in (TokenType.DISTINCT, TokenType.UNION, TokenType.INTERSECT):
            raise error_at(UNSUPPORTED[token.token_type], text, token)
    parser = KuiperParser(error_level=ErrorLevel.IMMEDIATE, dialect=_DIALECT)
    try:
        trees = parser.parse(tokens, sql=text)
    except ParseError:
        raise
    except SqlglotError as e:  # pragma: no cover - the dialect raises ParseError itself
        raise ParseError(str(e).split("\n", 1)[0], sql=text) from None
    tree = trees[0] if trees else None
    if isinstance(tree, StatementNode):
        return tree.statement
    if not isinstance(tree, exp.Select):
        raise error_at("expected a SELECT statement", text, tokens[0])
    if not tree.expressions:
        raise error_at_end("expected the selected fields after SELECT", text, tokens)
    if tree.args.get("from_") is None:
        raise error_at_end("expected FROM and a stream name", text, tokens)
    statement_text = text[tokens[0].start : tokens[-1].end + 1]
    return Query(select=tree, text=statement_text)
