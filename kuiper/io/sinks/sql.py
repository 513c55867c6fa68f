"""The sql sink: result rows inserted into a table of PostgreSQL, MySQL/MariaDB or SQLite.

Properties (eKuiper's): url (`dburl` too; see kuiper/io/sqldb.py for the forms), table,
fields (the columns to write; default: every field of the result), tableDataField/dataField
(write the rows nested under that field), rowkindField + keyField (updatable sink: a row's
rowkind field says insert (default) | update | upsert | delete, keyed by keyField).

Without rowkindField a whole batch is one `executemany` of one INSERT in one transaction,
built from the batch's columns. A database that cannot be reached raises ConnectorError,
which `enableCache` treats as recoverable. A NULL value is written as NULL (eKuiper leaves
the column out of that row's INSERT, so the column default applies there).
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from kuiper.api import Batch, Context, Sink
from kuiper.errors import ConfigError, KuiperError
from kuiper.io.sqldb import Database, open_database, parse_url, to_db_value
from kuiper.runtime.registry import register_sink

log = logging.getLogger(__name__)

ROWKINDS = ("insert", "update", "upsert", "delete")


@register_sink("sql")
class SqlSink(Sink):
    """Batched inserts (or keyed updates/deletes) on one connection per action."""

    def __init__(self) -> None:
        self.url = ""
        self.table = ""
        self.fields: list[str] = []
        self.rowkind_field = ""
        self.key_field = ""
        self._db: Database | None = None

    def configure(self, conf: dict[str, Any]) -> None:
        self.url = str(conf.get("url") or conf.get("dburl") or "")
        parse_url(self.url)  # raises ConfigError for a bad url
        self.table = str(conf.get("table") or "")
        if not self.table:
            raise ConfigError("sql sink needs a 'table'", hint='"table": "results"')
        fields = conf.get("fields") or []
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ConfigError("sql sink: 'fields' must be a list of column names")
        self.fields = list(fields)
        self.rowkind_field = str(conf.get("rowkindField") or conf.get("rowKindField") or "")
        self.key_field = str(conf.get("keyField") or "")
        if self.rowkind_field and not self.key_field:
            raise ConfigError("sql sink: keyField is required when rowkindField is set")

    async def open(self, ctx: Context) -> None:
        self._db = open_database(self.url, ctx.get_root_path())
        try:
            await self._db.connect()
        except KuiperError as exc:
            if not exc.message.startswith("io error"):
                raise
            # Not fatal: deliveries fail (and are cached) until the database is back.
            ctx.get_logger().warning("sql sink: %s", exc)

    async def close(self, ctx: Context) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> Database:
        if self._db is None:
            raise KuiperError("sql sink is not open")
        return self._db

    # --- delivery ------------------------------------------------------------------------
    async def collect_batch(self, ctx: Context, batch: Batch) -> Any:
        if self.rowkind_field:
            return NotImplemented  # row by row: each row says what to do
        if not batch.n:
            return None
        names = self.fields or list(batch.columns)
        if not names:
            return None
        columns = []
        for name in names:
            col = batch.columns.get(name)
            values = col.to_pylist() if col is not None else [None] * batch.n
            if col is not None and col.kind in ("array", "struct", "any"):
                values = [to_db_value(v) for v in values]
            columns.append(values)
        await self._insert(names, list(zip(*columns)))
        return None

    async def collect(self, ctx: Context, data: Any) -> None:
        rows = [r for r in (data if isinstance(data, list) else [data]) if isinstance(r, dict)]
        if not rows:
            return
        if self.rowkind_field:
            await self._save(rows)
            return
        # Runs of rows with the same columns become one executemany each.
        groups: list[tuple[list[str], list[tuple[Any, ...]]]] = []
        for row in rows:
            names = self.fields or list(row)
            if not names:
                continue
            values = tuple(to_db_value(row.get(k)) for k in names)
            if groups and groups[-1][0] == names:
                groups[-1][1].append(values)
            else:
                groups.append((names, [values]))
        for names, values in groups:
            await self._insert(names, values)

    async def _insert(self, names: list[str], rows: Sequence[tuple[Any, ...]]) -> None:
        db = self.db
        cols = ", ".join(db.quote(n) for n in names)
        marks = ", ".join([db.placeholder] * len(names))
        await db.executemany(f"INSERT INTO {db.quote(self.table)} ({cols}) VALUES ({marks})", rows)

    async def _save(self, rows: list[dict[str, Any]]) -> None:
        """Updatable mode: every row's statement, in order, in one transaction."""
        db = self.db
        table, ph, key = db.quote(self.table), db.placeholder, db.quote(self.key_field)
        statements: list[tuple[str, str, tuple[Any, ...], tuple[Any, ...]]] = []
        for row in rows:
            kind = row.get(self.rowkind_field, "insert")
            if kind not in ROWKINDS:
                raise KuiperError(f"sql sink: invalid rowkind {kind!r} in {row}")
            names = self.fields or [k for k in row if k != self.rowkind_field]
            values = tuple(to_db_value(row.get(k)) for k in names)
            cols = ", ".join(db.quote(n) for n in names)
            insert = f"INSERT INTO {table} ({cols}) VALUES ({', '.join([ph] * len(names))})"
            if kind == "insert":
                statements.append((insert, "", values, ()))
                continue
            if row.get(self.key_field) is None:
                raise KuiperError(f"sql sink: field {self.key_field} does not exist in data {row}")
            keyval = (row[self.key_field],)
            if kind == "delete":
                statements.append((f"DELETE FROM {table} WHERE {key} = {ph}", "", keyval, ()))
                continue
            sets = ", ".join(f"{db.quote(n)} = {ph}" for n in names)
            update = f"UPDATE {table} SET {sets} WHERE {key} = {ph}"
            # upsert: the INSERT runs only when the UPDATE matched no row
            statements.append((update, insert if kind == "upsert" else "", values + keyval, values))

        def work(cur: Any) -> None:
            for sql, fallback, params, fallback_params in statements:
                cur.execute(sql, params)
                if fallback and cur.rowcount == 0:
                    cur.execute(fallback, fallback_params)

        await db.run(work)
