"""SELECT trees: the node classes and key arguments of every eKuiper construct (internals.md)."""
from __future__ import annotations

import pytest
from sqlglot import exp

from kuiper.sql import Arrow, Explain, Query, parse, parse_many

# (projection as written, expected shape of the first SELECT expression)
PROJECTIONS = [
    # names, aliases, stars
    ("a", "Column(a)"),
    ("demo.temperature", "Column(demo.temperature)"),
    ("`from`", "Column(`from`)"),
    ("`my field`", "Column(`my field`)"),
    ("timestamp", "Column(timestamp)"),
    ("a AS b", "Alias(Column(a), alias=b)"),
    ("a b", "Alias(Column(a), alias=b)"),
    ("a AS `x y`", "Alias(Column(a), alias=`x y`)"),
    ("*", "Star()"),
    ("* EXCEPT(a, b)", "Star(except_=[Column(a), Column(b)])"),
    ("* REPLACE(a + 1 AS c)", "Star(replace=[Alias(Add(Column(a), 1), alias=c)])"),
    ("* EXCEPT(a) REPLACE(b * 2 AS b)",
     "Star(except_=[Column(a)], replace=[Alias(Mul(Column(b), 2), alias=b)])"),
    ("demo.*", "Column(demo.Star())"),
    # literals: both quote kinds are strings
    ("1", "1"),
    ("1.5", "1.5"),
    ("-1", "Neg(1)"),
    ("'s'", "'s'"),
    ('"s"', "'s'"),
    ('"it\\"s"', "'it\"s'"),
    ("TRUE", "TRUE"),
    ("false", "FALSE"),
    ("NULL", "NULL"),
    # arithmetic and bitwise
    ("a + b", "Add(Column(a), Column(b))"),
    ("a - b", "Sub(Column(a), Column(b))"),
    ("a * b", "Mul(Column(a), Column(b))"),
    ("a / b", "Div(Column(a), Column(b))"),
    ("a % b", "Mod(Column(a), Column(b))"),
    ("a & b", "BitwiseAnd(Column(a), Column(b))"),
    ("a | b", "BitwiseOr(Column(a), Column(b))"),
    ("a ^ b", "BitwiseXor(Column(a), Column(b))"),
    ("-a", "Neg(Column(a))"),
    ("(a + b) * c", "Mul(Paren(Add(Column(a), Column(b))), Column(c))"),
    # precedence: + - | ^ < * / % &
    ("a + b * c", "Add(Column(a), Mul(Column(b), Column(c)))"),
    ("a + b & c", "Add(Column(a), BitwiseAnd(Column(b), Column(c)))"),
    ("a & b + c", "Add(BitwiseAnd(Column(a), Column(b)), Column(c))"),
    ("a ^ b * c", "BitwiseXor(Column(a), Mul(Column(b), Column(c)))"),
    ("a | b ^ c", "BitwiseXor(BitwiseOr(Column(a), Column(b)), Column(c))"),
    ("a - b + c", "Add(Sub(Column(a), Column(b)), Column(c))"),
    # comparisons and logic
    ("a = 1", "EQ(Column(a), 1)"),
    ("a != 1", "NEQ(Column(a), 1)"),
    ("a <> 1", "NEQ(Column(a), 1)"),
    ("a < 1", "LT(Column(a), 1)"),
    ("a <= 1", "LTE(Column(a), 1)"),
    ("a > 1", "GT(Column(a), 1)"),
    ("a >= 1", "GTE(Column(a), 1)"),
    ("a AND b", "And(Column(a), Column(b))"),
    ("a OR b", "Or(Column(a), Column(b))"),
    ("NOT a", "Not(Column(a))"),
    ("a OR b AND c", "Or(Column(a), And(Column(b), Column(c)))"),
    ("NOT a = 1 AND b", "And(Not(EQ(Column(a), 1)), Column(b))"),
    ("a + 1 > b * 2", "GT(Add(Column(a), 1), Mul(Column(b), 2))"),
    ("a | 1 = b ^ 2", "EQ(BitwiseOr(Column(a), 1), BitwiseXor(Column(b), 2))"),
    # predicates
    ("a IN (1, 2)", "In(Column(a), 1, 2)"),
    ("a NOT IN (1, 2)", "Not(In(Column(a), 1, 2))"),
    ("a IN arr", "In(Column(a), field=Column(arr))"),
    ("a IN b->c", "In(Column(a), field=Arrow(Column(b), c))"),
    ("a BETWEEN 1 AND 2", "Between(Column(a), low=1, high=2)"),
    ("a NOT BETWEEN 1 AND b + 1", "Not(Between(Column(a), low=1, high=Add(Column(b), 1)))"),
    ('a LIKE "x%"', "Like(Column(a), 'x%')"),
    ('a NOT LIKE "_x"', "Not(Like(Column(a), '_x'))"),
    ("a IS NULL", "Is(Column(a), NULL)"),
    ("a IS NOT NULL", "Not(Is(Column(a), NULL))"),
    ('CASE a WHEN 1 THEN "one" WHEN 2 THEN "two" ELSE "many" END',
     "Case(Column(a), ifs=[If(1, true='one'), If(2, true='two')], default='many')"),
    ("CASE WHEN a > 1 THEN b END", "Case(ifs=[If(GT(Column(a), 1), true=Column(b))])"),
    # nested access, indexes, slices
    ("a->b", "Arrow(Column(a), b)"),
    ("a->b->c", "Arrow(Arrow(Column(a), b), c)"),
    ("a.b", "Column(a.b)"),
    ("a.b.c", "Dot(Column(a.b), c)"),
    ("a->b.c", "Dot(Arrow(Column(a), b), c)"),
    ("a.b->c", "Arrow(Column(a.b), c)"),
    ("d.x->y", "Arrow(Column(d.x), y)"),
    ("a->`b c`", "Arrow(Column(a), `b c`)"),
    ("a[0]", "Bracket(Column(a), 0)"),
    ("a[-1]", "Bracket(Column(a), Neg(1))"),
    ("a[1:3]", "Bracket(Column(a), Slice(1:3))"),
    ("a[:2]", "Bracket(Column(a), Slice(:2))"),
    ("a[2:]", "Bracket(Column(a), Slice(2:))"),
    ("a[:]", "Bracket(Column(a), Slice(:))"),
    ("a[x + 1:y]", "Bracket(Column(a), Slice(Add(Column(x), 1):Column(y)))"),
    ("a->b[0]", "Bracket(Arrow(Column(a), b), 0)"),
    ("a[0]->b", "Arrow(Bracket(Column(a), 0), b)"),
    ("a[0][1]", "Bracket(Bracket(Column(a), 0), 1)"),
    ("a[i + 1] * 2", "Mul(Bracket(Column(a), Add(Column(i), 1)), 2)"),
    ("followers->Group1[:1]->first",
     "Arrow(Bracket(Arrow(Column(followers), Group1), Slice(:1)), first)"),
    ("f(x)->a", "Arrow(Anonymous('f', Column(x)), a)"),
    ("f(a->b)", "Anonymous('f', Arrow(Column(a), b))"),
    ("f(a->b.c, x)", "Anonymous('f', Dot(Arrow(Column(a), b), c), Column(x))"),
    # function calls: all Anonymous, names as written
    ("meta(topic)", "Anonymous('meta', Column(topic))"),
    ("meta(*)", "Anonymous('meta', Star())"),
    ("meta(a.b.c)", "Anonymous('meta', Dot(Column(a.b), c))"),
    ("count(*)", "Anonymous('count', Star())"),
    ("COUNT(a)", "Anonymous('COUNT', Column(a))"),
    ("lower(a)", "Anonymous('lower', Column(a))"),
    ('cast(a, "bigint")', "Anonymous('cast', Column(a), 'bigint')"),
    ('concat(a, "x", b)', "Anonymous('concat', Column(a), 'x', Column(b))"),
    ("sum(a)", "Anonymous('sum', Column(a))"),
    ('replace(a, "x", "y")', "Anonymous('replace', Column(a), 'x', 'y')"),
    ("window_start()", "Anonymous('window_start')"),
    ("myPlugin(a, 1)", "Anonymous('myPlugin', Column(a), 1)"),
    ("abs(-a) + round(b, 2)",
     "Add(Anonymous('abs', Neg(Column(a))), Anonymous('round', Column(b), 2))"),
    # analytic functions
    ("lag(a) OVER (PARTITION BY b WHEN c > 1)",
     "Window(Anonymous('lag', Column(a)), partition_by=[Column(b)], when=GT(Column(c), 1))"),
    ("lag(a) OVER (WHEN c > 1)", "Window(Anonymous('lag', Column(a)), when=GT(Column(c), 1))"),
    ("lag(a) OVER (PARTITION BY b, c)",
     "Window(Anonymous('lag', Column(a)), partition_by=[Column(b), Column(c)])"),
]


