"""The statements `kuiper.sql.parse` returns: one dataclass per eKuiper statement kind."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kuiper.catalog.defs import StreamDef

if TYPE_CHECKING:
    from sqlglot import exp


@dataclass(frozen=True, slots=True)
class Query:
    """A SELECT: the sqlglot tree (eKuiper conventions, see docs/internals.md) and its text."""

    select: exp.Select
    text: str


@dataclass(frozen=True, slots=True)
class CreateStream:
    """CREATE STREAM or CREATE TABLE (`definition.is_table`)."""

    definition: StreamDef


@dataclass(frozen=True, slots=True)
class DropStream:
    """DROP STREAM name / DROP TABLE name."""

    name: str
    is_table: bool = False


@dataclass(frozen=True, slots=True)
class ShowStreams:
    """SHOW STREAMS / SHOW TABLES."""

    is_table: bool = False


@dataclass(frozen=True, slots=True)
class DescribeStream:
    """DESCRIBE STREAM name / DESCRIBE TABLE name."""

    name: str
    is_table: bool = False


@dataclass(frozen=True, slots=True)
class Explain:
    """EXPLAIN SELECT …."""

    query: Query


Statement = Query | CreateStream | DropStream | ShowStreams | DescribeStream | Explain
