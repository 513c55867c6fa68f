"""Fuzzing the SQL front end: any text parses, or fails with ParseError/PlanError; a statement
that parses plans against a catalog, or fails with ParseError/PlanError. Any other exception
is a bug."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kuiper.io  # noqa: F401  (connectors)
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import NotFoundError, ParseError, PlanError
from kuiper.planner.build import plan_rule
from kuiper.sql import parse, parse_many

EXAMPLES = int(os.environ.get("KUIPER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=os.environ.get("KUIPER_FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

WORDS = [
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "ASC", "DESC", "LIMIT", "AS",
    "AND", "OR", "NOT", "IN", "BETWEEN", "LIKE", "IS", "NULL", "CASE", "WHEN", "THEN", "ELSE",
    "END", "JOIN", "LEFT", "RIGHT", "FULL", "CROSS", "INNER", "ON", "OVER", "PARTITION",
    "FILTER", "CREATE", "STREAM", "TABLE", "WITH", "DROP", "DESCRIBE", "SHOW", "STREAMS",
    "EXPLAIN", "TUMBLINGWINDOW", "HOPPINGWINDOW", "SLIDINGWINDOW", "SESSIONWINDOW",
    "COUNTWINDOW", "STATEWINDOW", "ss", "ms", "mi", "hh", "dd", "count", "sum", "avg", "max",
    "min", "collect", "deduplicate", "lag", "latest", "meta", "abs", "concat", "split_value",
    "cast", "bigint", "float", "string", "boolean", "datetime", "array", "struct", "bytea",
    "demo", "t", "a", "b", "c", "*", ",", "(", ")", "[", "]", "{", "}", ".", "->", "+", "-",
    "/", "%", "=", "!=", "<>", "<", "<=", ">", ">=", "&", "|", "^", ":", ";", "'x'", '"y"',
    "`q`", "1", "0", "-1", "1.5", "1e400", "99999999999999999999999", "true", "false",
    "DATASOURCE", "FORMAT", "TYPE", "KEY", "TIMESTAMP", "SHARED", "CONF_KEY", "#", "$$",
    "\\", "\x00", "é", "😀",
]
VALID = [
    "SELECT * FROM demo",
    "SELECT a, b AS x FROM demo WHERE a > 1 AND b = 'x'",
    "SELECT count(*), avg(a) FROM demo GROUP BY b, TUMBLINGWINDOW(ss, 10)",
    "SELECT a->b, c[0], c[1:2] FROM demo WHERE meta(topic) = 't'",
    "SELECT CASE WHEN a > 1 THEN 'big' ELSE 'small' END AS s FROM demo",
    "SELECT lag(a) OVER (PARTITION BY b) FROM demo",
    "SELECT demo.a, t.b FROM demo INNER JOIN t ON demo.a = t.a "
    "GROUP BY TUMBLINGWINDOW(ss, 1)",
    'CREATE STREAM s (a bigint, b array(struct(c string))) WITH (DATASOURCE="x", FORMAT="json")',
]


def _check_parse(text: str) -> None:
    try:
        parse(text)
    except (ParseError, PlanError):
        pass
    try:
        parse_many(text)
    except (ParseError, PlanError):
        pass


def _catalog() -> Catalog:
    catalog = Catalog()
    catalog.add_stream(parse('CREATE STREAM demo (a bigint, b string, c array(bigint)) '
                             'WITH (DATASOURCE="d", TYPE="memory", FORMAT="json")').definition)
    catalog.add_stream(parse('CREATE TABLE t (a bigint, b string) '
                             'WITH (DATASOURCE="t", TYPE="memory", FORMAT="json")').definition)
    return catalog


CATALOG = _catalog()


def _check_plan(text: str) -> None:
    try:
        plan_rule(RuleDef(id="fuzz", sql=text, actions=(("log", {}),)), CATALOG)
    except (ParseError, PlanError, NotFoundError):  # the rule manager reports a PlanError
        pass


@FUZZ
@given(st.text(max_size=200))
def test_any_text(text: str) -> None:
    _check_parse(text)


@FUZZ
@given(st.lists(st.sampled_from(WORDS), max_size=30))
def test_token_soup(tokens: list[str]) -> None:
    text = " ".join(tokens)
    _check_parse(text)
    _check_plan(text)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_mutated_queries(base: str, data: st.DataObject) -> None:
    text = base
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        token = data.draw(st.sampled_from(WORDS))
        if op == "insert":
            text = f"{text[:pos]} {token} {text[pos:]}"
        elif op == "delete":
            end = data.draw(st.integers(pos, min(len(text), pos + 8)))
            text = text[:pos] + text[end:]
        else:
            text = f"{text[:pos]}{token}{text[pos + 1:]}"
    _check_parse(text)
    _check_plan(text)


def test_the_valid_seeds_plan() -> None:
    for text in VALID[:-1]:
        plan_rule(RuleDef(id="fuzz", sql=text, actions=(("log", {}),)), CATALOG)
