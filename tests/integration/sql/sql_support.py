"""SQL connector tests on the machine's PostgreSQL and MariaDB, and on SQLite files."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services import start_if_down

from kuiper.runtime.context import NodeContext

START = {
    "postgres": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "mysql": "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd",
}
URLS = {"postgres": "postgres://postgres@127.0.0.1:5432/test",
        "mysql": "mysql://root@127.0.0.1:3306/test"}


def _connect(kind: str, path: str = "") -> Any:
    if kind == "postgres":
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="test",
                               autocommit=True, connect_timeout=2)
    if kind == "mysql":
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=3306, user="root", password="",
                               database="test", autocommit=True, connect_timeout=2)
    import sqlite3

    return sqlite3.connect(path, isolation_level=None)


def _reachable(kind: str) -> bool:
    try:
        _connect(kind).close()
        return True
    except Exception:
        return False


_checked: dict[str, str] = {}


def require(kind: str) -> None:
    """Skip unless the server answers (started with the machine's command if it was down)."""
    if kind == "sqlite":
        return
    pytest.importorskip("psycopg" if kind == "postgres" else "pymysql")
    if kind not in _checked:
        ok = start_if_down(lambda: _reachable(kind), START[kind], 15, kind)
        _checked[kind] = "" if ok else f"{kind} is not running on 127.0.0.1 and could not be started"
    if _checked[kind]:
        pytest.skip(_checked[kind])


class Db:
    """A test database: its kuiper url, a direct connection and unique table names."""

    def __init__(self, kind: str, tmp: Path) -> None:
        self.kind = kind
        self.path = str(tmp / "test.db")
        self.url = URLS.get(kind, f"sqlite:{self.path}")
        self.conn = _connect(kind, self.path)
        self.tables: list[str] = []

    def table(self, columns: str) -> str:
        name = f"kt_{uuid.uuid4().hex[:12]}"
        self.run(f"CREATE TABLE {name} ({columns})")
        self.tables.append(name)
        return name

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        ph = "?" if self.kind == "sqlite" else "%s"
        cur = self.conn.cursor()
        cur.execute(sql.replace("%s", ph), params)
        rows = list(cur.fetchall()) if cur.description else []
        cur.close()
        return rows

    def serial(self) -> str:
        return {"postgres": "SERIAL PRIMARY KEY", "mysql": "INT AUTO_INCREMENT PRIMARY KEY",
                "sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT"}[self.kind]

    def close(self) -> None:
        for t in self.tables:
            try:
                self.run(f"DROP TABLE IF EXISTS {t}")
            except Exception:  # noqa: S110 - best effort cleanup
                pass
        self.conn.close()


def _open_db(kind: str, tmp_path: Path) -> Iterator[Db]:
    require(kind)
    d = Db(kind, tmp_path)
    yield d
    d.close()


@pytest.fixture(params=["postgres", "mysql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    yield from _open_db(request.param, tmp_path)


@pytest.fixture(params=["postgres", "mysql"])
def server_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Db]:
    """A database behind a server connection (SQLite has none to lose)."""
    yield from _open_db(request.param, tmp_path)


class CollectContext(NodeContext):
    """A Context that keeps what a source emits."""

    def __init__(self, root: str = ".") -> None:
        super().__init__("test", "source", 0, root)
        self.rows: list[dict[str, Any]] = []
        self.errors: list[Any] = []

    def emit(self, message: Any, meta: Any = None) -> None:
        self.rows.append(dict(message))

    def emit_rows(self, messages: Any, metas: Any = None) -> None:
        self.rows.extend(dict(m) for m in messages)

    def emit_error(self, error: Any) -> None:
        self.errors.append(error)
