"""Malformed and unsupported statements: ParseError with message, line, column and token."""
from __future__ import annotations

import pytest

from kuiper.errors import ParseError
from kuiper.sql import parse, parse_many

# (SQL, part of the message, line, column, token); token "" = at the end of the statement
ERRORS = [
    ("SELECT a FROM", "expected a stream name after 'FROM'", 1, 14, ""),
    ("SELECT a b c FROM demo", "expected FROM", 1, 12, "c"),
    ("SELECT a FROM demo WHERE a > 1 b", "unexpected token", 1, 32, "b"),
    ("SELECT * FROM demo WHERE (a > 1", "expected ')'", 1, 32, ""),
    ("SELECT f(a FROM demo", "expected ')'", 1, 12, "FROM"),
    ("SELECT a FROM demo WHERE", "expected an expression after 'WHERE'", 1, 25, ""),
    ("SELECT a FROM demo WHERE a = ", "expected an expression after '='", 1, 29, ""),
    ("SELECT a FROM demo GROUP BY", "after GROUP BY", 1, 28, ""),
    ("SELECT a FROM demo ORDER BY", "expected an expression", 1, 28, ""),
    ("SELECT", "expected the selected fields after SELECT", 1, 7, ""),
    ("SELECT FROM demo", "expected the selected fields after SELECT", 1, 8, "FROM"),
    ("SELECT a", "expected FROM", 1, 9, ""),
    ("SELECT a WHERE b > 1", "expected FROM", 1, 10, "WHERE"),
    ("SELECT a AS FROM demo", "expected a name after AS", 1, 13, "FROM"),
    ("SELECT a[ FROM demo", "expected an index or a slice", 1, 11, "FROM"),
    ("SELECT a[1 FROM demo", "expected ']'", 1, 12, "FROM"),
    ("SELECT a-> FROM demo", "expected a field name after '->'", 1, 12, "FROM"),
    ("SELECT a.1 FROM demo", "expected a field name after '.'", 1, 10, "1"),
    ("SELECT a->'b' FROM demo", "expected a field name after '->'", 1, 11, "'b'"),
    ("SELECT CASE WHEN a THEN 1 FROM demo", "expected END to close CASE", 1, 25, "1"),
    ("SELECT * EXCEPT FROM demo", "expected '(' after EXCEPT", 1, 17, "FROM"),
    ("SELECT a FROM demo LIMIT x", "LIMIT takes a whole number", 1, 26, "x"),
    ("SELECT a FROM demo LIMIT 1.5", "LIMIT takes a whole number", 1, 26, "1.5"),
    ('SELECT "abc FROM demo', "unterminated string", 1, 8, '"abc FROM demo'),
    ("SELECT a >> 1 FROM demo", "expected an expression after '>'", 1, 11, ">"),
    ("SELECT a || b FROM demo", "expected an expression after '|'", 1, 11, "|"),
    ("SELECT a::int FROM demo", "expected FROM", 1, 9, ":"),
    ("SELECT [1, 2] FROM demo", "array literals are not supported", 1, 8, "["),
    ("SELECT f(a AS b) FROM demo", "expected ')'", 1, 12, "AS"),
    ("SELECT a FROM demo WHERE a = ?", "expected an expression after '='", 1, 30, "?"),
    ("FOO bar", "expected SELECT, CREATE, DROP, SHOW, DESCRIBE or EXPLAIN", 1, 1, "FOO"),
    # what eKuiper rejects
    ("SELECT DISTINCT a FROM demo", "DISTINCT is not supported", 1, 8, "DISTINCT"),
    ("SELECT count(DISTINCT a) FROM demo", "DISTINCT is not supported", 1, 14, "DISTINCT"),
    ("SELECT a FROM demo UNION SELECT b FROM demo", "UNION is not supported", 1, 20, "UNION"),
    ("SELECT a FROM demo EXCEPT SELECT b FROM x", "EXCEPT is not supported", 1, 20, "EXCEPT"),
    ("SELECT a FROM (SELECT a FROM demo)", "subqueries are not supported", 1, 16, "SELECT"),
    ("SELECT a FROM demo WHERE a IN (SELECT b FROM x)", "subqueries", 1, 32, "SELECT"),
    ("SELECT (SELECT 1 FROM x) FROM demo", "subqueries are not supported", 1, 9, "SELECT"),
    ("INSERT INTO demo VALUES (1)", "INSERT is not supported", 1, 1, "INSERT"),
    ("UPDATE demo SET a = 1", "UPDATE is not supported", 1, 1, "UPDATE"),
    ("DELETE FROM demo", "DELETE is not supported", 1, 1, "DELETE"),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH (common table expressions)", 1, 1, "WITH"),
    ("SELECT a FROM demo; SELECT b FROM demo", "only one statement", 1, 21, "SELECT"),
]


@pytest.mark.parametrize(("sql", "message", "line", "column", "token"), ERRORS)
def test_error_position(sql: str, message: str, line: int, column: int, token: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(sql)
    err = info.value
    assert message in err.message
    assert (err.line, err.column, err.token) == (line, column, token)
    assert err.sql == sql
    assert f"line {line}, column {column}" in str(err)


@pytest.mark.parametrize("sql", ["", "   ", ";", " ; ;", "-- only a comment", "/* x */"])
def test_empty_input(sql: str) -> None:
    with pytest.raises(ParseError, match="empty statement"):
        parse(sql)


def test_error_on_line_three() -> None:
    sql = "SELECT a,\n       b\nFROM demo WHERE a >\n  ORDER BY b"
    with pytest.raises(ParseError) as info:
        parse(sql)
    err = info.value
    assert (err.line, err.column, err.token) == (4, 3, "ORDER BY")


def test_error_inside_multiline_statement_reports_its_line() -> None:
    sql = "SELECT a,\n  b->c,\n  d e f\nFROM demo"
    with pytest.raises(ParseError) as info:
        parse(sql)
    assert (info.value.line, info.value.column, info.value.token) == (3, 7, "f")


def test_error_in_second_statement_of_a_file() -> None:
    text = 'CREATE STREAM demo () WITH (DATASOURCE="x");\nSELECT a FROM demo WHERE a = = 1'
    with pytest.raises(ParseError) as info:
        parse_many(text)
    assert (info.value.line, info.value.column, info.value.token) == (2, 30, "=")


def test_error_at_end_of_first_of_several_statements() -> None:
    with pytest.raises(ParseError) as info:
        parse_many("SELECT a FROM;\nSELECT b FROM demo")
    assert (info.value.line, info.value.column, info.value.token) == (1, 14, "")


def test_unterminated_comment_and_backtick() -> None:
    with pytest.raises(ParseError) as info:
        parse("SELECT `abc FROM demo")
    assert "unterminated" in info.value.message
    assert (info.value.line, info.value.column) == (1, 8)


def test_parse_error_is_a_kuiper_error() -> None:
    from kuiper.errors import KuiperError

    with pytest.raises(KuiperError) as info:
        parse("SELECT a FROM")
    assert info.value.code == 1001
