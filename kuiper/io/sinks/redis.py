"""The redis sink: each result row stored under a key, as a JSON string or pushed on a list.

Properties (eKuiper's): addr `host:port` (required), username, password, db 0-15, key (a fixed
key) or field (the key is this row field's value; `keyField` is accepted as its alias),
keyType single (the row as JSON under one key) | multiple (every field under its own key),
dataType string (SET) | list (LPUSH), expiration in seconds for strings (-1, the default,
and 0 mean none), rowkindField (insert | update | upsert write, delete
removes the key or pops the list).

A whole batch goes to the server in one round trip (MSET, or a non-transactional pipeline).
An unreachable server raises ConnectorError, which `enableCache` treats as recoverable.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson

from kuiper.api import Batch, Context, Sink
from kuiper.errors import ConfigError, ConnectorError, KuiperError
from kuiper.io.formats.encode import encode_json_many, go_batch, go_value
from kuiper.runtime.registry import register_sink

log = logging.getLogger(__name__)

ROWKINDS = ("insert", "update", "upsert", "delete")
_MAX_REPORTED = 3


def go_string(value: Any) -> str:
    """A value as Go's cast.ToString writes it (integral floats without `.0`, lower-case bools)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return orjson.dumps(go_value(value)).decode()


def parse_addr(addr: Any, what: str) -> tuple[str, int]:
    """`host:port` (port defaults to 6379)."""
    if not addr or not isinstance(addr, str):
        raise ConfigError(f"{what} needs an 'addr'", hint='"addr": "127.0.0.1:6379"')
    host, _, port = addr.rpartition(":") if ":" in addr else (addr, "", "6379")
    try:
        return host.strip("[]") or "127.0.0.1", int(port)
    except ValueError:
        raise ConfigError(f"{what}: addr '{addr}' is not host:port") from None


def parse_db(value: Any, what: str) -> int:
    try:
        db = int(value or 0)
    except (TypeError, ValueError):
        raise ConfigError(f"{what}: db '{value}' is not a number") from None
    if not 0 <= db <= 15:
        raise ConfigError(f"{what}: db should be in range 0-15, got {db}")
    return db


def connect_client(host: str, port: int, db: int, username: str | None,
                   password: str | None) -> Any:
    """A redis.asyncio client (connections are made lazily and re-made after a failure)."""
    try:
        import redis.asyncio as aioredis
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigError("the redis connectors need the 'redis' package",
                          hint="pip install 'kuiper-engine[redis]'") from exc
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # No client-side retries with back-off (seconds per call): a failure surfaces at once as a
    # ConnectorError and the sink node's retry/cache decides what happens next.
    return aioredis.Redis(host=host, port=port, db=db, username=username or None,
                          password=password or None, socket_connect_timeout=5,
                          socket_timeout=10, health_check_interval=30,
                          retry=Retry(NoBackoff(), 0))


def io_errors() -> tuple[type[BaseException], ...]:
    """The redis-py exceptions that mean the server is unreachable (recoverable)."""
    from redis import exceptions as rex

    return (rex.ConnectionError, rex.TimeoutError, ConnectionError, OSError)


