"""Rows of tuple sources into columns, checked and converted against a stream's schema.

Conversions follow eKuiper without strict validation: a number converts to the declared
numeric kind (a float truncates to bigint), anything else of the wrong type is an error that
drops the row. `lenient` (text formats such as CSV) also parses strings into numbers/booleans.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from kuiper.api.batch import (
    ANY,
    ARRAY,
    BIGINT,
    BOOLEAN,
    BYTEA,
    DATETIME,
    FLOAT,
    STRING,
    STRUCT,
    Batch,
    Column,
    infer_kind,
)
from kuiper.catalog.defs import FieldDef, StreamDef
from kuiper.functions.gostyle import go_repr

RowError = tuple[int, str]  # (0-based row index, message)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

def _json_type(v: Any) -> str:
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


#: the word eKuiper's preprocessor uses for a value that does not convert to its declared type
TYPE_MISMATCH = "type mismatch"
_GO_KIND = {BIGINT: "int64", FLOAT: "float64", STRING: "string", BOOLEAN: "bool",
            DATETIME: "datetime", BYTEA: "bytea", ARRAY: "array", STRUCT: "struct"}


def type_mismatch(name: str, kind: str, v: Any) -> str:
    """eKuiper's text for a value that does not convert to its field's declared type."""
    shown = go_repr(v)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return f"field {name} {TYPE_MISMATCH}: cannot convert {shown} to {_GO_KIND.get(kind, kind)}"


def _parse_time_ms(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def convert_value(kind: str, v: Any, lenient: bool = False) -> Any:
    """One value as `kind`; raises ValueError with a short reason when it does not convert."""
    if kind in (ANY, ""):
        return v
    if kind == BIGINT:
        if isinstance(v, bool):
            raise ValueError("a boolean")
        if isinstance(v, int):
            return _int64(v)
        if isinstance(v, float) and v.is_integer() and lenient:
            return _int64(int(v))  # JSON 12.0 is an error for a bigint field, as in eKuiper
        if lenient and isinstance(v, str):
            try:
                return _int64(int(v))
            except ValueError as exc:
                if "range" in str(exc):
                    raise
                return _int64(int(float(v)))
    elif kind == FLOAT:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
        if lenient and isinstance(v, str):
            return float(v)
    elif kind == BOOLEAN:
        if isinstance(v, bool):
            return v
        if isinstance(v, int | float):
            return v != 0
        if isinstance(v, str) and v.lower() in ("true", "false", "1", "0", "t", "f"):
            return v.lower() in ("true", "1", "t")
    elif kind == STRING:
        if isinstance(v, str):
            return v
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, int | float) and not isinstance(v, bool) or lenient:
            return str(v)
    elif kind == DATETIME:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return _int64(int(v))
        if isinstance(v, str):
            return _int64(int(v)) if v.isdigit() else _parse_time_ms(v)
    elif kind == BYTEA:
        if isinstance(v, bytes | bytearray):
            return bytes(v)
        if isinstance(v, str):
            try:
                return base64.b64decode(v, validate=True)
            except binascii.Error as exc:
                raise ValueError("a string that is not base64") from exc
    elif kind == ARRAY:
        if isinstance(v, list):
            return v
    elif kind == STRUCT:
        if isinstance(v, dict):
            return v
    raise ValueError(_json_type(v))


def _int64(v: int) -> int:
    if not _INT64_MIN <= v <= _INT64_MAX:
        raise ValueError("a number out of bigint range")
    return v


def _fast_column(kind: str, values: list[Any]) -> Column | None:
    """The column without a per-value loop when the values already have a fitting kind."""
    try:
        return _fast_column_of(kind, values)
    except OverflowError:  # an integer beyond int64: the per-value path reports it
        return None


def _fast_column_of(kind: str, values: list[Any]) -> Column | None:
    found = infer_kind(values)
    col = None
    if found == kind or (found == ANY and all(v is None for v in values)):
        col = Column.from_values(values, kind)
    elif kind == FLOAT and found == BIGINT:
        col = Column.from_values(values, BIGINT)
        col = Column(FLOAT, col.values.astype(np.float64), col.valid)
    elif kind == DATETIME and found in (BIGINT, FLOAT):
        col = Column.from_values(values, found)
        if found == FLOAT and not np.array_equal(col.values, np.floor(col.values)):
            return None
        col = Column(kind, col.values.astype(np.int64), col.valid)
    return col


def convert_column(
    fdef: FieldDef, values: list[Any], *, lenient: bool = False
) -> tuple[Column, list[RowError]]:
    """A declared field's column from Python values; errors name the row and the reason."""
    kind = fdef.kind or ANY
    if not (lenient and kind not in (ARRAY, STRUCT, ANY)):
        fast = _fast_column(kind, values)
        if fast is not None:
            return fast, []
    errors: list[RowError] = []
    out: list[Any] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            out.append(convert_value(kind, v, lenient))
        except (ValueError, TypeError, OverflowError):
            errors.append((i, type_mismatch(fdef.name, kind, v)))
            out.append(None)
    return Column.from_values(out, kind), errors


