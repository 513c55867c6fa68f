"""Result rows into JSON bytes the way eKuiper (Go's encoding/json) writes them.

Go differences from orjson handled here: an integral float prints without `.0` (86.0 -> 86,
checked column-wise with numpy), `<`, `>`, `&`, U+2028 and U+2029 are escaped, and bytes
become base64 strings. Non-ASCII text stays unescaped UTF-8 in both.
"""
from __future__ import annotations

import base64
from typing import Any

import numpy as np
import orjson

from kuiper.api.batch import (
    ANY,
    ARRAY,
    BIGINT,
    BOOLEAN,
    DATETIME,
    FLOAT,
    STRING,
    STRUCT,
    Batch,
    Column,
)
from kuiper.runtime.registry import register_encoder

_INT64_LIMIT = 2.0**63
_GO_ESCAPES = ((b"<", b"\\u003c"), (b">", b"\\u003e"), (b"&", b"\\u0026"),
               ("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))


def go_float_column(col: Column) -> Column:
    """A float column whose integral values are ints (bigint when all of them are)."""
    v = col.values
    valid = col.validity()
    with np.errstate(invalid="ignore"):
        integral = np.isfinite(v) & (np.floor(v) == v) & (np.abs(v) < 1e21)
    if not integral.any():
        return col
    small = integral & (np.abs(v) < _INT64_LIMIT)
    if bool(np.all(small | ~valid)):
        ints = np.where(valid, v, 0).astype(np.int64)
        return Column(BIGINT, ints, col.valid)
    out = v.astype(object)
    idx = np.flatnonzero(small & valid)
    out[idx] = v[idx].astype(np.int64).astype(object)
    for i in np.flatnonzero(integral & ~small & valid).tolist():
        out[i] = int(v[i])
    return Column(ANY, out, col.valid)


def go_value(value: Any) -> Any:
    """Integral floats inside nested arrays/objects as ints."""
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 1e21 else value
    if isinstance(value, list):
        return [go_value(v) for v in value]
    if isinstance(value, dict):
        return {k: go_value(v) for k, v in value.items()}
    return value


def go_batch(batch: Batch) -> Batch:
    """The batch with its values shaped for Go-compatible JSON."""
    cols = dict(batch.columns)
    changed = False
    for name, col in batch.columns.items():
        if col.kind == FLOAT:
            cols[name] = go_float_column(col)
            changed = True
        elif col.kind in (ARRAY, STRUCT, ANY) and col.dictionary is None:
            cols[name] = Column(col.kind, np.array([go_value(x) for x in col.values.tolist()] + [None],
                                                   dtype=object)[:-1], col.valid)
            changed = True
    return batch.with_columns(cols) if changed else batch


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _go_escape(out: bytes) -> bytes:
    for raw, esc in _GO_ESCAPES:
        if raw in out:
            out = out.replace(raw, esc)
    return out


def _needs_escape(blob: bytes) -> bool:
    return any(raw in blob for raw, _ in _GO_ESCAPES)


def encode_json(data: Any) -> bytes:
    out = orjson.dumps(data, default=_default)
    return _go_escape(out) if _needs_escape(out) else out


def encode_json_many(messages: list[Any]) -> list[bytes]:
    """`encode_json` of each message, checking for Go's escapes once over all of them."""
    dumps = orjson.dumps
    outs = [dumps(m, default=_default) for m in messages]
    if _needs_escape(b"".join(outs)):
        outs = [_go_escape(o) for o in outs]
    return outs


_NUMPY = orjson.OPT_SERIALIZE_NUMPY
_NULL = b"null"


def _split_numbers(blob: bytes) -> list[bytes]:
    """The items of a JSON array of numbers/booleans/nulls (none holds a comma)."""
    return blob[1:-1].split(b",")


def _string_items(values: list[Any]) -> list[bytes] | None:
    """The JSON text of each str in `values` without its quotes, from one dumps split where
    `","` is (inside a JSON string a quote is always escaped, so `","` is only ever between
    items). None unless every value is a str."""
    if not values or set(map(type, values)) != {str}:
        return None
    blob = orjson.dumps(values)
    if blob.count(b'","') != len(values) - 1:  # cannot happen; a guard all the same
        return None
    return blob[2:-2].split(b'","')


def _column_pieces(col: Column, n: int, send_nil_field: bool) -> tuple[bytes, list[bytes], bytes] | None:
    """The JSON text of each value of `col` as (open, pieces, close): value i is
    open + pieces[i] + close. None when the column's rows need the row-by-row path (a null
    left out of its row, values orjson cannot take, ...)."""
    nulls = col.has_nulls()
    if nulls and not send_nil_field:
        return None
    kind = col.kind
    dumps = orjson.dumps
    pieces: list[bytes]
    if kind == FLOAT:
        go = go_float_column(col)
        if go.kind == ANY:
            pieces = _split_numbers(dumps(go.values.tolist()))
        else:
            pieces = _split_numbers(dumps(go.values, option=_NUMPY))
    elif kind in (BIGINT, DATETIME, BOOLEAN) and col.values.dtype.kind in "iub":
        pieces = _split_numbers(dumps(col.values, option=_NUMPY))
    elif kind == STRING and col.dictionary is not None and 0 < len(col.dictionary) <= n:
        words = col.dictionary.tolist()
        items = None if nulls else _string_items(words)
        if items is not None:  # the quotes go around each value
            enc = np.empty(len(words), dtype=object)
            enc[:] = items
            return b'"', enc[np.clip(col.values, 0, len(words) - 1)].tolist(), b'"'
        if None in words and not send_nil_field:
            return None
        enc = np.empty(len(words), dtype=object)
        enc[:] = [dumps(go_value(w), default=_default) for w in words]
        pieces = enc[np.clip(col.values, 0, len(words) - 1)].tolist()
    elif kind == STRING and col.dictionary is None and not nulls:
        items = _string_items(col.values.tolist())
        if items is None:
            return None
        return b'"', items, b'"'
    else:
        values = col.decoded().tolist()
        if not send_nil_field and None in values:
            return None
        pieces = [dumps(go_value(v), default=_default) for v in values]
    if len(pieces) != n:
        return None
    if nulls:
        for i in np.flatnonzero(~col.validity()).tolist():
            pieces[i] = _NULL
    return b"", pieces, b""


def encode_rows_joined(batch: Batch, sep: bytes, *, send_nil_field: bool = False) -> bytes | None:
    """Each row of `batch` as the one-row JSON array `encode_json([row])` gives, the rows
    joined by `sep`; assembled column by column. None when some column needs the row path."""
    n = batch.n
    names = list(batch.columns)
    if not n or not names:
        return None
    try:
        cols = [_column_pieces(batch.columns[k], n, send_nil_field) for k in names]
    except Exception:
        return None
    if any(c is None for c in cols):
        return None
    m = 2 * len(names) + 1
    flat: list[bytes | None] = [None] * (n * m)
    close = b"[{"
    for j, (name, col) in enumerate(zip(names, cols, strict=True)):
        assert col is not None
        opener, pieces, closer = col
        head = (b"," if j else b"") + orjson.dumps(name) + b":"
        flat[2 * j::m] = [close + head + opener] * n
        flat[2 * j + 1::m] = pieces
        close = closer
    flat[m - 1::m] = [close + b"}]" + sep] * n
    flat[-1] = close + b"}]"
    out = b"".join(flat)  # type: ignore[arg-type]
    return _go_escape(out) if _needs_escape(out) else out


@register_encoder("json")
class JsonEncoder:
    """The sink format `json`."""

    def __init__(self, props: dict[str, Any] | None = None) -> None:
        self.props = props or {}

    def prepare(self, batch: Batch) -> Batch:
        return go_batch(batch)

    def encode(self, data: Any) -> bytes:
        return encode_json(data)

    def encode_many(self, messages: list[Any]) -> list[bytes]:
        return encode_json_many(messages)

    def encode_joined(self, batch: Batch, sep: bytes, *, send_nil_field: bool = False) -> bytes | None:
        """`sep.join(encode_many([[row] for row in batch.to_rows(...)]))` of the raw batch
        (prepare not applied), or None when the batch needs that row-by-row path."""
        return encode_rows_joined(batch, sep, send_nil_field=send_nil_field)
