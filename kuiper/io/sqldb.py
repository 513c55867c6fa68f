"""SQL databases for the sql source, lookup table and sink: eKuiper's URLs and one connection.

URLs as eKuiper writes them: `postgres://user:pass@host:5432/db?sslmode=disable` (also
`postgresql://`, `pgx://`), `mysql://user:pass@host:3306/db?parseTime=true` (also
`mariadb://`; Go-driver parameters are ignored), `sqlite:/path/to/file.db`, `sqlite://file.db`
(relative to the kuiper root), `sqlite3:`… Drivers: psycopg 3, PyMySQL, the stdlib sqlite3.

The drivers block, so every call runs on the connection's own single worker thread (sqlite3
wants its connection used from one thread, and the event loop never waits on a socket).
Errors that mean the database is unreachable become ConnectorError ("io error: …",
recoverable: the connection is dropped and made again on the next call); others stay
non-recoverable KuiperErrors.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import logging
import os
import re
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson

from kuiper.errors import ConfigError, ConnectorError, KuiperError

log = logging.getLogger(__name__)
T = TypeVar("T")

_DRIVERS = {"postgres": "postgres", "postgresql": "postgres", "pgx": "postgres", "pq": "postgres",
            "mysql": "mysql", "mariadb": "mysql", "my": "mysql",
            "sqlite": "sqlite", "sqlite3": "sqlite", "file": "sqlite"}
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# MySQL client errors (2000+) and server codes that mean the connection is gone.
_MYSQL_IO_CODES = {1040, 1053, 1077, 1078, 1079, 1080, 1081, 1152, 1153, 1158, 1159, 1160,
                   1161, 1927, 4031}
_SQLITE_IO_WORDS = ("locked", "busy", "unable to open", "disk i/o")
_PG_PARAMS = {"sslmode", "connect_timeout", "application_name", "sslrootcert", "sslcert",
              "sslkey", "options", "target_session_attrs"}


@dataclass(frozen=True, slots=True)
class DbUrl:
    """A parsed database URL; `driver` is postgres, mysql or sqlite."""

    driver: str
    host: str = ""
    port: int | None = None
    user: str = ""
    password: str = ""
    database: str = ""
    path: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def redacted(self) -> str:
        if self.driver == "sqlite":
            return f"sqlite:{self.path}"
        auth = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{self.driver}://{auth}{self.host}{port}/{self.database}"


def parse_url(url: str) -> DbUrl:
    """eKuiper's database URL forms; raises ConfigError with the accepted forms."""
    if not url or not isinstance(url, str) or ":" not in url:
        raise ConfigError(f"sql: '{url}' is not a database url",
                          hint="postgres://user@127.0.0.1:5432/db, mysql://root@127.0.0.1:3306/db "
                               "or sqlite:/path/to/file.db")
    scheme, rest = url.split(":", 1)
    driver = _DRIVERS.get(scheme.lower())
    if driver is None:
        raise ConfigError(f"sql: database '{scheme}' is not supported",
                          hint="supported: postgres, mysql (mariadb), sqlite")
    if driver == "sqlite":
        path = rest[2:] if rest.startswith("//") else rest
        path, _, query = path.partition("?")
        if not path:
            raise ConfigError(f"sql: '{url}' names no sqlite file", hint="sqlite:/path/to/file.db")
        return DbUrl("sqlite", path=unquote(path), params=dict(parse_qsl(query)))
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"sql: '{url}' has a bad port") from None
    return DbUrl(
        driver, host=parts.hostname or "127.0.0.1", port=port,
        user=unquote(parts.username or ""), password=unquote(parts.password or ""),
        database=unquote(parts.path.lstrip("/")), params=dict(parse_qsl(parts.query)),
    )


def quote_name(name: str, driver: str) -> str:
    """A table or column name in a statement: bare when simple (as eKuiper writes it, so
    PostgreSQL folds case the same way), quoted otherwise; `schema.table` quotes each part."""
    parts = name.split(".") if "." in name and all(_SIMPLE_NAME.match(p) for p in name.split(".")) \
        else [name]
    out = []
    for part in parts:
        if _SIMPLE_NAME.match(part):
            out.append(part)
        elif driver == "mysql":
            out.append("`" + part.replace("`", "``") + "`")
        else:
            out.append('"' + part.replace('"', '""') + '"')
    return ".".join(out)


def to_db_value(value: Any) -> Any:
    """A result value as a statement parameter: nested values as JSON text."""
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return value


