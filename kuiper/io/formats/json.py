"""The json format: payloads and newline-delimited JSON into columns for a stream's fields.

A declared schema decodes straight into typed columns with the compiled kernel
`kuiper._core.jsondecode` when it is built; otherwise (and for schemaless streams) orjson
parses and `kuiper.runtime.schema` converts. Both paths give the same batches and errors.
Errors are `(line or message number, 1-based, message)`; a bad line is skipped, never the chunk.
"""
from __future__ import annotations

import bisect
import logging
from typing import Any

import numpy as np
import orjson

from kuiper.api.batch import (
    ANY,
    ARRAY,
    BIGINT,
    BOOLEAN,
    FLOAT,
    STRING,
    STRUCT,
    Batch,
    Column,
    concat_batches,
)
from kuiper.catalog.defs import StreamDef
from kuiper.runtime.registry import register_format
from kuiper.runtime.schema import convert_column, needed_fields, rows_to_batch

try:  # the compiled decoder, written alongside; the orjson path is its stand-in until built
    from kuiper._core import jsondecode as _kernel
    from kuiper._core.jsondecode import too_deep
except ImportError:  # pragma: no cover - depends on the build
    _kernel = None
    from kuiper._core._reference import too_deep

log = logging.getLogger(__name__)

K_BIGINT, K_FLOAT, K_BOOLEAN, K_STRING, K_RAW = 0, 1, 2, 3, 4
_KERNEL_KINDS = {BIGINT: K_BIGINT, FLOAT: K_FLOAT, BOOLEAN: K_BOOLEAN, STRING: K_STRING}

Errors = list[tuple[int, str]]

DEFAULT_MAX_DEPTH = 512
ORJSON_MAX_DEPTH = 1024  # orjson refuses deeper documents itself


def depth_error(max_depth: int, at: int) -> str:
    return (f"malformed JSON at byte {at}: nesting too deep (more than maxJsonDepth={max_depth} "
            "nested objects/arrays)")


def _deep(docs: list[bytes], max_depth: int) -> dict[int, int]:
    """Index -> byte offset of the documents nested deeper than max_depth."""
    if max_depth >= ORJSON_MAX_DEPTH or not docs:
        return {}
    return dict(too_deep(docs, max_depth))


def _parse_line(line: bytes, max_depth: int = DEFAULT_MAX_DEPTH
                ) -> tuple[list[dict[str, Any]], str | None]:
    """The object(s) on one line/payload, or an error message."""
    if len(line) > max_depth:
        deep = _deep([line], max_depth)
        if deep:
            return [], depth_error(max_depth, deep[0])
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return [], f"malformed JSON ({exc}); each line must hold one JSON object"
    if isinstance(value, dict):
        return [value], None
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value, None
    return [], f"expected a JSON object, got {type(value).__name__}"


def parse_lines(chunk: bytes, max_depth: int = DEFAULT_MAX_DEPTH
                ) -> tuple[list[dict[str, Any]], list[int], Errors]:
    """Objects of a newline-delimited chunk, their 1-based line numbers, and bad lines."""
    lines = chunk.split(b"\n")
    if lines and not lines[-1].strip():
        lines.pop()
    deep = _deep(lines, max_depth) if len(chunk) > max_depth else {}
    if b"" not in lines and not deep:
        try:  # one parse for the whole chunk: the common case of clean input
            rows = orjson.loads(b"[" + b",".join(lines) + b"]")
            if all(type(r) is dict for r in rows) and len(rows) == len(lines):
                return rows, list(range(1, len(rows) + 1)), []
        except orjson.JSONDecodeError:
            pass
    rows, line_nos, errors = [], [], []
    for no, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if no - 1 in deep:
            errors.append((no, depth_error(max_depth, deep[no - 1])))
            continue
        objs, err = _parse_line(line, ORJSON_MAX_DEPTH)
        if err is not None:
            errors.append((no, err))
            continue
        rows.extend(objs)
        line_nos.extend([no] * len(objs))
    return rows, line_nos, errors


