"""The sql source (pull stream) and the sql lookup table, on PostgreSQL, MySQL/MariaDB, SQLite.

Stream (etc/sources/sql.yaml, section by CONF_KEY): url, interval (ms between queries,
default 10000), and either
- internalSqlQueryCfg {table (default: DATASOURCE), limit, indexField, indexValue,
  indexFieldType, dateTimeFormat, or indexFields: [{indexField, indexValue, …}]}: runs
  `SELECT * FROM table WHERE idx > :last ORDER BY idx ASC LIMIT n`, the last value read
  becoming the next bound (incremental reading), or
- templateSqlQueryCfg {templateSql, indexField, indexValue, indexFieldType, dateTimeFormat}:
  the statement with `{{.indexField}}` replaced by the last value read.
The index is kept in the source's state (saved with checkpoints) and is its offset (rewind).
A database that is down is reported as an error each interval; reading resumes where it left
off once it is back.

Lookup table: `CREATE TABLE t () WITH (TYPE="sql", KIND="lookup", DATASOURCE="tableName")`
with url in the yaml section (the lookup join caches answers per its `lookup: {cache, …}`).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from kuiper.api import Context, LookupSource, Source
from kuiper.errors import ConfigError, ConnectorError, KuiperError
from kuiper.io.sqldb import Database, open_database, parse_url, rows_of, to_row_value
from kuiper.runtime.registry import register_lookup, register_source

log = logging.getLogger(__name__)

_TEMPLATE_FIELD = re.compile(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GO_TIME = (("YYYY", "%Y"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
            ("ss", "%S"))
_IN_CHUNK = 500


def _get(conf: dict[str, Any], name: str, default: Any = None) -> Any:
    """A property by case-insensitive name (eKuiper maps yaml keys onto struct fields)."""
    if name in conf:
        return conf[name]
    low = name.lower()
    for k, v in conf.items():
        if str(k).lower() == low:
            return v
    return default


def format_time(value: Any, fmt: str) -> str:
    """A datetime in eKuiper's format tokens (YYYY-MM-dd HH:mm:ss, SSS = milliseconds)."""
    if not isinstance(value, dt.datetime) or not fmt:
        return str(value)
    py = fmt.replace("SSS", "\x00")
    for go, pyf in _GO_TIME:
        py = py.replace(go, pyf)
    return value.strftime(py).replace("\x00", f"{value.microsecond // 1000:03d}")


def render(template: str, values: dict[str, str]) -> str:
    """`{{.name}}` replaced by the value of `name` (empty when unknown)."""
    return _TEMPLATE_FIELD.sub(lambda m: values.get(m.group(1), ""), template)


@dataclass(slots=True)
class IndexField:
    """One incremental-reading column and the last value read from it (None: none yet)."""

    name: str
    value: Any = None
    type: str = ""
    time_format: str = ""

    def text(self) -> str:
        if self.value is None:
            return ""
        return format_time(self.value, self.time_format) if self.time_format else \
            str(to_row_value(self.value))


def _index_fields(cfg: dict[str, Any]) -> list[IndexField]:
    listed = _get(cfg, "indexFields")
    items = listed if isinstance(listed, list) else [cfg] if _get(cfg, "indexField") else []
    out = []
    for item in items:
        name = str(_get(item, "indexField") or "")
        if not _SAFE_NAME.match(name):
            raise ConfigError(f"sql source: indexField '{name}' is not a column name")
        out.append(IndexField(name, _get(item, "indexValue"),
                              str(_get(item, "indexFieldType") or "").upper(),
                              str(_get(item, "dateTimeFormat") or "")))
    return out


