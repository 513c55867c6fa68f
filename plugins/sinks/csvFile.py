"""The `csvFile` sink: appends each result row to a CSV file.

Properties (the action's): `path` (required), `fields` (column order; default: the first
row's keys), `header` (write a header line to a new file, default true), `delimiter` (",").
"""
from __future__ import annotations

import csv
import os
from typing import Any

from kuiper.api import Context, Sink
from kuiper.errors import ConfigError


class CsvFile(Sink):
    def __init__(self) -> None:
        self.path = ""
        self.fields: list[str] | None = None
        self.header = True
        self.delimiter = ","
        self._fh: Any = None
        self._writer: Any = None

    def configure(self, conf: dict[str, Any]) -> None:
        path = conf.get("path")
        if not isinstance(path, str) or not path:
            raise ConfigError("csvFile sink: property 'path' is required")
        fields = conf.get("fields")
        if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
            raise ConfigError("csvFile sink: 'fields' must be a list of column names")
        delimiter = conf.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1:
            raise ConfigError("csvFile sink: 'delimiter' must be one character")
        self.path, self.fields, self.delimiter = path, fields, delimiter
        self.header = bool(conf.get("header", True))

    def open(self, ctx: Context) -> None:
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._fresh = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        self._fh = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115

    def _write(self, row: dict[str, Any]) -> None:
        if self._writer is None:
            self.fields = self.fields or list(row)
            self._writer = csv.DictWriter(self._fh, fieldnames=self.fields,
                                          delimiter=self.delimiter, extrasaction="ignore")
            if self.header and self._fresh:
                self._writer.writeheader()
        self._writer.writerow(row)

    def collect(self, ctx: Context, data: Any) -> None:
        rows = data if isinstance(data, list) else [data]
        for row in rows:
            if isinstance(row, dict):
                self._write(row)
        self._fh.flush()

    def close(self, ctx: Context) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            self._writer = None
