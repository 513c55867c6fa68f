"""The nats sink: each result message published on a subject, core NATS or JetStream.

Properties: server or servers (default `nats://127.0.0.1:4222`), username, password, token,
subject (required; may be a template the sink node renders per message:
`"subject": "out.{{.deviceId}}"`), reconnectInterval (ms), jetstream (false),
stream (+ createStream, default true: the stream is made for the subject when missing).

The message is the encoded payload (`format`, default json). Core NATS publishes are buffered by the
client and flushed; with JetStream every publish waits for the server's acknowledgement (at
least once). While the server is unreachable, deliveries raise ConnectorError so that
`enableCache` keeps them and resends them when it is back.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kuiper.api import Context, Sink
from kuiper.errors import ConfigError, ConnectorError, KuiperError
from kuiper.io.formats.encode import encode_json
from kuiper.io.sources.nats import NatsConfig
from kuiper.runtime.registry import register_sink

log = logging.getLogger(__name__)


@register_sink("nats")
class NatsSink(Sink):
    """Publishes on one connection per action; JetStream publishes await their PubAck."""

    accepts_bytes = True

    def __init__(self) -> None:
        self.subject = ""
        self.conf: NatsConfig | None = None
        self._nc: Any = None
        self._js: Any = None
        self._connecting: asyncio.Lock | None = None

    def configure(self, conf: dict[str, Any]) -> None:
        subject = conf.get("subject") or conf.get("topic")
        if not subject or not isinstance(subject, str):
            raise ConfigError("nats sink needs a 'subject'", hint='"subject": "results"')
        self.subject = subject
        self.conf = NatsConfig(conf, "nats sink")

    async def open(self, ctx: Context) -> None:
        self._connecting = asyncio.Lock()
        try:
            await self._ensure(ctx)
        except ConnectorError as exc:
            # Not fatal: deliveries fail (and are cached) until the server is reachable.
            ctx.get_logger().warning("%s", exc)

    async def _ensure(self, ctx: Context) -> Any:
        """The connected client; ConnectorError while the server cannot be reached."""
        assert self.conf is not None and self._connecting is not None
        nc = self._nc
        if nc is not None and nc.is_closed:
            self._nc = self._js = nc = None
        if nc is None:
            async with self._connecting:
                if self._nc is None:
                    self._nc = await self.conf.connect(ctx.get_logger())
                    if self.conf.jetstream:
                        self._js = self._nc.jetstream()
                        if "{{" not in self.subject:
                            await self.conf.ensure_stream(self._js, self.subject)
                nc = self._nc
        if not nc.is_connected:
            raise ConnectorError(f"io error: nats sink: not connected to "
                                 f"{', '.join(self.conf.servers)} (reconnecting)")
        return nc

    async def collect(self, ctx: Context, data: Any) -> None:
        nc = await self._ensure(ctx)
        # a templated subject is rendered per message by the sink node
        subject = getattr(ctx, "dynamic_props", {}).get("subject") or self.subject
        payload = data if isinstance(data, bytes) else encode_json(data)
        try:
            if self._js is not None:
                await self._js.publish(subject, payload)
            else:
                await nc.publish(subject, payload)
        except Exception as exc:
            if type(exc).__name__ in ("BadSubjectError", "MaxPayloadError"):
                raise KuiperError(f"nats sink: cannot publish to {subject!r}: {exc}") from exc
            raise ConnectorError(f"io error: nats sink: publish to {subject} failed: {exc}") \
                from exc

    async def close(self, ctx: Context) -> None:
        if self.conf is not None:
            self.conf.closing = True
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.flush(timeout=5), 6)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), 5)
