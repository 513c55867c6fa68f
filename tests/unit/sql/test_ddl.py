"""CREATE/DROP/SHOW/DESCRIBE STREAM|TABLE: the statement objects and StreamDef they produce."""
from __future__ import annotations

import pytest

from kuiper.catalog.defs import FieldDef
from kuiper.errors import ParseError
from kuiper.sql import (
    CreateStream,
    DescribeStream,
    DropStream,
    ShowStreams,
    parse,
    parse_many,
)


def create(sql: str) -> CreateStream:
    statement = parse(sql)
    assert isinstance(statement, CreateStream)
    return statement


def test_create_stream_with_all_scalar_types() -> None:
    sql = (
        'CREATE STREAM demo (a bigint, b FLOAT, c String, d datetime, e BOOLEAN, f bytea) '
        'WITH (DATASOURCE="topic/a", FORMAT="json")'
    )
    definition = create(sql).definition
    assert definition.name == "demo"
    assert not definition.is_table
    assert [(f.name, f.kind) for f in definition.fields] == [
        ("a", "bigint"), ("b", "float"), ("c", "string"),
        ("d", "datetime"), ("e", "boolean"), ("f", "bytea"),
    ]
    assert definition.options == {"DATASOURCE": "topic/a", "FORMAT": "json"}
    assert definition.statement == sql


def test_create_stream_nested_types() -> None:
    definition = create(
        "CREATE STREAM s (tags ARRAY(string), loc struct(lat float, `long` float), "
        "pts array(STRUCT(x bigint, ys array(float))), m array(array(bigint))) "
        'WITH (DATASOURCE="t")'
    ).definition
    tags, loc, pts, matrix = definition.fields
    assert tags == FieldDef("tags", "array", element=FieldDef("", "string"))
    assert loc == FieldDef("loc", "struct", fields=(FieldDef("lat", "float"),
                                                   FieldDef("long", "float")))
    assert pts.kind == "array" and pts.element is not None
    assert pts.element.kind == "struct"
    assert pts.element.fields[1] == FieldDef("ys", "array", element=FieldDef("", "float"))
    assert matrix.describe() == "array(array(bigint))"
    assert loc.describe() == "struct(lat float, long float)"


def test_create_stream_options() -> None:
    definition = create(
        "CREATE STREAM demo () WITH (datasource='devices/+/messages', FORMAT=\"JSON\", "
        'type="mqtt", KEY="id", conf_key="demo", SHARED="true", TIMESTAMP="ts", '
        'TIMESTAMP_FORMAT="YYYY-MM-dd HH:mm:ss", SCHEMAID="a.B", STRICT_VALIDATION="true", '
        'DELIMITER=";", EXTRA="{\\"qos\\":0}", VERSION="1", TEMP="false")'
    ).definition
    assert definition.schemaless
    assert definition.options == {
        "DATASOURCE": "devices/+/messages",
        "FORMAT": "JSON",
        "TYPE": "mqtt",
        "KEY": "id",
        "CONF_KEY": "demo",
        "SHARED": "true",
        "TIMESTAMP": "ts",
        "TIMESTAMP_FORMAT": "YYYY-MM-dd HH:mm:ss",
        "SCHEMAID": "a.B",
        "STRICT_VALIDATION": "true",
        "DELIMITER": ";",
        "EXTRA": '{"qos":0}',
        "VERSION": "1",
        "TEMP": "false",
    }
    assert definition.format == "json" and definition.shared and definition.conf_key == "demo"


def test_create_table() -> None:
    definition = create(
        'CREATE TABLE lookup1 (id bigint, name string) WITH (DATASOURCE="0", TYPE="memory", '
        'KIND="lookup", KEY="id", RETAIN_SIZE="10")'
    ).definition
    assert definition.is_table and definition.kind == "lookup"
    assert definition.options["RETAIN_SIZE"] == "10"


def test_create_schemaless_table_and_empty_with() -> None:
    definition = create("create table t () with ()").definition
    assert definition.is_table and definition.schemaless and definition.options == {}