@pytest.mark.parametrize(("projection", "expected"), PROJECTIONS)
def test_projection_shape(projection: str, expected: str, shape) -> None:
    query = parse(f"SELECT {projection} FROM demo")
    assert isinstance(query, Query)
    assert shape(query.select.expressions[0]) == expected


# (SQL, clause arg of exp.Select, expected shape)
CLAUSES = [
    ("SELECT a FROM demo", "from_", "From(Table(demo))"),
    ("SELECT d.x FROM demo AS d", "from_", "From(Table(demo, alias=TableAlias(d)))"),
    ("SELECT a FROM `my stream`", "from_", "From(Table(`my stream`))"),
    ("SELECT a FROM demo WHERE a > 1 AND b = 'x'", "where",
     "Where(And(GT(Column(a), 1), EQ(Column(b), 'x')))"),
    ("SELECT a FROM demo INNER JOIN t ON demo.id = t.id", "joins",
     "[Join(Table(t), kind='INNER', on=EQ(Column(demo.id), Column(t.id)))]"),
    ("SELECT a FROM demo AS d LEFT JOIN t AS x ON d.id = x.id", "joins",
     "[Join(Table(t, alias=TableAlias(x)), side='LEFT', on=EQ(Column(d.id), Column(x.id)))]"),
    ("SELECT a FROM demo RIGHT JOIN t ON a = b", "joins",
     "[Join(Table(t), side='RIGHT', on=EQ(Column(a), Column(b)))]"),
    ("SELECT a FROM demo FULL JOIN t ON a = b", "joins",
     "[Join(Table(t), side='FULL', on=EQ(Column(a), Column(b)))]"),
    ("SELECT a FROM demo CROSS JOIN t", "joins", "[Join(Table(t), kind='CROSS')]"),
    ("SELECT a FROM demo GROUP BY TUMBLINGWINDOW(ss, 10)", "group",
     "Group(Anonymous('TUMBLINGWINDOW', Column(ss), 10))"),
    ("SELECT a FROM demo GROUP BY b, HOPPINGWINDOW(mi, 10, 5)", "group",
     "Group(Column(b), Anonymous('HOPPINGWINDOW', Column(mi), 10, 5))"),
    ("SELECT a FROM demo GROUP BY SLIDINGWINDOW(ms, 100, 10)", "group",
     "Group(Anonymous('SLIDINGWINDOW', Column(ms), 100, 10))"),
    ("SELECT a FROM demo GROUP BY SESSIONWINDOW(hh, 1, 2)", "group",
     "Group(Anonymous('SESSIONWINDOW', Column(hh), 1, 2))"),
    ("SELECT a FROM demo GROUP BY tumblingwindow(dd, 1)", "group",
     "Group(Anonymous('tumblingwindow', Column(dd), 1))"),
    ("SELECT a FROM demo GROUP BY COUNTWINDOW(5, 1)", "group",
     "Group(Anonymous('COUNTWINDOW', 5, 1))"),
    ("SELECT a FROM demo GROUP BY STATEWINDOW(a = 1, a = 5)", "group",
     "Group(Anonymous('STATEWINDOW', EQ(Column(a), 1), EQ(Column(a), 5)))"),
    ("SELECT a FROM demo GROUP BY STATEWINDOW(a = 1, a = 5) OVER (PARTITION BY b)", "group",
     "Group(Window(Anonymous('STATEWINDOW', EQ(Column(a), 1), EQ(Column(a), 5)),"
     " partition_by=[Column(b)]))"),
    ("SELECT a FROM demo GROUP BY TUMBLINGWINDOW(ss, 10) FILTER (WHERE a > 1)", "group",
     "Group(Filter(Anonymous('TUMBLINGWINDOW', Column(ss), 10), Where(GT(Column(a), 1))))"),
    ("SELECT a FROM demo GROUP BY SLIDINGWINDOW(ss, 1) FILTER (WHERE a > 1) OVER (WHEN b > 1)",
     "group",
     "Group(Window(Filter(Anonymous('SLIDINGWINDOW', Column(ss), 1), Where(GT(Column(a), 1))),"
     " when=GT(Column(b), 1)))"),
    ("SELECT count(*) FROM demo GROUP BY b HAVING count(*) > 1", "having",
     "Having(GT(Anonymous('count', Star()), 1))"),
    ("SELECT a FROM demo ORDER BY a DESC, b", "order",
     "Order(Ordered(Column(a), desc=True), Ordered(Column(b)))"),
    ("SELECT a FROM demo ORDER BY a ASC", "order", "Order(Ordered(Column(a)))"),
    ("SELECT a FROM demo LIMIT 10", "limit", "Limit(10)"),
]