@register_source("sql")
class SqlSource(Source):
    """Pulls new rows every `interval`; one query per pull on the connection's thread."""

    def __init__(self) -> None:
        self.url = ""
        self.interval = 10.0
        self.table = ""
        self.limit = 0
        self.template = ""
        self.index: list[IndexField] = []
        self._db: Database | None = None
        self._down = False

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.url = str(_get(conf, "url") or _get(conf, "dburl") or "")
        parse_url(self.url)
        ms = _get(conf, "interval", 10000)
        if isinstance(ms, bool) or not isinstance(ms, int | float) or ms <= 0:
            raise ConfigError(f"sql source: interval must be a positive number of ms, got {ms!r}")
        self.interval = ms / 1000
        template = _get(conf, "templateSqlQueryCfg")
        internal = _get(conf, "internalSqlQueryCfg")
        if isinstance(template, dict) and _get(template, "templateSql"):
            self.template = str(_get(template, "templateSql"))
            self.index = _index_fields(template)
            return
        internal = internal if isinstance(internal, dict) else {}
        self.table = str(_get(internal, "table") or datasource or "")
        if not self.table:
            raise ConfigError("sql source needs a table",
                              hint="internalSqlQueryCfg: {table: t} or DATASOURCE=\"t\"")
        self.limit = int(_get(internal, "limit") or 0)
        self.index = _index_fields(internal)

    async def open(self, ctx: Context) -> None:
        saved = ctx.get_state("index")
        if isinstance(saved, dict):
            self.rewind(saved)
        self._db = open_database(self.url, ctx.get_root_path())

    async def close(self, ctx: Context) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    def get_offset(self) -> dict[str, Any]:
        return {f.name: to_row_value(f.value) for f in self.index}

    def rewind(self, offset: Any) -> None:
        if isinstance(offset, dict):
            for f in self.index:
                if f.name in offset:
                    f.value = offset[f.name]

    def statement(self, db: Database) -> tuple[str, tuple[Any, ...]]:
        """The next query and its parameters."""
        if self.template:
            values = {f.name: f.text() for f in self.index}
            return render(self.template, values), ()
        known = [f for f in self.index if f.value is not None]
        sql = f"SELECT * FROM {db.quote(self.table)}"
        if known:
            sql += " WHERE " + " AND ".join(f"{db.quote(f.name)} > {db.placeholder}"
                                            for f in known)
        if self.index:
            sql += " ORDER BY " + ", ".join(f"{db.quote(f.name)} ASC" for f in self.index)
        if self.limit:
            sql += f" LIMIT {self.limit}"
        return sql, tuple(f.value for f in known)

    async def pull(self, ctx: Context) -> None:
        db = self._db
        if db is None:
            return
        sql, params = self.statement(db)
        names = [f.name for f in self.index]

        def work(cur: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            cur.execute(sql, params)
            if cur.description is None:
                return [], {}
            cols = [d[0] for d in cur.description]
            records = cur.fetchall()
            last: dict[str, Any] = {}
            if records:  # the raw driver values, so the next bound keeps its type
                last = {n: records[-1][cols.index(n)] for n in names if n in cols}
            return [{k: to_row_value(v) for k, v in zip(cols, rec)} for rec in records], last

        try:
            rows, last = await db.run(work)
        except ConnectorError as exc:
            if not self._down:
                ctx.get_logger().warning("sql source: %s; retrying every %.3gs", exc, self.interval)
            self._down = True
            ctx.emit_error(exc)
            return
        if self._down:
            ctx.get_logger().info("sql source: %s is back", db.url.redacted())
            self._down = False
        if not rows:
            return
        for f in self.index:
            if f.name in last and last[f.name] is not None:
                f.value = last[f.name]
        ctx.put_state("index", self.get_offset())
        ctx.emit_rows(rows)


@register_lookup("sql")
class SqlLookupSource(LookupSource):
    """`SELECT … FROM table WHERE key = ?`; many lookups of one key go as `IN (…)` chunks."""

    def __init__(self) -> None:
        self.url = ""
        self.table = ""
        self.template = ""
        self._db: Database | None = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.url = str(_get(conf, "url") or _get(conf, "dburl") or "")
        parse_url(self.url)
        self.table = str(datasource or "")
        template = _get(conf, "templateSqlQueryCfg")
        if isinstance(template, dict) and _get(template, "templateSql"):
            self.template = str(_get(template, "templateSql"))
        elif not self.table:
            raise ConfigError("sql lookup table needs DATASOURCE (the table name)")

    async def open(self, ctx: Context) -> None:
        self._db = open_database(self.url, ctx.get_root_path())
        try:
            await self._db.connect()
        except ConnectorError as exc:
            ctx.get_logger().warning("sql lookup: %s", exc)

    async def close(self, ctx: Context) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def lookup(
        self, ctx: Context, fields: list[str], keys: list[str], values: list[Any]
    ) -> list[dict[str, Any]]:
        return (await self.lookup_batch(ctx, fields, keys, [values]))[0]

    async def lookup_batch(
        self, ctx: Context, fields: list[str], keys: list[str], values_list: list[list[Any]]
    ) -> list[list[dict[str, Any]]]:
        """The rows for each tuple of key values (a None key value matches nothing)."""
        if self._db is None:
            raise ConnectorError("io error: sql lookup table is not open")
        for name in [*fields, *keys]:
            if not _SAFE_NAME.match(name):
                raise KuiperError(f"sql lookup: invalid field name {name!r}")
        if not keys:
            raise KuiperError("sql lookup: no key to look up")
        results: list[list[dict[str, Any]] | None] = [None] * len(values_list)
        wanted: dict[tuple[Any, ...], list[int]] = {}
        for i, vals in enumerate(values_list):
            key = tuple(vals)
            if any(v is None for v in key):
                results[i] = []
                continue
            wanted.setdefault(key, []).append(i)
        if wanted:
            found = await self._query(fields, keys, list(wanted))
            for key, idxs in wanted.items():
                rows = found.get(key, [])
                for i in idxs:
                    results[i] = rows
        return [list(r or []) for r in results]

    async def _query(self, fields: list[str], keys: list[str],
                     wanted: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        db = self._db
        assert db is not None
        select = ", ".join(db.quote(f) for f in fields) if fields else "*"
        if self.template:
            return await db.run(lambda cur: self._by_template(cur, keys, wanted))
        table, ph = db.quote(self.table), db.placeholder
        if len(keys) == 1:
            col = db.quote(keys[0])
            chunks = [wanted[i:i + _IN_CHUNK] for i in range(0, len(wanted), _IN_CHUNK)]

            def by_in(cur: Any) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
                out: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
                by_text = {_text(k[0]): k for k in wanted}
                for chunk in chunks:
                    marks = ", ".join([ph] * len(chunk))
                    cur.execute(f"SELECT * FROM {table} WHERE {col} IN ({marks})",
                                tuple(k[0] for k in chunk))
                    for row in rows_of(cur):
                        key = by_text.get(_text(row.get(keys[0])))
                        if key is not None:
                            out.setdefault(key, []).append(_pick(row, fields))
                return out

            return await db.run(by_in)
        where = " AND ".join(f"{db.quote(k)} = {ph}" for k in keys)
        sql = f"SELECT {select} FROM {table} WHERE {where}"

        def each(cur: Any) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
            out = {}
            for key in wanted:
                cur.execute(sql, key)
                out[key] = rows_of(cur)
            return out

        return await db.run(each)

    def _by_template(self, cur: Any, keys: list[str],
                     wanted: list[tuple[Any, ...]]) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
        out = {}
        for key in wanted:
            values = {k: str(to_row_value(v)) for k, v in zip(keys, key)}
            cur.execute(render(self.template, values))
            out[key] = rows_of(cur)
        return out


def _text(value: Any) -> str:
    """A key value compared across types (1 == 1.0 == "1")."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _pick(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: row[k] for k in fields if k in row} if fields else row
