"""The nats source: messages of a NATS subject (wildcards allowed), core NATS or JetStream.

Properties (etc/sources/nats.yaml, section by CONF_KEY): server or servers (default
`nats://127.0.0.1:4222`), username, password, token, queue (a queue group: processes that
share it split the messages), reconnectInterval (ms, default 2000), connectTimeout (ms),
jetstream (false), stream (the JetStream stream; created for the subject when absent and
createStream is true), durable (the durable consumer name, so a restarted rule resumes after
the last acknowledged message), deliverPolicy all | new | last (a new consumer's start).
DATASOURCE is the subject; the message subject is `meta(subject)`.

Messages are read on the event loop (nats-py callbacks) and handed to the engine as payloads
decoded in bulk with the stream's FORMAT. With JetStream a message is acknowledged once the
rule has taken it (at least once: a crash before that redelivers it). The client reconnects
forever and resubscribes by itself; a server that is down at start is retried.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kuiper.api import Context, Source
from kuiper.errors import ConfigError, ConnectorError
from kuiper.runtime.registry import register_source

log = logging.getLogger(__name__)

DEFAULT_SERVER = "nats://127.0.0.1:4222"


def server_list(conf: dict[str, Any]) -> list[str]:
    servers = conf.get("servers") or conf.get("server") or DEFAULT_SERVER
    if isinstance(servers, str):
        servers = [s.strip() for s in servers.split(",") if s.strip()]
    if not isinstance(servers, list) or not servers:
        raise ConfigError("nats: 'server' must be a url like nats://127.0.0.1:4222")
    return [s if "://" in s else f"nats://{s}" for s in map(str, servers)]


def _ms(conf: dict[str, Any], name: str, default: int) -> float:
    value = conf.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"nats: '{name}' must be a positive number of ms, got {value!r}")
    return value / 1000


class NatsConfig:
    """Connection properties shared by the nats source and sink."""

    def __init__(self, conf: dict[str, Any], what: str) -> None:
        self.what = what
        self.servers = server_list(conf)
        self.username = str(conf.get("username") or conf.get("user") or "")
        self.password = str(conf.get("password") or "")
        self.token = str(conf.get("token") or "")
        self.reconnect_wait = _ms(conf, "reconnectInterval", 2000)
        self.connect_timeout = _ms(conf, "connectTimeout", 2000)
        self.jetstream = bool(conf.get("jetstream", False))
        self.stream = str(conf.get("stream") or "")
        self.create_stream = bool(conf.get("createStream", True))
        self.closing = False  # set by the owner before it closes: no 'disconnected' warning

    async def connect(self, logger: logging.Logger) -> Any:
        """A connected nats-py client that reconnects forever (ConnectorError if unreachable)."""
        try:
            import nats
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError("the nats connectors need the 'nats-py' package",
                              hint="pip install 'kuiper-engine[nats]'") from exc

        async def on_error(exc: Exception) -> None:
            logger.debug("%s: %s", self.what, exc)

        async def on_disconnect() -> None:
            if self.closing:
                return
            logger.warning("%s: disconnected from %s, reconnecting", self.what, self.servers)

        async def on_reconnect() -> None:
            logger.info("%s: reconnected", self.what)

        kwargs: dict[str, Any] = {
            "servers": self.servers, "max_reconnect_attempts": -1,
            "reconnect_time_wait": self.reconnect_wait, "connect_timeout": self.connect_timeout,
            "error_cb": on_error, "disconnected_cb": on_disconnect, "reconnected_cb": on_reconnect,
        }
        if self.username:
            kwargs.update(user=self.username, password=self.password)
        if self.token:
            kwargs["token"] = self.token
        try:
            return await nats.connect(**kwargs)
        except Exception as exc:
            raise ConnectorError(f"io error: {self.what}: cannot connect to "
                                 f"{', '.join(self.servers)}: {exc}") from exc

    async def ensure_stream(self, js: Any, subject: str) -> None:
        """Create the JetStream stream for `subject` when it does not exist (createStream)."""
        if not self.stream or not self.create_stream:
            return
        from nats.js.errors import NotFoundError

        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(name=self.stream, subjects=[subject])


@register_source("nats")
class NatsSource(Source):
    """Subscribes on the event loop; JetStream messages are acked after the rule took them."""

    def __init__(self) -> None:
        self.subject = ""
        self.conf: NatsConfig | None = None
        self.queue = ""
        self.durable = ""
        self.deliver_policy = ""
        self._nc: Any = None
        self._stop: asyncio.Event | None = None

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.subject = (datasource or "").strip()
        if not self.subject:
            raise ConfigError("nats source needs a subject", hint='DATASOURCE="sensors.>"')
        self.conf = NatsConfig(conf, "nats source")
        self.queue = str(conf.get("queue") or "")
        self.durable = str(conf.get("durable") or "")
        self.deliver_policy = str(conf.get("deliverPolicy") or "").lower()
        if self.deliver_policy not in ("", "all", "new", "last"):
            raise ConfigError("nats source: deliverPolicy must be all, new or last")

    async def open(self, ctx: Context) -> None:
        assert self.conf is not None
        self._stop = asyncio.Event()
        logger = ctx.get_logger()
        reported = False
        while not self._stop.is_set():
            try:
                self._nc = await self.conf.connect(logger)
                break
            except ConnectorError as exc:
                if not reported:  # once: the same error every retry says nothing new
                    ctx.emit_error(exc)
                    reported = True
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.conf.reconnect_wait)
        if self._nc is None:
            return
        try:
            while not self._stop.is_set():
                try:
                    await self._subscribe(ctx)
                    break
                except Exception as exc:
                    # e.g. a durable consumer still bound to the previous run's subscription
                    ctx.emit_error(ConnectorError(f"nats source: cannot subscribe to "
                                                  f"{self.subject}: {exc}; retrying"))
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.conf.reconnect_wait)
            await self._stop.wait()
        finally:
            self.conf.closing = True
            await self._disconnect()

    async def _subscribe(self, ctx: Context) -> None:
        assert self.conf is not None
        emit = ctx.emit_bytes

        async def on_message(msg: Any) -> None:
            emit(msg.data, {"subject": msg.subject})
            await ctx.drain()

        if not self.conf.jetstream:
            await self._nc.subscribe(self.subject, queue=self.queue, cb=on_message)
            return
        js = self._nc.jetstream()
        await self.conf.ensure_stream(js, self.subject)

        async def on_js_message(msg: Any) -> None:
            emit(msg.data, {"subject": msg.subject})
            await ctx.drain()
            await msg.ack()

        kwargs: dict[str, Any] = {"durable": self.durable or None, "stream": self.conf.stream or None,
                                  "cb": on_js_message, "manual_ack": True}
        if self.queue:
            kwargs["queue"] = self.queue
        if self.deliver_policy:
            from nats.js.api import DeliverPolicy

            kwargs["deliver_policy"] = DeliverPolicy(self.deliver_policy)
        await js.subscribe(self.subject, **kwargs)

    async def _disconnect(self) -> None:
        nc, self._nc = self._nc, None
        if nc is not None and not nc.is_closed:
            # shielded: a cancelled rule must not leave a half-closed connection that still
            # receives (and drops) the subscription's messages
            closing = asyncio.ensure_future(nc.close())
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(closing), 5)

    async def close(self, ctx: Context) -> None:
        if self.conf is not None:
            self.conf.closing = True
        if self._stop is not None:
            self._stop.set()
        await self._disconnect()
