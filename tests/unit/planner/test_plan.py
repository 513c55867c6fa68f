"""Planner: name resolution, type checks, pruning, constant folding, op names."""
from __future__ import annotations

import pytest

from kuiper.api import Batch
from kuiper.catalog.catalog import Catalog
from kuiper.catalog.defs import RuleDef
from kuiper.errors import PlanError
from kuiper.expr import nodes
from kuiper.planner import plan_rule
from kuiper.sql import parse


@pytest.fixture()
def catalog() -> Catalog:
    cat = Catalog()
    cat.add_stream(parse(
        'CREATE STREAM demo (deviceId string, temperature float, humidity bigint, ts bigint) '
        'WITH (DATASOURCE="d", FORMAT="json")').definition)
    cat.add_stream(parse('CREATE STREAM free () WITH (DATASOURCE="f")').definition)
    return cat


def plan(cat: Catalog, sql: str):
    return plan_rule(RuleDef("r", sql), cat)


def run(cat: Catalog, sql: str, rows: list[dict]) -> list[dict]:
    p = plan(cat, sql)
    batch: Batch | None = Batch.from_rows(rows)
    for op in p.operators:
        batch = op.process(batch)
        if batch is None:
            return []
    return batch.to_rows()


def test_ops_are_named_like_ekuiper(catalog):
    p = plan(catalog, "SELECT deviceId FROM demo WHERE temperature > 30")
    assert [o.name for o in p.operators] == ["2_filter", "3_project"]


def test_pruning_keeps_only_used_fields_in_declared_order(catalog):
    p = plan(catalog, "SELECT temperature * 1.8 + 32 AS tf, deviceId FROM demo WHERE temperature > 30")
    assert p.sources[0].fields == ["deviceId", "temperature"]


def test_star_reads_everything(catalog):
    assert plan(catalog, "SELECT * FROM demo").sources[0].fields is None


def test_unknown_field_in_declared_stream(catalog):
    with pytest.raises(PlanError, match="unknown field 'nope'"):
        plan(catalog, "SELECT nope FROM demo")


def test_unknown_stream(catalog):
    with pytest.raises(Exception, match="not found"):
        plan(catalog, "SELECT a FROM missing")


def test_type_check_string_arithmetic(catalog):
    with pytest.raises(PlanError, match="invalid operation"):
        plan(catalog, "SELECT deviceId + 1 FROM demo")


def test_type_check_comparison(catalog):
    with pytest.raises(PlanError, match="invalid comparison"):
        plan(catalog, "SELECT deviceId FROM demo WHERE temperature > 'hot'")


def test_constant_folding(catalog):
    p = plan(catalog, "SELECT temperature * (1 + 2) AS t FROM demo WHERE 2 > 1")
    project = p.operators[-1]
    expr = project.fields[0].expr
    assert isinstance(expr.right, nodes.Const) and expr.right.value == 3
    assert isinstance(p.operators[0].condition, nodes.Const)


def test_alias_reuse_and_default_names(catalog):
    rows = run(catalog, "SELECT humidity + 1 AS h1, h1 * 2 AS h2, humidity * 3 FROM demo",
               [{"humidity": 10}])
    assert rows == [{"h1": 11, "h2": 22, "kuiper_field_0": 30}]


def test_stream_qualified_and_alias(catalog):
    rows = run(catalog, "SELECT d.deviceId, demo.humidity FROM demo AS d", [{"deviceId": "a", "humidity": 1}])
    assert rows == [{"deviceId": "a", "humidity": 1}]


def test_division_by_zero_drops_only_that_row(catalog):
    p = plan(catalog, "SELECT humidity / ts AS q FROM demo")
    out = p.operators[-1].process(Batch.from_rows([{"humidity": 7, "ts": 2}, {"humidity": 1, "ts": 0},
                                                  {"humidity": -7, "ts": 2}]))
    assert out.to_rows() == [{"q": 3}, {"q": -3}]
    assert p.operators[-1].take_errors() == [(1, "divided by zero")]


def test_groupby_window_plans_window_aggregate_project(catalog):
    p = plan(catalog, "SELECT count(*) FROM demo GROUP BY TUMBLINGWINDOW(ss, 10)")
    assert [o.name for o in p.operators] == ["2_window", "3_aggregate", "4_project"]
    assert p.is_windowed