@pytest.mark.parametrize(("sql", "clause", "expected"), CLAUSES)
def test_clause_shape(sql: str, clause: str, expected: str, shape) -> None:
    query = parse(sql)
    assert isinstance(query, Query)
    assert shape(query.select.args[clause]) == expected


def test_full_query_with_comments_and_lines(shape) -> None:
    sql = (
        "/* a rule */\n"
        "select d.temperature AS t, humidity -- inline\n"
        "FROM demo AS d\n"
        "where d.temperature > 30 group by TumblingWindow(ss, 10)\n"
        "having count(*) >= 2 order by t limit 5;\n"
    )
    query = parse(sql)
    assert isinstance(query, Query)
    select = query.select
    assert [shape(e) for e in select.expressions] == [
        "Alias(Column(d.temperature), alias=t)",
        "Column(humidity)",
    ]
    assert shape(select.args["where"]) == "Where(GT(Column(d.temperature), 30))"
    assert shape(select.args["group"]) == "Group(Anonymous('TumblingWindow', Column(ss), 10))"
    assert shape(select.args["limit"]) == "Limit(5)"
    assert query.text.startswith("select d.temperature") and query.text.endswith("limit 5")


def test_contract_classes() -> None:
    select = parse("SELECT a->b, x[0], x[1:], f(a) FROM demo").select
    arrow, index, slice_, call = select.expressions
    assert isinstance(arrow, Arrow) and isinstance(arrow.expression, exp.Identifier)
    assert arrow.key_name == "b"
    assert isinstance(index, exp.Bracket) and index.expressions[0].to_py() == 0
    assert isinstance(slice_.expressions[0], exp.Slice)
    assert slice_.expressions[0].args.get("expression") is None
    assert isinstance(call, exp.Anonymous) and call.name == "f"
    column = select.find(exp.Column)
    assert column is not None and isinstance(column.this, exp.Identifier)