def to_row_value(value: Any) -> Any:
    """A driver value as a row value (JSON-friendly): decimals as numbers, times as text."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 \
            else float(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class Database:
    """One connection to a database, used from its own worker thread."""

    def __init__(self, url: DbUrl, root: str = ".") -> None:
        self.url = url
        self.driver = url.driver
        self.placeholder = "?" if url.driver == "sqlite" else "%s"
        self.root = root
        self._conn: Any = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"kuiper-{url.driver}")

    def quote(self, name: str) -> str:
        return quote_name(name, self.driver)

    # --- calls ---------------------------------------------------------------------------
    async def run(self, work: Callable[[Any], T]) -> T:
        """`work(cursor)` on the worker thread in one transaction, committed when it returns."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run_sync, work)

    async def connect(self) -> None:
        await self.run(lambda cur: None)

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def work(cur: Any) -> list[dict[str, Any]]:
            cur.execute(sql, tuple(params))
            return rows_of(cur)

        return await self.run(work)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        def work(cur: Any) -> int:
            cur.execute(sql, tuple(params))
            return cur.rowcount

        return await self.run(work)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        def work(cur: Any) -> int:
            cur.executemany(sql, rows)
            return cur.rowcount

        return await self.run(work)

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._pool, self._drop)
        self._pool.shutdown(wait=False)

    # --- on the worker thread -------------------------------------------------------------
    def _run_sync(self, work: Callable[[Any], T]) -> T:
        if self._conn is None:
            self._conn = self._open()
        conn = self._conn
        try:
            cur = conn.cursor()
            try:
                result = work(cur)
            finally:
                with contextlib.suppress(Exception):
                    cur.close()
            conn.commit()
            return result
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if self._is_io_error(exc):
                self._drop()
                raise ConnectorError(f"io error: {self.url.redacted()}: {exc}") from exc
            if isinstance(exc, KuiperError):
                raise
            raise KuiperError(f"sql {self.url.redacted()}: {exc}") from exc

    def _open(self) -> Any:
        try:
            if self.driver == "postgres":
                return self._open_postgres()
            if self.driver == "mysql":
                return self._open_mysql()
            return self._open_sqlite()
        except ImportError as exc:
            raise ConfigError(f"sql: the {self.driver} driver is not installed ({exc})",
                              hint="pip install 'kuiper-engine[sql]'") from exc
        except KuiperError:
            raise
        except Exception as exc:
            raise ConnectorError(f"io error: cannot connect to {self.url.redacted()}: {exc}") \
                from exc

    def _open_postgres(self) -> Any:
        import psycopg

        u = self.url
        kwargs: dict[str, Any] = {"host": u.host, "port": u.port or 5432, "dbname": u.database,
                                  "connect_timeout": int(u.params.get("connect_timeout", 5))}
        if u.user:
            kwargs["user"] = u.user
        if u.password:
            kwargs["password"] = u.password
        kwargs.update({k: v for k, v in u.params.items() if k in _PG_PARAMS})
        return psycopg.connect(**kwargs)

    def _open_mysql(self) -> Any:
        import pymysql
        from pymysql.constants import CLIENT

        u = self.url
        # FOUND_ROWS: an UPDATE's rowcount counts matched rows, as the other drivers do
        return pymysql.connect(client_flag=CLIENT.FOUND_ROWS, host=u.host, port=u.port or 3306, user=u.user or "root",
                               password=u.password, database=u.database or None,
                               charset=u.params.get("charset", "utf8mb4"), connect_timeout=5,
                               read_timeout=30, write_timeout=30)

    def _open_sqlite(self) -> Any:
        import sqlite3

        path = self.url.path
        if path != ":memory:" and not os.path.isabs(path):
            path = os.path.join(self.root, path)
        return sqlite3.connect(path, timeout=5)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _is_io_error(self, exc: BaseException) -> bool:
        if isinstance(exc, ConnectorError | OSError):
            return True
        if self.driver == "postgres":
            import psycopg

            broken = self._conn is not None and (self._conn.closed or self._conn.broken)
            return broken or isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) \
                and not isinstance(exc, psycopg.errors.QueryCanceled)
        if self.driver == "mysql":
            import pymysql

            if isinstance(exc, pymysql.err.InterfaceError):
                return True
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            return isinstance(exc, pymysql.err.OperationalError) and (
                code >= 2000 or code in _MYSQL_IO_CODES)
        import sqlite3

        return isinstance(exc, sqlite3.OperationalError) and any(
            w in str(exc).lower() for w in _SQLITE_IO_WORDS)


def rows_of(cur: Any) -> list[dict[str, Any]]:
    """The cursor's result as row dicts with JSON-friendly values."""
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    return [{k: to_row_value(v) for k, v in zip(names, rec)} for rec in cur.fetchall()]


def open_database(url: str, root: str) -> Database:
    """A Database for an eKuiper URL (connections are made on first use)."""
    return Database(parse_url(url), root)