def test_create_quoted_names() -> None:
    definition = create('CREATE STREAM `my demo` (`a b` bigint) WITH (DATASOURCE="x")').definition
    assert definition.name == "my demo"
    assert definition.fields[0].name == "a b"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DROP STREAM demo", DropStream("demo", False)),
        ("drop table t1", DropStream("t1", True)),
        ("SHOW STREAMS", ShowStreams(False)),
        ("show tables", ShowStreams(True)),
        ("DESCRIBE STREAM demo", DescribeStream("demo", False)),
        ("describe TABLE t1;", DescribeStream("t1", True)),
        ("DROP STREAM `odd name`", DropStream("odd name", False)),
    ],
)
def test_other_statements(sql: str, expected: object) -> None:
    assert parse(sql) == expected


def test_column_defaults_take_the_column_type() -> None:
    stmt = parse('CREATE STREAM x (a bigint DEFAULT -2, b float DEFAULT 1, c string DEFAULT 5, '
                 'd boolean DEFAULT "true", e boolean DEFAULT 0, f bigint) WITH ()')
    fields = stmt.definition.fields  # type: ignore[union-attr]
    assert [f.default for f in fields] == [-2, 1.0, "5", True, False, None]
    assert isinstance(fields[1].default, float)


def test_parse_many_keeps_each_statement_text() -> None:
    first = 'CREATE STREAM a () WITH (DATASOURCE="x;y")'
    second = "CREATE TABLE b (id bigint) WITH (TYPE='file')"
    statements = parse_many(f"{first};\n-- comment ; here\n{second};\nSHOW STREAMS")
    assert [type(s).__name__ for s in statements] == ["CreateStream", "CreateStream", "ShowStreams"]
    assert statements[0].definition.statement == first  # type: ignore[union-attr]
    assert statements[1].definition.statement == second  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sql", "message", "column", "token"),
    [
        ('CREATE STREAM x (a int) WITH (DATASOURCE="t")', "unknown field type", 20, "int"),
        ('CREATE STREAM x (a array(int)) WITH (DATASOURCE="t")', "unknown field type", 26, "int"),
        ('CREATE STREAM x (a bigint) WITH (DATASOURCE="t", FOO="y")',
         "unknown stream option FOO, valid options: DATASOURCE, FORMAT", 50, "FOO"),
        ("CREATE STREAM x (a bigint) WITH (DATASOURCE=1)", "quoted string value", 45, "1"),
        ("CREATE STREAM x (a bigint, a float) WITH ()", "duplicate field name a", 28, "a"),
        ("CREATE STREAM x (s struct(a bigint, a float)) WITH ()", "duplicate field", 37, "a"),
        ("CREATE STREAM x (a bigint) WITH () extra", "unexpected text", 36, "extra"),
        ("CREATE STREAM x (a datetime DEFAULT 1) WITH ()",
         "DEFAULT clause is not supported for datetime", 29, "DEFAULT"),
        ("CREATE STREAM x (a bigint DEFAULT 'x') WITH ()", "cannot convert x to bigint", 35, "'x'"),
        ("CREATE STREAM x (a bigint DEFAULT) WITH ()", "expected a literal after DEFAULT", 34,
         ")"),
        ("CREATE VIEW x () WITH ()", "expected STREAM or TABLE", 8, "VIEW"),
        ("CREATE STREAM x (a bigint b float) WITH ()", "expected ',' or ')'", 27, "b"),
        ("SHOW STREAM", "expected STREAMS or TABLES", 6, "STREAM"),
        ("DESCRIBE demo", "expected STREAM or TABLE", 10, "demo"),
        ("DROP STREAM a b", "unexpected text", 15, "b"),
        ("EXPLAIN DROP STREAM a", "expected SELECT after EXPLAIN", 9, "DROP"),
    ],
)
def test_ddl_errors(sql: str, message: str, column: int, token: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(sql)
    err = info.value
    assert message in err.message
    assert (err.line, err.column, err.token) == (1, column, token)