def _floats(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def json_numbers(col: Column) -> Column:
    """A schemaless column with every JSON number as a float (Go's map[string]any decoding)."""
    if col.kind == BIGINT:
        return Column(FLOAT, col.values.astype(np.float64), col.valid)
    if col.kind in (ANY, ARRAY, STRUCT):
        out = np.empty(len(col.values), dtype=object)
        out[:] = [_floats(v) for v in col.values.tolist()]
        return Column(col.kind, out, col.valid)
    return col


@register_format("json")
class JsonDecoder:
    """Decodes one stream's JSON input into batches of the fields a rule reads."""

    def __init__(self, stream: StreamDef, fields: list[str] | None = None) -> None:
        self.stream = stream
        self.wanted = fields
        self.max_depth = DEFAULT_MAX_DEPTH  # the rule's maxJsonDepth (set by the source node)
        self.declared = needed_fields(stream, fields) if not stream.schemaless else []
        self._use_kernel = _kernel is not None and bool(self.declared)
        if self._use_kernel:
            self._names = [f.name.encode() for f in self.declared]
            self._kinds = np.array(
                [_KERNEL_KINDS.get(f.kind, K_RAW) for f in self.declared], dtype=np.int8
            )
            self._dicts = [
                _kernel.StringDict() if k == K_STRING else None for k in self._kinds.tolist()
            ]

    def _to_batch(self, rows: list[dict[str, Any]]) -> tuple[Batch, list[tuple[int, str]]]:
        """Rows parsed from JSON into columns; schemaless numbers are floats, as Go decodes them."""
        batch, errors = rows_to_batch(rows, self.stream, self.wanted)
        if self.stream.schemaless:
            batch = batch.with_columns({k: json_numbers(c) for k, c in batch.columns.items()})
        return batch, errors

    # --- newline-delimited JSON -----------------------------------------------------------
    def decode_lines(self, chunk: bytes) -> tuple[Batch, Errors]:
        if not self._use_kernel:
            return self._general_lines(chunk)
        assert _kernel is not None
        values, valid, nrows, _end, raw_errors = _kernel.decode_json_lines(
            chunk, 0, len(chunk), self._names, self._kinds, self._dicts, -1,
            max_depth=self.max_depth,
        )
        batch, bad_rows = self._kernel_batch(values, valid, int(nrows),
                                             lambda o, n: chunk[o:o + n])
        if bad_rows:
            # A RAW field (datetime, array, struct, bytea) that did not convert: which line
            # its row came from is not known here (blank lines), so the chunk goes the
            # general way, which numbers every line.
            return self._general_lines(chunk)
        if not raw_errors:
            return batch, []
        # Only the lines the kernel refused take the general path, whose conversions (a
        # number for a string field, "true" for a boolean) follow eKuiper's converter; their
        # rows go back where the lines were.
        redo = [(int(index) + 1, _line_at(chunk, int(offset)), int(before))
                for offset, index, _msg, before in raw_errors]
        return self._mend(batch, redo)

    def _general_lines(self, chunk: bytes) -> tuple[Batch, Errors]:
        rows, line_nos, errors = parse_lines(chunk, self.max_depth)
        batch, row_errors = self._to_batch(rows)
        errors += [(line_nos[i], msg) for i, msg in row_errors]
        errors.sort(key=lambda e: e[0])
        return batch, errors

    def _mend(self, batch: Batch, redo: list[tuple[int, bytes, int]]) -> tuple[Batch, Errors]:
        """Decode `(number, text, rows_before)` items on the general path and merge their
        rows into `batch` (the kernel's rows) at `rows_before`, keeping input order."""
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        positions: list[int] = []
        errors: Errors = []
        for no, text, before in redo:
            objs, err = _parse_line(text, self.max_depth)
            if err is not None:
                errors.append((no, err))
                continue
            rows.extend(objs)
            numbers.extend([no] * len(objs))
            positions.extend([before] * len(objs))
        if rows:
            extra, row_errors = self._to_batch(rows)
            errors += [(numbers[i], msg) for i, msg in row_errors]
            if extra.n:
                failed = {i for i, _ in row_errors}
                kept = [p for i, p in enumerate(positions) if i not in failed]
                # kernel row r sorts at 2r+1; a general-path row before kernel row p at 2p
                keys = np.concatenate([np.arange(batch.n, dtype=np.int64) * 2 + 1,
                                       np.asarray(kept, dtype=np.int64) * 2])
                merged = concat_batches([batch, extra]) if batch.n else extra
                if batch.n:
                    merged = merged.take(np.argsort(keys, kind="stable"))
                batch = merged
        errors.sort(key=lambda e: e[0])
        return batch, errors

    def _kernel_batch(
        self, values: Any, valid: Any, nrows: int, text: Any
    ) -> tuple[Batch, list[int]]:
        """Columns from the kernel's buffers (RAW spans decoded with orjson here), and the
        rows whose RAW value did not convert (left out of the batch)."""
        columns: dict[str, Column] = {}
        bad_rows: list[int] = []
        for i, fdef in enumerate(self.declared):
            vals = values[i][:nrows]
            ok = None if valid[i] is None else valid[i][:nrows]
            if ok is not None and ok.all():
                ok = None
            kind = int(self._kinds[i])
            if kind == K_STRING:
                columns[fdef.name] = Column(STRING, vals, ok, self._dicts[i].strings())
            elif kind != K_RAW:
                columns[fdef.name] = Column(fdef.kind, vals, ok)
            else:
                mask = np.ones(nrows, dtype=np.bool_) if ok is None else ok
                raw, unreadable = _raw_values(vals.tolist(), mask.tolist(), text)
                col, errs = convert_column(fdef, raw)
                columns[fdef.name] = col
                bad_rows += [r for r, _ in errs]
                bad_rows += unreadable  # the kernel does not check UTF-8 in skipped values
        batch = Batch(columns, nrows)
        if bad_rows:
            keep = np.ones(batch.n, dtype=np.bool_)
            keep[bad_rows] = False
            batch = batch.filter(keep)
        return batch, sorted(set(bad_rows))

    # --- one message per payload ------------------------------------------------------------
    def decode_payloads(self, payloads: list[bytes]) -> tuple[Batch, Errors]:
        if self._use_kernel and not any(p.lstrip()[:1] == b"[" for p in payloads):
            return self._kernel_payloads(payloads)
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        errors: Errors = []
        deep = _deep(payloads, self.max_depth)
        for no, payload in enumerate(payloads, 1):
            if no - 1 in deep:
                errors.append((no, depth_error(self.max_depth, deep[no - 1])))
                continue
            objs, err = _parse_line(payload, ORJSON_MAX_DEPTH)
            if err is not None:
                errors.append((no, err))
                continue
            rows.extend(objs)
            numbers.extend([no] * len(objs))
        batch, row_errors = self._to_batch(rows)
        errors += [(numbers[i], msg) for i, msg in row_errors]
        errors.sort(key=lambda e: e[0])
        return batch, errors

    def _kernel_payloads(self, payloads: list[bytes]) -> tuple[Batch, Errors]:
        assert _kernel is not None
        values, valid, nrows, _end, raw_errors = _kernel.decode_json_objects(
            payloads, self._names, self._kinds, self._dicts, max_depth=self.max_depth
        )
        batch, bad_rows = self._kernel_batch(
            values, valid, int(nrows), lambda p, o, n: payloads[p][o:o + n]
        )
        if not raw_errors and not bad_rows:
            return batch, []
        redo = [(int(index) + 1, payloads[int(index)],
                 int(before) - bisect.bisect_left(bad_rows, int(before)))
                for _zero, index, _msg, before in raw_errors]
        if bad_rows:
            # kernel row r is payload r + (refused payloads before it); it left the batch,
            # so its rows go back before kernel row r - (bad rows before it)
            befores = sorted(int(before) for *_rest, before in raw_errors)
            for k, r in enumerate(bad_rows):
                index = r + bisect.bisect_right(befores, r)
                redo.append((index + 1, payloads[index], r - k))
            redo.sort(key=lambda item: item[0])
        return self._mend(batch, redo)


def _raw_values(spans: list[Any], mask: list[bool], text: Any) -> tuple[list[Any], list[int]]:
    """The values of RAW spans; the rows whose span orjson refuses (invalid UTF-8) are None
    and listed, for the general path to report."""
    try:
        return [orjson.loads(text(*span)) if m else None
                for span, m in zip(spans, mask, strict=True)], []
    except orjson.JSONDecodeError:
        pass
    out: list[Any] = []
    bad: list[int] = []
    for r, (span, m) in enumerate(zip(spans, mask, strict=True)):
        value = None
        if m:
            try:
                value = orjson.loads(text(*span))
            except orjson.JSONDecodeError:
                bad.append(r)
        out.append(value)
    return out, bad


def _line_at(chunk: bytes, offset: int) -> bytes:
    """The line of `chunk` that starts at `offset` (without its newline)."""
    end = chunk.find(b"\n", offset)
    return chunk[offset:] if end < 0 else chunk[offset:end]
