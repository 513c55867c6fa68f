"""The redis lookup table: `CREATE TABLE t () WITH (TYPE="redis", KIND="lookup", DATASOURCE="0")`.

Properties (etc/sources/redis.yaml): addr `host:port`, datatype string | list (`dataType` is
accepted too), username, password. DATASOURCE is the database number (0-15). A lookup takes
one key: its value is the Redis key; a string key holds one JSON object (one row), a list key
holds one JSON object per element. A missing key gives no row.

`lookup` and `lookup_batch` are coroutines: the caller (the lookup join node) awaits them.
"""
from __future__ import annotations

import logging
from typing import Any

import orjson

from kuiper.api import Context, LookupSource
from kuiper.errors import ConfigError, ConnectorError, KuiperError
from kuiper.io.sinks.redis import connect_client, go_string, io_errors, parse_addr, parse_db
from kuiper.runtime.registry import register_lookup

log = logging.getLogger(__name__)


def _row(raw: bytes | str, key: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise KuiperError(f"redis lookup: the value of key '{key}' is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise KuiperError(f"redis lookup: the value of key '{key}' is not a JSON object")
    return value


def _pick(row: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    return {k: row[k] for k in fields if k in row} if fields else row


@register_lookup("redis")
class RedisLookupSource(LookupSource):
    """Answers lookups with GET (string) or LRANGE 0 -1 (list); batches with MGET/pipelines."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 6379
        self.db = 0
        self.data_type = "string"
        self.username = ""
        self.password = ""
        self._client: Any = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        what = "redis lookup table"
        self.host, self.port = parse_addr(conf.get("addr") or "127.0.0.1:6379", what)
        if not str(datasource or "0").strip().isdigit():
            raise ConfigError(f"{what}: DATASOURCE '{datasource}' must be a database number",
                              hint='DATASOURCE="0"')
        self.db = parse_db(datasource or 0, what)
        self.data_type = str(conf.get("datatype") or conf.get("dataType") or "string").lower()
        if self.data_type not in ("string", "list"):
            raise ConfigError(f"{what}: datatype must be string or list, got '{self.data_type}'")
        self.username = str(conf.get("username") or "")
        self.password = str(conf.get("password") or "")

    async def open(self, ctx: Context) -> None:
        self._client = connect_client(self.host, self.port, self.db, self.username, self.password)
        try:
            await self._client.ping()
        except io_errors() as exc:
            ctx.get_logger().warning("redis lookup: %s:%d not reachable yet: %s",
                                     self.host, self.port, exc)

    async def close(self, ctx: Context) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def lookup(
        self, ctx: Context, fields: list[str], keys: list[str], values: list[Any]
    ) -> list[dict[str, Any]]:
        return (await self.lookup_batch(ctx, fields, keys, [values]))[0]

    async def lookup_batch(
        self, ctx: Context, fields: list[str], keys: list[str], values_list: list[list[Any]]
    ) -> list[list[dict[str, Any]]]:
        """The rows of each key value, for many lookups in one round trip."""
        if len(keys) != 1:
            raise KuiperError(f"redis lookup only supports one key, got {keys}")
        if self._client is None:
            raise ConnectorError("io error: redis lookup table is not open")
        names = [go_string(v[0]) if v and v[0] is not None else None for v in values_list]
        wanted = [n for n in names if n is not None]
        if not wanted:
            return [[] for _ in names]
        try:
            if self.data_type == "string":
                raws = await self._client.mget(wanted)
                found = {n: ([_row(r, n)] if r is not None else []) for n, r in zip(wanted, raws)}
            else:
                pipe = self._client.pipeline(transaction=False)
                for n in wanted:
                    pipe.lrange(n, 0, -1)
                lists = await pipe.execute()
                found = {n: [_row(r, n) for r in items] for n, items in zip(wanted, lists)}
        except io_errors() as exc:
            raise ConnectorError(f"io error: redis {self.host}:{self.port}: {exc}") from exc
        return [[_pick(r, fields) for r in found[n]] if n is not None else [] for n in names]
