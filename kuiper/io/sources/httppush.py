"""The httppush source: rows pushed to kuiper over HTTP (POST or PUT), one stream per URL path.

DATASOURCE is the path (`/api/data`); the property `method` (POST or PUT) is what the stream
listens to. Every httppush stream shares one HTTP data server, eKuiper's global one:
`source.httpServerIp`/`httpServerPort` in `{root}/etc/kuiper.yaml` (default 0.0.0.0:10081),
or the `source:` section of `{root}/etc/sources/httppush.yaml`. It starts with the first such
stream and stops with the last. A request body is one message in the stream's FORMAT (json: an
object or an array of objects); the answer is 200 "ok" (400 for malformed JSON, 404 for an
unknown path, 405 for another method). The sender is slowed down while the rule is behind.
"""
from __future__ import annotations

import asyncio
from typing import Any

from kuiper.api import Context, Source
from kuiper.errors import ConfigError
from kuiper.io.http_common import PushServer, push_server_address
from kuiper.runtime.registry import register_source


@register_source("httppush")
class HttpPushSource(Source):
    """A push source on the shared HTTP data server."""

    def __init__(self) -> None:
        self.path = "/"
        self.method = "POST"
        self._server: PushServer | None = None
        self._handler: Any = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        path = datasource or str(conf.get("datasource") or conf.get("endpoint") or "")
        if not path.startswith("/"):
            raise ConfigError(f"httppush source: DATASOURCE (the URL path) must start with '/', "
                              f"got {path!r}", hint='DATASOURCE="/api/data"')
        method = str(conf.get("method") or "POST").upper()
        if method not in ("POST", "PUT"):
            raise ConfigError(f"httppush source: method {method} is not supported, use POST or PUT")
        self.path, self.method = path, method

    async def open(self, ctx: Context) -> None:
        ip, port = push_server_address(ctx.get_root_path())

        async def on_payload(payload: bytes, meta: dict[str, Any]) -> None:
            ctx.emit_bytes(payload, meta)
            await ctx.drain()

        self._handler = on_payload
        self._server = await PushServer.register(ip, port, self.path, self.method, on_payload)
        try:
            await asyncio.Event().wait()  # runs until the rule stops
        finally:
            await self._release()

    async def _release(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.unregister(self.path, self.method, self._handler)

    async def close(self, ctx: Context) -> None:
        await self._release()
