"""The columnar micro-batch that flows between every node of a rule, and its columns.

A `Column` is one field over the rows of a batch: a numpy array of values plus an optional
validity mask (False = SQL NULL / eKuiper nil). Kinds are eKuiper's type names:

=========  ======================================================================
kind       values array
=========  ======================================================================
bigint     int64
float      float64
boolean    bool
datetime   int64, epoch milliseconds
string     int32 codes into `dictionary` (an object array of str), or, when
           `dictionary` is None, an object array of str
bytea      object array of bytes
array      object array of lists
struct     object array of dicts
any        object array of arbitrary JSON values (mixed types, schemaless fields)
=========  ======================================================================

Values under a False validity bit are unspecified (0, None, code 0); only `valid` says null.
A missing field and an explicit null are the same thing here, as in eKuiper's output.

A `Batch` is `n` rows: ordered named columns, an int64 timestamp per row (ms), and meta
columns (topic, messageId, ...). `emission_bounds`, when set, groups rows into emissions
(window results): emission i is rows [bounds[i], bounds[i+1]). When None, every row is an
emission of its own, which is what a non-window rule produces.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

BIGINT = "bigint"
FLOAT = "float"
BOOLEAN = "boolean"
DATETIME = "datetime"
STRING = "string"
BYTEA = "bytea"
ARRAY = "array"
STRUCT = "struct"
ANY = "any"

KINDS = (BIGINT, FLOAT, BOOLEAN, DATETIME, STRING, BYTEA, ARRAY, STRUCT, ANY)
NUMERIC_KINDS = (BIGINT, FLOAT)
OBJECT_KINDS = (STRING, BYTEA, ARRAY, STRUCT, ANY)

_DTYPES: dict[str, Any] = {
    BIGINT: np.int64,
    FLOAT: np.float64,
    BOOLEAN: np.bool_,
    DATETIME: np.int64,
}


def _empty_values(kind: str, n: int) -> np.ndarray:
    dtype = _DTYPES.get(kind)
    if dtype is None:
        return np.full(n, None, dtype=object)
    return np.zeros(n, dtype=dtype)


@dataclass(slots=True)
class Column:
    """One field of a batch: values, validity and (for strings) a dictionary."""

    kind: str
    values: np.ndarray
    valid: np.ndarray | None = None
    dictionary: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    # --- construction -------------------------------------------------------------------
    @classmethod
    def nulls(cls, n: int, kind: str = ANY) -> Column:
        return cls(kind, _empty_values(kind, n), np.zeros(n, dtype=np.bool_))

    @classmethod
    def constant(cls, value: Any, n: int) -> Column:
        """A column holding `value` in each of `n` rows (None gives an all-null column)."""
        if value is None:
            return cls.nulls(n)
        kind = kind_of(value)
        dtype = _DTYPES.get(kind)
        if dtype is not None:
            return cls(kind, np.full(n, value, dtype=dtype))
        values = np.empty(n, dtype=object)
        values.fill(value)
        return cls(kind, values)

    @classmethod
    def from_values(cls, values: Sequence[Any], kind: str | None = None) -> Column:
        """Build a column from Python values (None = null), inferring the kind if not given."""
        n = len(values)
        inferred = kind is None
        if kind is None:
            kind = infer_kind(values)
        valid = np.fromiter((v is not None for v in values), dtype=np.bool_, count=n)
        all_valid = bool(valid.all()) if n else True
        dtype = _DTYPES.get(kind)
        if dtype is not None:
            try:
                arr = _typed(values, valid, all_valid, dtype)
            except OverflowError:
                if not (inferred and kind == BIGINT):
                    raise
                # an integer beyond int64 among inferred integers: floats, as Go decodes JSON
                kind, dtype = FLOAT, _DTYPES[FLOAT]
                arr = _typed(values, valid, all_valid, dtype)
        else:
            arr = np.empty(n, dtype=object)
            arr[:] = list(values) if not isinstance(values, list) else values
        return cls(kind, arr, None if all_valid else valid)

    # --- inspection ---------------------------------------------------------------------
    def validity(self) -> np.ndarray:
        """A bool array, True where the row holds a value."""
        if self.valid is None:
            return np.ones(len(self.values), dtype=np.bool_)
        return self.valid

    def has_nulls(self) -> bool:
        return self.valid is not None and not bool(self.valid.all())

    def decoded(self) -> np.ndarray:
        """The values as numpy data without dictionary encoding (object array for strings)."""
        if self.dictionary is not None:
            if len(self.dictionary) == 0:
                return np.full(len(self.values), None, dtype=object)
            return self.dictionary[np.clip(self.values, 0, len(self.dictionary) - 1)]
        return self.values

    def to_pylist(self) -> list[Any]:
        """Python values, None for nulls; datetime stays epoch ms (an int)."""
        vals = self.decoded().tolist()
        if self.valid is not None:
            for i in np.flatnonzero(~self.valid).tolist():
                vals[i] = None
        return vals

    # --- selection ----------------------------------------------------------------------
    def take(self, indices: np.ndarray) -> Column:
        return Column(
            self.kind,
            self.values[indices],
            None if self.valid is None else self.valid[indices],
            self.dictionary,
        )

    def filter(self, mask: np.ndarray) -> Column:
        return Column(
            self.kind,
            self.values[mask],
            None if self.valid is None else self.valid[mask],
            self.dictionary,
        )

    def slice(self, start: int, stop: int) -> Column:
        return Column(
            self.kind,
            self.values[start:stop],
            None if self.valid is None else self.valid[start:stop],
            self.dictionary,
        )


def kind_of(value: Any) -> str:
    """The kind of one Python value."""
    if isinstance(value, bool | np.bool_):
        return BOOLEAN
    if isinstance(value, int | np.integer):
        return BIGINT
    if isinstance(value, float | np.floating):
        return FLOAT
    if isinstance(value, str):
        return STRING
    if isinstance(value, bytes | bytearray):
        return BYTEA
    if isinstance(value, list | tuple):
        return ARRAY
    if isinstance(value, dict):
        return STRUCT
    return ANY


def _typed(values: Sequence[Any], valid: np.ndarray, all_valid: bool, dtype: Any) -> np.ndarray:
    n = len(values)
    if all_valid:
        return np.array(values, dtype=dtype) if n else np.zeros(0, dtype=dtype)
    arr = np.zeros(n, dtype=dtype)
    idx = np.flatnonzero(valid)
    arr[idx] = np.array([values[i] for i in idx], dtype=dtype)
    return arr


def infer_kind(values: Iterable[Any]) -> str:
    """The narrowest kind holding every non-null value; int and float mix to float."""
    kind: str | None = None
    for v in values:
        if v is None:
            continue
        k = kind_of(v)
        if kind is None:
            kind = k
        elif k != kind:
            if {k, kind} == {BIGINT, FLOAT}:
                kind = FLOAT
            else:
                return ANY
    return kind or ANY


def _rows(columns: Mapping[str, Column], n: int, *, keep_nulls: bool) -> list[dict[str, Any]]:
    names = list(columns)
    if not names:
        return [{} for _ in range(n)]
    lists = [columns[k].to_pylist() for k in names]
    if keep_nulls:
        return [dict(zip(names, vals, strict=True)) for vals in zip(*lists, strict=True)]
    return [{k: v for k, v in zip(names, vals, strict=True) if v is not None}
            for vals in zip(*lists, strict=True)]


def concat_columns(parts: Sequence[Column]) -> Column:
    """Concatenate columns of one field (dictionaries are merged, kinds widened)."""
    if len(parts) == 1:
        return parts[0]
    kinds = {p.kind for p in parts}
    if len(kinds) == 1:
        kind = parts[0].kind
    elif kinds <= {BIGINT, FLOAT}:
        kind = FLOAT
    else:
        kind = ANY
    any_null = any(p.valid is not None for p in parts)
    valid = np.concatenate([p.validity() for p in parts]) if any_null else None
    if _DTYPES.get(kind) is not None:
        values = np.concatenate([p.values.astype(_DTYPES[kind], copy=False) for p in parts])
        return Column(kind, values, valid)
    dicts = [p.dictionary for p in parts]
    if kind == STRING and all(d is not None for d in dicts) and all(d is dicts[0] for d in dicts):
        return Column(kind, np.concatenate([p.values for p in parts]), valid, dicts[0])
    values = np.concatenate([p.decoded().astype(object, copy=False) for p in parts])
    return Column(kind, values, valid)


@dataclass(slots=True)
class Batch:
    """`n` rows as named columns, with per-row timestamps (ms) and meta columns."""

    columns: dict[str, Column]
    n: int
    timestamps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    meta: dict[str, Column] = field(default_factory=dict)
    emission_bounds: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.timestamps) != self.n:
            self.timestamps = np.zeros(self.n, dtype=np.int64)

    def __len__(self) -> int:
        return self.n

    @classmethod
    def empty(cls) -> Batch:
        return cls({}, 0)

    @classmethod
    def from_rows(
        cls,
        rows: Sequence[Mapping[str, Any]],
        *,
        timestamps: Sequence[int] | np.ndarray | None = None,
        metas: Sequence[Mapping[str, Any] | None] | None = None,
        kinds: Mapping[str, str] | None = None,
    ) -> Batch:
        """Columns from row dicts (the slow, general edge path). Field order is first-seen."""
        n = len(rows)
        names: dict[str, None] = {}
        for row in rows:
            for k in row:
                names.setdefault(k, None)
        cols = {}
        for name in names:
            vals = [row.get(name) for row in rows]
            cols[name] = Column.from_values(vals, (kinds or {}).get(name))
        meta_cols: dict[str, Column] = {}
        if metas is not None and any(metas):
            mnames: dict[str, None] = {}
            for m in metas:
                for k in m or ():
                    mnames.setdefault(k, None)
            for name in mnames:
                meta_cols[name] = Column.from_values([(m or {}).get(name) for m in metas])
        ts = (
            np.asarray(timestamps, dtype=np.int64)
            if timestamps is not None
            else np.zeros(n, dtype=np.int64)
        )
        return cls(cols, n, ts, meta_cols)

    def to_rows(self, *, send_nil_field: bool = False) -> list[dict[str, Any]]:
        """Row dicts in column order; null fields are left out unless `send_nil_field`."""
        return _rows(self.columns, self.n, keep_nulls=send_nil_field)

    def meta_rows(self) -> list[dict[str, Any]]:
        """Each row's meta as a dict (null keys left out)."""
        return _rows(self.meta, self.n, keep_nulls=False)

    def emissions(self) -> list[tuple[int, int]]:
        """(start, stop) row ranges, one per emission."""
        if self.emission_bounds is None:
            return [(i, i + 1) for i in range(self.n)]
        b = self.emission_bounds.tolist()
        return list(zip(b[:-1], b[1:], strict=True))

    def take(self, indices: np.ndarray) -> Batch:
        return Batch(
            {k: c.take(indices) for k, c in self.columns.items()},
            len(indices),
            self.timestamps[indices],
            {k: c.take(indices) for k, c in self.meta.items()},
        )

    def filter(self, mask: np.ndarray) -> Batch:
        n = int(np.count_nonzero(mask))
        if n == self.n:
            return self
        # the kept rows' indices once, then one cheap gather per column (a boolean mask
        # would scan all rows again for every column, validity and meta array)
        return self.take(np.flatnonzero(mask))

    def slice(self, start: int, stop: int) -> Batch:
        stop = min(stop, self.n)
        return Batch(
            {k: c.slice(start, stop) for k, c in self.columns.items()},
            max(0, stop - start),
            self.timestamps[start:stop],
            {k: c.slice(start, stop) for k, c in self.meta.items()},
        )

    def with_columns(self, columns: dict[str, Column]) -> Batch:
        """The same rows (timestamps, meta) with other columns."""
        return Batch(columns, self.n, self.timestamps, self.meta, self.emission_bounds)


def concat_batches(batches: Sequence[Batch]) -> Batch:
    """Rows of several batches, in order; a field missing from a part is null there."""
    batches = [b for b in batches if b.n]
    if not batches:
        return Batch.empty()
    if len(batches) == 1:
        return batches[0]
    names: dict[str, None] = {}
    mnames: dict[str, None] = {}
    for b in batches:
        names.update(dict.fromkeys(b.columns))
        mnames.update(dict.fromkeys(b.meta))

    def gather(attr: str, name: str) -> Column:
        parts = []
        for b in batches:
            c = getattr(b, attr).get(name)
            parts.append(c if c is not None else Column.nulls(b.n))
        return concat_columns(parts)

    return Batch(
        {k: gather("columns", k) for k in names},
        sum(b.n for b in batches),
        np.concatenate([b.timestamps for b in batches]),
        {k: gather("meta", k) for k in mnames},
    )
