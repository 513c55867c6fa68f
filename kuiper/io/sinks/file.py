"""The file sink: results appended to a file as lines, one JSON array, or CSV.

Properties: path (required), fileType lines (default) | json | csv, hasHeader and delimiter
(csv). lines: each message is one line (a JSON array of the emission's rows, or one object
with sendSingle); json: one JSON array of all messages, written when the rule ends; csv: one
record per row, the header (keys sorted) from the first row when hasHeader is true.

Checkpoints (rule qos >= 1): at each checkpoint the sink is flushed and its state holds the
file's size; a rule restarted from that checkpoint truncates the file to that size and
appends, so the results written after the checkpoint (which the replayed input produces
again) are not written twice: exactly once. When the rule's sources cannot replay (`keep_tail`)
the file is kept whole and appended to. Without a checkpoint to restore the file is rewritten
from its start, as before.
"""
from __future__ import annotations

import csv
import io
import os
from typing import Any

from kuiper.api import Context, Sink
from kuiper.errors import ConfigError
from kuiper.runtime.registry import register_sink

FILE_TYPES = ("lines", "json", "csv")
FLUSH_BYTES = 1 << 20


def _csv_value(v: Any) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return "" if v is None else v


@register_sink("file")
class FileSink(Sink):
    """Writes with a buffer of about 1 MiB, flushed on close."""

    def __init__(self) -> None:
        self.path = ""
        self.file_type = "lines"
        self.has_header = False
        self.delimiter = ","
        self._file: Any = None
        self._buf: list[bytes] = []
        self._size = 0
        self._messages = 0
        self._header: list[str] | None = None
        self._resolved = ""
        self._resume: dict[str, Any] | None = None

    def configure(self, conf: dict[str, Any]) -> None:
        path = conf.get("path")
        if not path or not isinstance(path, str):
            raise ConfigError("file sink needs a 'path'", hint='{"file": {"path": "/tmp/out.txt"}}')
        self.path = path
        self.file_type = str(conf.get("fileType", "lines")).lower()
        if self.file_type not in FILE_TYPES:
            raise ConfigError(f"file sink: fileType '{self.file_type}' is not supported",
                              hint="use one of: " + ", ".join(FILE_TYPES))
        self.has_header = bool(conf.get("hasHeader", False))
        self.delimiter = str(conf.get("delimiter", ",") or ",")
        self.accepts_bytes = self.file_type != "csv"

    def open(self, ctx: Context) -> None:
        path = self.path if os.path.isabs(self.path) else os.path.join(ctx.get_root_path(), self.path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._resolved = path
        resume, self._resume = self._resume, None
        if resume and resume.get("path") == path and os.path.isfile(path):
            self._file = open(path, "r+b")  # noqa: SIM115 - closed in close()
            if resume.get("keep_tail"):  # the input is not replayed: keep what came after
                end = self._file.seek(0, os.SEEK_END)
                if self.file_type == "json" and end:  # reopen the array a clean stop closed
                    self._file.seek(end - 1)
                    if self._file.read(1) == b"]":
                        self._file.truncate(end - 1)
                    self._file.seek(0, os.SEEK_END)
            else:
                self._file.truncate(int(resume["size"]))
                self._file.seek(int(resume["size"]))
            self._messages = int(resume.get("messages") or 0)
            self._header = resume.get("header")
            return
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        if self.file_type == "json":
            self._write(b"[")

    def snapshot_state(self) -> dict[str, Any] | None:
        """At a checkpoint: everything written reaches the file; its size (see the doc)."""
        if self._file is None:
            return None
        self.flush()
        return {"path": self._resolved, "size": self._file.tell(), "messages": self._messages,
                "header": self._header}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Before `open`: continue the file of the checkpoint (same path) from its size."""
        self._resume = dict(state)

    def collect(self, ctx: Context, data: Any) -> None:
        if self.file_type == "lines":
            self._write(data + b"\n")
        elif self.file_type == "json":
            self._write(data if not self._messages else b"," + data)
        else:
            self._write_csv(data if isinstance(data, list) else [data])
        self._messages += 1

    @property
    def joined_separator(self) -> bytes:
        return b"\n" if self.file_type == "lines" else b","

    def collect_joined(self, ctx: Context, data: bytes, count: int) -> None:
        """`count` encoded messages joined by `joined_separator` (lines and json)."""
        if self.file_type == "lines":
            self._write(data + b"\n")
        elif self.file_type == "json":
            self._write(data if not self._messages else b"," + data)
        else:
            raise TypeError("a csv file sink takes rows, not encoded messages")
        self._messages += count

    def _write_csv(self, rows: list[dict[str, Any]]) -> None:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter[0], lineterminator="\n")
        for row in rows:
            if self._header is None:
                self._header = sorted(row)
                if self.has_header:
                    writer.writerow(self._header)
            writer.writerow([_csv_value(row.get(k)) for k in self._header])
        self._write(out.getvalue().encode())

    def _write(self, data: bytes) -> None:
        self._buf.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self._file is not None and self._buf:
            self._file.write(b"".join(self._buf))
            self._file.flush()
        self._buf, self._size = [], 0

    def close(self, ctx: Context) -> None:
        if self._file is None:
            return
        if self.file_type == "json":
            self._write(b"]")
        self.flush()
        self._file.close()
        self._file = None
