"""The file source: a JSON array file, newline-delimited lines, or CSV, read once or every interval.

Properties (etc/sources/file.yaml sections + CONF_KEY): fileType json|lines|csv (default
json), path (a folder, relative to the kuiper root or absolute), interval (ms between
re-reads; 0 = read once, which makes the source bounded), sendInterval (ms between rows),
hasHeader, columns, delimiter, ignoreStartLines, ignoreEndLines. DATASOURCE is the file
name under `path` (an absolute DATASOURCE is used as is; empty = every file under `path`).
A json file that holds one object per line is read as lines.

Rewindable (rule qos >= 1): the offset is `{"file", "pos", "line"}`, the byte position and
line number of the next unread line of `file` (files are read in sorted order). Lines and
JSON-lines files resume at that line; a JSON array or CSV file is all or nothing (`pos` is 0
until all its rows were emitted, then its size). `rewind` skips the files before `file`; a
file now shorter than `pos` was replaced and is read from its start. The line number is
counted only when the engine asks for the offset (after each emit with qos >= 1), so the
fast path does no extra work at qos 0.
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
        self._meta: dict[str, Any] = {}  # meta(file) of the rows being read
        # the offset: the next unread byte/line of `_file`; `_uncounted` is the last emitted
        # chunk whose lines are not yet in `_line` (counted lazily by get_offset)
        self._file = ""
        self._pos = 0
        self._line: int | None = 0
        self._uncounted: bytes | None = None
        self._start: dict[str, Any] | None = None  # where to resume (rewind)
        self.lines_before = 0  # lines before the resume point (for decode error messages)

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

    # --- offsets -----------------------------------------------------------------------
    def get_offset(self) -> dict[str, Any]:
        """Where to resume: the next unread byte (and line) of the file being read."""
        if self._uncounted is not None:
            chunk, self._uncounted = self._uncounted, None
            if self._line is not None:
                self._line += chunk.count(b"\n") + (chunk[-1:] != b"\n")
        return {"file": self._file, "pos": self._pos, "line": self._line}

    def rewind(self, offset: Any) -> None:
        if not isinstance(offset, dict) or not isinstance(offset.get("pos"), int):
            raise ConnectorError(f"file source: bad offset {offset!r}")
        name = str(offset.get("file") or "")
        self._start = {"file": os.path.normpath(name) if name else "", "pos": max(offset["pos"], 0),
                       "line": offset.get("line") if isinstance(offset.get("line"), int) else 0}
        self.lines_before = self._start["line"]

    def _at(self, path: str, pos: int, line: int | None) -> None:
        self._file, self._pos, self._line, self._uncounted = os.path.normpath(path), pos, line, None

    def _advance(self, chunk: bytes) -> None:
        """`chunk` (whole lines) is about to be emitted: the offset moves past it."""
        self._pos += len(chunk)
        if self._uncounted is not None:
            self._line = None  # nobody counted the previous chunk: no line number any more
        self._uncounted = chunk

    def _resume_at(self, path: str, size: int) -> tuple[int, int] | None:
        """(byte, line) to start `path` at after a rewind; None to skip the file."""
        start, path = self._start, os.path.normpath(path)
        if start is None or not start["file"] or path > start["file"]:
            return 0, 0
        if path < start["file"]:
            return None  # read before the checkpoint
        if start["pos"] > size:
            return 0, 0  # shorter than the offset: a new file
        return start["pos"], start["line"]

    # --- reading -----------------------------------------------------------------------
    async def open(self, ctx: Context) -> None:
        while True:
            try:
                for path in self.files(ctx.get_root_path()):
                    where = self._resume_at(path, os.path.getsize(path))
                    if where is not None:
                        await self._read(ctx, path, *where)
            except (ConnectorError, OSError) as exc:
                ctx.emit_error(exc)
            self._start = None  # later passes (interval) read every file from its start
            if not self.reread_ms:
                ctx.emit_eof()
                return
            await asyncio.sleep(self.reread_ms / 1000)

    async def _read(self, ctx: Context, path: str, pos: int = 0, line: int = 0) -> None:
        self._at(path, pos, line)
        self._meta = {"file": os.path.abspath(path)}  # eKuiper's file source meta: the file read
        if self.file_type == "lines" and not self._row_wise():
            await self._read_lines(ctx, path, pos)
            return
        with open(path, "rb") as f:
            data = f.read()
        if self.file_type == "csv":
            if pos < len(data) or not data:
                await self._emit_rows(ctx, self._csv_rows(data), len(data))
        elif self.file_type == "json":
            await self._read_json(ctx, path, data, pos)
        else:
            await self._emit_lines_from(ctx, data, pos, trim=True)

    async def _read_json(self, ctx: Context, path: str, data: bytes, pos: int = 0) -> None:
        """A JSON array (or one object) goes to the engine's decoder as one payload; a file of
        one object per line is read as lines."""
        head = data.lstrip()[:1]
        if head == b"{":
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                await self._emit_lines_from(ctx, data, pos, trim=False)
                return
        elif head != b"[":
            raise ConnectorError(f"file source: {path} is not a JSON array of objects",
                                 hint="use fileType: lines for newline-delimited JSON")
        if pos and pos >= len(data):
            return  # emitted before the checkpoint
        if not self.send_interval_ms:
            self._pos = len(data)
            ctx.emit_bytes(data, self._meta)
            await ctx.drain()
            return
        value = orjson.loads(data)
        rows = value if isinstance(value, list) else [value]
        for k, row in enumerate(rows):
            if k == len(rows) - 1:
                self._pos = len(data)
            ctx.emit_bytes(orjson.dumps(row), self._meta)
            await asyncio.sleep(self.send_interval_ms / 1000)

    def _row_wise(self) -> bool:
        return bool(self.send_interval_ms or self.ignore_start or self.ignore_end)

    async def _read_lines(self, ctx: Context, path: str, pos: int = 0) -> None:
        """The throughput path: big reads cut at the last newline, decoded in bulk."""
        rest = b""
        with open(path, "rb") as f:
            if pos:
                f.seek(pos)
            while True:
                block = f.read(CHUNK_BYTES)
                if not block:
                    break
                cut = block.rfind(b"\n")
                if cut < 0:
                    rest += block
                    continue
                chunk = rest + block[:cut + 1]
                rest = block[cut + 1:]
                self._advance(chunk)
                ctx.emit_lines(chunk, self._meta)
                await ctx.drain()
        if rest.strip():
            self._advance(rest)
            ctx.emit_lines(rest + b"\n", self._meta)
        else:
            self._pos += len(rest)

    async def _emit_lines_from(self, ctx: Context, data: bytes, pos: int, *, trim: bool) -> None:
        """The lines of `data` from byte `pos`: one chunk, or one line every sendInterval;
        with `trim`, ignoreStartLines (from the file's start only)/ignoreEndLines apply."""
        if not (self.send_interval_ms or (trim and (self.ignore_start or self.ignore_end))):
            if pos < len(data):
                chunk = data[pos:] if pos else data
                self._advance(chunk)
                ctx.emit_lines(chunk, self._meta)
                await ctx.drain()
            return
        # (end byte, line number after it) of each non-empty line: the slow paths only
        spans: list[tuple[bytes, int, int]] = []
        at, number = pos, self._line or 0
        for raw in data[pos:].split(b"\n"):
            at += len(raw) + 1
            number += 1
            if raw.strip():
                spans.append((raw, min(at, len(data)), number))
        if trim:
            if pos == 0:
                spans = spans[self.ignore_start:]
            spans = spans[:max(0, len(spans) - self.ignore_end)]
        if not self.send_interval_ms:
            if spans:
                self._pos, self._line = len(data), spans[-1][2]
                ctx.emit_lines(b"\n".join(s[0] for s in spans) + b"\n", self._meta)
                await ctx.drain()
            return
        for k, (line, end, number) in enumerate(spans):
            self._pos, self._line = (len(data) if k == len(spans) - 1 else end), number
            ctx.emit_lines(line + b"\n", self._meta)
            await asyncio.sleep(self.send_interval_ms / 1000)

    async def _emit_rows(self, ctx: Context, rows: list[dict[str, Any]], size: int = 0) -> None:
        """CSV rows; the offset moves to the file's end (`size`) with the last row."""
        if self.send_interval_ms:
            for k, row in enumerate(rows):
                if k == len(rows) - 1:
                    self._pos = size
                ctx.emit(row, self._meta)
                await asyncio.sleep(self.send_interval_ms / 1000)
            return
        for start in range(0, len(rows), ROWS_PER_EMIT):
            if start + ROWS_PER_EMIT >= len(rows):
                self._pos = size
            chunk = rows[start:start + ROWS_PER_EMIT]
            ctx.emit_rows(chunk, [self._meta] * len(chunk))
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
