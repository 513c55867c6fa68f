"""The file source: a JSON array file, newline-delimited lines, or CSV, read once or every interval.

Properties (etc/sources/file.yaml sections + CONF_KEY): fileType json|lines|csv (default
json), path (a folder, relative to the kuiper root or absolute), interval (ms between
re-reads; 0 = read once, which makes the source bounded), sendInterval (ms between rows),
hasHeader, columns, delimiter, ignoreStartLines, ignoreEndLines. DATASOURCE is the file
name under `path` (an absolute DATASOURCE is used as is; empty = every file under `path`).
A json file that holds one object per line is read as lines.
"""
from __future__ import annotations

import asyncio
import csv
import io
import os
from typing import Any

import orjson

from kuiper.api import Context, Source
from kuiper.errors import ConfigError, ConnectorError
from kuiper.runtime.registry import register_source

CHUNK_BYTES = 4 << 20
ROWS_PER_EMIT = 4096
FILE_TYPES = ("json", "lines", "csv")


def _int_prop(conf: dict[str, Any], name: str, default: int) -> int:
    value = conf.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"file source: '{name}' must be a non-negative integer, got {value!r}")
    return value


@register_source("file")
class FileSource(Source):
    """Reads files with big reads; lines go to the engine in bulk (`emit_lines`)."""

    def __init__(self) -> None:
        self.datasource = ""
        self.file_type = "json"
        self.dir = ""
        self.reread_ms = 0
        self.send_interval_ms = 0
        self.has_header = False
        self.columns: list[str] = []
        self.delimiter = ","
        self.ignore_start = 0
        self.ignore_end = 0
        self.text_values = False  # CSV values are text: declared fields are parsed from it

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.datasource = datasource or ""
        self.file_type = str(conf.get("fileType", "json")).lower()
        if self.file_type not in FILE_TYPES:
            raise ConfigError(f"file source: fileType '{self.file_type}' is not supported",
                              hint="use one of: " + ", ".join(FILE_TYPES))
        self.dir = str(conf.get("path", "") or "")
        self.reread_ms = _int_prop(conf, "interval", 0)
        self.send_interval_ms = _int_prop(conf, "sendInterval", 0)
        self.ignore_start = _int_prop(conf, "ignoreStartLines", 0)
        self.ignore_end = _int_prop(conf, "ignoreEndLines", 0)
        self.has_header = bool(conf.get("hasHeader", False))
        cols = conf.get("columns") or []
        if not isinstance(cols, list):
            raise ConfigError("file source: 'columns' must be a list of names")
        self.columns = [str(c) for c in cols]
        self.delimiter = str(conf.get("delimiter", ",") or ",")
        self.text_values = self.file_type == "csv"
        self.bounded = self.reread_ms == 0

    # --- where -------------------------------------------------------------------------
    def files(self, root: str) -> list[str]:
        """The files to read, in order; raises ConnectorError when there are none."""
        if os.path.isabs(self.datasource):
            target = self.datasource
        else:
            base = self.dir if os.path.isabs(self.dir) else os.path.join(root, self.dir)
            target = os.path.join(base, self.datasource) if self.datasource else base
        if os.path.isdir(target):
            found = sorted(
                os.path.join(target, n) for n in os.listdir(target)
                if os.path.isfile(os.path.join(target, n))
            )
            if found:
                return found
        elif os.path.isfile(target):
            return [target]
        raise ConnectorError(
            f"file source: {target} does not exist",
            hint="check the stream's DATASOURCE and the 'path' in etc/sources/file.yaml "
                 "(relative paths are under the kuiper root)",
        )

    # --- reading -----------------------------------------------------------------------
    async def open(self, ctx: Context) -> None:
        while True:
            try:
                for path in self.files(ctx.get_root_path()):
                    await self._read(ctx, path)
            except (ConnectorError, OSError) as exc:
                ctx.emit_error(exc)
            if not self.reread_ms:
                ctx.emit_eof()
                return
            await asyncio.sleep(self.reread_ms / 1000)

    async def _read(self, ctx: Context, path: str) -> None:
        if self.file_type == "lines" and not self._row_wise():
            await self._read_lines(ctx, path)
            return
        with open(path, "rb") as f:
            data = f.read()
        if self.file_type == "csv":
            await self._emit_rows(ctx, self._csv_rows(data))
        elif self.file_type == "json":
            await self._read_json(ctx, path, data)
        else:
            lines = self._trim(data.splitlines())
            await self._emit_chunks(ctx, [b"\n".join(lines) + b"\n"] if lines else [])

    async def _read_json(self, ctx: Context, path: str, data: bytes) -> None:
        """A JSON array (or one object) goes to the engine's decoder as one payload; a file of
        one object per line is read as lines."""
        head = data.lstrip()[:1]
        if head == b"{":
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                await self._emit_chunks(ctx, [data])
                return
        elif head != b"[":
            raise ConnectorError(f"file source: {path} is not a JSON array of objects",
                                 hint="use fileType: lines for newline-delimited JSON")
        if not self.send_interval_ms:
            ctx.emit_bytes(data)
            await ctx.drain()
            return
        value = orjson.loads(data)
        for row in value if isinstance(value, list) else [value]:
            ctx.emit_bytes(orjson.dumps(row))
            await asyncio.sleep(self.send_interval_ms / 1000)

    def _row_wise(self) -> bool:
        return bool(self.send_interval_ms or self.ignore_start or self.ignore_end)

    async def _read_lines(self, ctx: Context, path: str) -> None:
        """The throughput path: big reads cut at the last newline, decoded in bulk."""
        rest = b""
        with open(path, "rb") as f:
            while True:
                block = f.read(CHUNK_BYTES)
                if not block:
                    break
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block
                    continue
                ctx.emit_lines(rest + block[:cut + 1])
                rest = block[cut + 1:]
                await ctx.drain()
        if rest.strip():
            ctx.emit_lines(rest + b"\n")

    async def _emit_chunks(self, ctx: Context, chunks: list[bytes]) -> None:
        if self.send_interval_ms:
            for chunk in chunks:
                for line in chunk.splitlines():
                    if line.strip():
                        ctx.emit_lines(line + b"\n")
                        await asyncio.sleep(self.send_interval_ms / 1000)
            return
        for chunk in chunks:
            ctx.emit_lines(chunk)
            await ctx.drain()

    async def _emit_rows(self, ctx: Context, rows: list[dict[str, Any]]) -> None:
        if self.send_interval_ms:
            for row in rows:
                ctx.emit(row)
                await asyncio.sleep(self.send_interval_ms / 1000)
            return
        for start in range(0, len(rows), ROWS_PER_EMIT):
            ctx.emit_rows(rows[start:start + ROWS_PER_EMIT])
            await ctx.drain()

    def _trim(self, lines: list[bytes]) -> list[bytes]:
        """Drop ignoreStartLines/ignoreEndLines (empty lines are not counted) and empty lines."""
        lines = [ln for ln in lines if ln.strip()]
        end = len(lines) - self.ignore_end
        return lines[self.ignore_start:max(self.ignore_start, end)]

    def _csv_rows(self, data: bytes) -> list[dict[str, Any]]:
        text = data.decode("utf-8-sig")
        lines = self._trim(text.splitlines())  # type: ignore[arg-type]
        records = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=self.delimiter[0],
                                  skipinitialspace=True))
        if not records:
            return []
        if self.has_header:
            header, records = records[0], records[1:]
        elif self.columns:
            header = self.columns
        else:
            header = [f"cols{i}" for i in range(max(len(r) for r in records))]
        return [dict(zip(header, rec, strict=False)) for rec in records]
