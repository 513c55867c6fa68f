"""The eKuiper SQL dialect: `parse(text)` and `parse_many(text)` return statement objects."""
from __future__ import annotations

from kuiper.sql.expressions import Arrow
from kuiper.sql.parse import parse, parse_many
from kuiper.sql.statements import (
    CreateStream,
    DescribeStream,
    DropStream,
    Explain,
    Query,
    ShowStreams,
    Statement,
)

__all__ = [
    "Arrow",
    "CreateStream",
    "DescribeStream",
    "DropStream",
    "Explain",
    "Query",
    "ShowStreams",
    "Statement",
    "parse",
    "parse_many",
]