@register_sink("redis")
class RedisSink(Sink):
    """Writes rows to Redis; `collect_batch` sends a batch in one round trip."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 6379
        self.db = 0
        self.username = ""
        self.password = ""
        self.key = ""
        self.field = ""
        self.key_type = "single"
        self.data_type = "string"
        self.expiration = -1
        self.rowkind_field = ""
        self._client: Any = None

    def configure(self, conf: dict[str, Any]) -> None:
        what = "redis sink"
        self.host, self.port = parse_addr(conf.get("addr"), what)
        self.db = parse_db(conf.get("db", 0), what)
        self.username = str(conf.get("username") or "")
        self.password = str(conf.get("password") or "")
        self.key = str(conf.get("key") or "")
        self.field = str(conf.get("field") or conf.get("keyField") or "")
        self.key_type = str(conf.get("keyType") or "single").lower()
        self.data_type = str(conf.get("dataType") or "string").lower()
        self.rowkind_field = str(conf.get("rowkindField") or "")
        if self.key_type not in ("single", "multiple"):
            raise ConfigError(f"{what}: keyType must be single or multiple, got '{self.key_type}'")
        if self.data_type not in ("string", "list"):
            raise ConfigError(f"{what}: dataType must be string or list, got '{self.data_type}'")
        if self.key_type == "single" and not (self.key or self.field):
            raise ConfigError(f"{what} must have 'key' or 'field' when keyType is single",
                              hint='"field": "deviceId" stores each row under its deviceId')
        exp = conf.get("expiration", -1)
        try:
            self.expiration = int(exp)
        except (TypeError, ValueError):
            raise ConfigError(f"{what}: expiration must be a number of seconds, got {exp!r}") from None

    async def open(self, ctx: Context) -> None:
        self._client = connect_client(self.host, self.port, self.db, self.username, self.password)
        try:
            await self._client.ping()
        except io_errors() as exc:
            # Not fatal: the rule starts, deliveries fail (and are cached) until Redis is back.
            ctx.get_logger().warning("redis sink: %s:%d not reachable yet: %s",
                                     self.host, self.port, exc)

    async def close(self, ctx: Context) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- delivery ------------------------------------------------------------------------
    async def collect(self, ctx: Context, data: Any) -> None:
        rows = data if isinstance(data, list) else [data]
        await self._save(ctx, [r for r in rows if isinstance(r, dict)])

    async def collect_batch(self, ctx: Context, batch: Batch) -> None:
        if not batch.n:
            return
        batch = go_batch(batch)
        if (self.key_type == "single" and self.data_type == "string" and not self.rowkind_field
                and self.expiration <= 0):
            await self._mset(ctx, batch)
            return
        await self._save(ctx, batch.to_rows())

    async def _mset(self, ctx: Context, batch: Batch) -> None:
        """The fast path: the batch's rows as JSON, keyed by one column, in one MSET."""
        rows = batch.to_rows()
        if self.field:
            col = batch.columns.get(self.field)
            keys = col.to_pylist() if col is not None else [None] * batch.n
        else:
            keys = [self.key] * batch.n
        values = encode_json_many(rows)
        mapping: dict[str, bytes] = {}
        bad: list[str] = []
        for key, value, row in zip(keys, values, rows):
            if key is None:
                bad.append(f"field {self.field} does not exist in data {row}")
                continue
            mapping[go_string(key)] = value
        if mapping:
            await self._run(lambda c: c.mset(mapping))
        self._report(ctx, bad)

    async def _save(self, ctx: Context, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.key_type == "single":
            values = encode_json_many(rows)
        bad: list[str] = []
        commands: list[tuple[str, str, Any]] = []  # (op, key, value)
        for i, row in enumerate(rows):
            try:
                kind = self._rowkind(row)
                if self.key_type == "multiple":
                    pairs = [(k, go_string(v)) for k, v in row.items()]
                else:
                    pairs = [(self._key_of(row), values[i])]
            except KuiperError as exc:
                bad.append(exc.message)
                continue
            for key, value in pairs:
                commands.append((kind, key, value))
        if commands:
            await self._run(lambda c: self._pipeline(c, commands))
        self._report(ctx, bad)

    async def _pipeline(self, client: Any, commands: list[tuple[str, str, Any]]) -> None:
        pipe = client.pipeline(transaction=False)
        listed = self.data_type == "list"
        for kind, key, value in commands:
            if kind == "delete":
                if listed:
                    pipe.lpop(key)
                else:
                    pipe.delete(key)
            elif listed:
                pipe.lpush(key, value)
            elif self.expiration > 0:
                pipe.set(key, value, ex=self.expiration)
            else:
                pipe.set(key, value)
        await pipe.execute()

    async def _run(self, call: Any) -> None:
        if self._client is None:
            raise ConnectorError("io error: redis sink is not open")
        try:
            await call(self._client)
        except io_errors() as exc:
            raise ConnectorError(f"io error: redis {self.host}:{self.port}: {exc}") from exc

    def _key_of(self, row: dict[str, Any]) -> str:
        if not self.field:
            return self.key
        value = row.get(self.field)
        if value is None:
            raise KuiperError(f"field {self.field} does not exist in data {row}")
        return go_string(value)

    def _rowkind(self, row: dict[str, Any]) -> str:
        if not self.rowkind_field or self.rowkind_field not in row:
            return "upsert"
        kind = row[self.rowkind_field]
        if not isinstance(kind, str):
            raise KuiperError(f"rowkind field {self.rowkind_field} is not a string in data {row}")
        if kind not in ROWKINDS:
            raise KuiperError(f"invalid rowkind {kind}")
        return kind

    def _report(self, ctx: Context, bad: list[str]) -> None:
        """Rows that cannot be written are skipped (the others were written): fail the
        delivery with a non-recoverable error so they are counted, not resent."""
        if not bad:
            return
        shown = "; ".join(bad[:_MAX_REPORTED])
        more = f" (and {len(bad) - _MAX_REPORTED} more)" if len(bad) > _MAX_REPORTED else ""
        raise KuiperError(f"redis sink skipped {len(bad)} row(s): {shown}{more}")
