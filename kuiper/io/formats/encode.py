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

from kuiper.api.batch import ANY, ARRAY, BIGINT, FLOAT, STRUCT, Batch, Column
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