def needed_fields(stream: StreamDef, fields: Sequence[str] | None) -> list[FieldDef]:
    """The declared fields a rule reads (all of them when `fields` is None)."""
    if fields is None:
        return list(stream.fields)
    wanted = set(fields)
    return [f for f in stream.fields if f.name in wanted]


def rows_to_batch(
    rows: Sequence[Mapping[str, Any]],
    stream: StreamDef,
    fields: Sequence[str] | None,
    *,
    metas: Sequence[Mapping[str, Any] | None] | None = None,
    lenient: bool = False,
) -> tuple[Batch, list[RowError]]:
    """Columns for the fields a rule reads; rows with a value of the wrong type are dropped."""
    if stream.schemaless:
        batch = Batch.from_rows(rows, metas=metas)
        if fields is not None:
            cols = {f: batch.columns.get(f) or Column.nulls(batch.n) for f in fields}
            batch = batch.with_columns(cols)
        return batch, []
    columns: dict[str, Column] = {}
    errors: list[RowError] = []
    for fdef in needed_fields(stream, fields):
        name = fdef.name
        col, errs = convert_column(fdef, [r.get(name) for r in rows], lenient=lenient)
        columns[name] = col
        errors.extend(errs)
    meta_batch = Batch.from_rows([{}] * len(rows), metas=metas) if metas else None
    batch = Batch(columns, len(rows), meta=meta_batch.meta if meta_batch else {})
    if errors:
        bad = np.zeros(len(rows), dtype=np.bool_)
        bad[[i for i, _ in errors]] = True
        batch = batch.filter(~bad)
        errors.sort(key=lambda e: e[0])
    return batch, errors


def column_defaults(stream: StreamDef, wanted: Sequence[str] | None) -> list[FieldDef]:
    """The declared fields whose `DEFAULT` applies: eKuiper fills them only under
    `STRICT_VALIDATION="true"`; `wanted` (the fields a rule reads, None = all) limits them."""
    if not stream.strict_validation:
        return []
    return [f for f in stream.fields
            if f.default is not None and (wanted is None or f.name in wanted)]


def apply_defaults(batch: Batch, fields: Sequence[FieldDef]) -> Batch:
    """Fill each field's missing (or null) values with its DEFAULT, a whole column at a time."""
    n = batch.n
    if not n:
        return batch
    for f in fields:
        col = batch.columns.get(f.name)
        if col is None:
            batch.columns[f.name] = _constant(f.kind, f.default, n)
            continue
        if col.valid is None or bool(col.valid.all()):
            continue
        batch.columns[f.name] = _filled(col, f.default)
    return batch


def _constant(kind: str, value: Any, n: int) -> Column:
    if kind in (BIGINT, FLOAT, BOOLEAN):
        dtype = {BIGINT: np.int64, FLOAT: np.float64, BOOLEAN: np.bool_}[kind]
        return Column(kind, np.full(n, value, dtype=dtype))
    values = np.empty(n, dtype=object)
    values.fill(value)
    return Column(kind, values)


def _filled(col: Column, value: Any) -> Column:
    missing = ~col.valid  # type: ignore[operator]
    if col.kind == STRING and col.dictionary is not None:
        dictionary = col.dictionary
        hits = np.flatnonzero(dictionary == value)
        if len(hits):
            code = int(hits[0])
        else:
            code = len(dictionary)
            dictionary = np.append(dictionary, np.array([value], dtype=object))
        codes = col.values.copy()
        codes[missing] = code
        return Column(col.kind, codes, None, dictionary)
    values = col.values.copy()
    if values.dtype == object or col.kind in (BIGINT, FLOAT, BOOLEAN):
        values[missing] = value
        return Column(col.kind, values, None, col.dictionary)
    return col