def test_window_when_is_in_args() -> None:
    window = parse("SELECT lag(a) OVER (PARTITION BY b WHEN c) FROM demo").select.expressions[0]
    assert isinstance(window, exp.Window)
    assert isinstance(window.args["when"], exp.Column)
    assert window.args["partition_by"][0].name == "b"


def test_nested_window_in_when_keeps_outer_condition(shape) -> None:
    window = parse(
        "SELECT lag(a) OVER (WHEN had_changed(true, b) OVER (PARTITION BY c)) FROM demo"
    ).select.expressions[0]
    assert shape(window.args["when"]) == (
        "Window(Anonymous('had_changed', TRUE, Column(b)), partition_by=[Column(c)])"
    )


def test_explain_wraps_a_query(shape) -> None:
    statement = parse("EXPLAIN SELECT a FROM demo WHERE a > 1")
    assert isinstance(statement, Explain)
    assert statement.query.text == "SELECT a FROM demo WHERE a > 1"
    assert shape(statement.query.select.args["where"]) == "Where(GT(Column(a), 1))"


def test_parse_many_splits_outside_quotes_and_comments() -> None:
    statements = parse_many(
        "SELECT 'a;b' FROM demo; /* ; */ SELECT \"c;d\" FROM demo -- ;\n;;\n"
        "SELECT `e;f` FROM demo"
    )
    assert [s.text for s in statements] == [  # type: ignore[union-attr]
        "SELECT 'a;b' FROM demo",
        'SELECT "c;d" FROM demo',
        "SELECT `e;f` FROM demo",
    ]
    assert statements[2].select.expressions[0].name == "e;f"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "name",
    "key value type format data timestamp date time year user status level count first last "
    "rows range window table stream index offset kind version array struct map interval "
    "values self".split(),
)
def test_common_field_names_need_no_quoting(name: str, shape) -> None:
    select = parse(f"SELECT {name}, a.{name}, a->{name} FROM demo WHERE {name} > 1").select
    assert [shape(e) for e in select.expressions] == [
        f"Column({name})", f"Column(a.{name})", f"Arrow(Column(a), {name})"
    ]


def test_trailing_semicolon_allowed() -> None:
    assert isinstance(parse("SELECT a FROM demo;"), Query)
