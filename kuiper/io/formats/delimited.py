"""The delimited format: one CSV record per message (source) or per row (sink).

Source: `DELIMITER` (default ",") splits a payload; values go to the declared fields in
declaration order, or to `col0`, `col1`, … for a schemaless stream (as strings). Declared
fields parse numbers and booleans from the text. Sink: props `delimiter`, `hasHeader`
(a header line before each message's records) and `fields` (column order; default: the
row's keys sorted, as eKuiper does).
"""
from __future__ import annotations

import csv
from typing import Any

from kuiper.api.batch import Batch
from kuiper.catalog.defs import StreamDef
from kuiper.runtime.registry import register_encoder, register_format
from kuiper.runtime.schema import rows_to_batch

Errors = list[tuple[int, str]]


def _split(text: str, delimiter: str) -> list[str]:
    if len(delimiter) == 1:
        return next(csv.reader([text], delimiter=delimiter), [])
    return text.split(delimiter)


@register_format("delimited")
@register_format("delimiter")
class DelimitedDecoder:
    """Records into rows named after the schema, then typed columns (text parsed leniently)."""

    def __init__(self, stream: StreamDef, fields: list[str] | None = None) -> None:
        self.stream = stream
        self.wanted = fields
        self.delimiter = stream.options.get("DELIMITER") or ","
        self.names = [f.name for f in stream.fields]

    def _row(self, record: str) -> dict[str, Any]:
        values = _split(record, self.delimiter)
        names = self.names or [f"col{i}" for i in range(len(values))]
        return dict(zip(names, values, strict=False))

    def _decode(self, records: list[tuple[int, str]]) -> tuple[Batch, Errors]:
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        errors: Errors = []
        for no, text in records:
            try:
                rows.append(self._row(text))
                numbers.append(no)
            except csv.Error as exc:
                errors.append((no, f"malformed delimited record: {exc}"))
        batch, row_errors = rows_to_batch(rows, self.stream, self.wanted, lenient=True)
        errors += [(numbers[i], msg) for i, msg in row_errors]
        errors.sort(key=lambda e: e[0])
        return batch, errors

    def decode_payloads(self, payloads: list[bytes]) -> tuple[Batch, Errors]:
        records = []
        for no, p in enumerate(payloads, 1):
            text = p.decode("utf-8", errors="replace").rstrip("\r\n")
            records.append((no, text))
        return self._decode(records)

    def decode_lines(self, chunk: bytes) -> tuple[Batch, Errors]:
        lines = chunk.decode("utf-8", errors="replace").split("\n")
        return self._decode([(no, ln.rstrip("\r")) for no, ln in enumerate(lines, 1) if ln.strip()])


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


@register_encoder("delimited")
@register_encoder("delimiter")
class DelimitedEncoder:
    """The sink format `delimited`: a row per line, values joined by `delimiter`."""

    def __init__(self, props: dict[str, Any] | None = None) -> None:
        props = props or {}
        self.delimiter = str(props.get("delimiter") or ",")
        self.has_header = bool(props.get("hasHeader", False))
        self.fields = [str(f) for f in props.get("fields") or []]

    def prepare(self, batch: Batch) -> Batch:
        return batch

    def encode(self, data: Any) -> bytes:
        rows = data if isinstance(data, list) else [data]
        rows = [r for r in rows if isinstance(r, dict)]
        if not rows:
            return b""
        cols = self.fields or sorted(rows[0])
        lines = [self.delimiter.join(cols)] if self.has_header else []
        lines += [self.delimiter.join(_cell(r.get(c)) for c in cols) for r in rows]
        return "\n".join(lines).encode()
