"""The MQTT source: subscribes to the stream's DATASOURCE topic(s) and emits each payload.

Properties (`{root}/etc/mqtt_source.yaml`, the `default` section overridden by the CONF_KEY
section): server (tcp://127.0.0.1:1883; ssl://… for TLS), username, password, clientid,
protocolVersion 3.1 | 3.1.1 | 5, qos (default 1), certificationPath, privateKeyPath,
rootCaPath, insecureSkipVerify, connectionSelector (`mqtt.name` in
etc/connections/connection.yaml), bufferLength (messages read ahead of the rule, default
102400), decompression gzip | zlib | flate | zstd. kubeedgeVersion/kubeedgeModelFile are
ignored.

DATASOURCE is a topic filter (wildcards `+`/`#`, MQTT v5 shared subscriptions
`$share/group/topic`); several comma-separated filters are allowed. Each message's meta holds
`topic`, `qos`, `messageId` and, with MQTT v5, `properties` (the user properties, as in eKuiper). Messages are read on the event
loop (see kuiper.io.mqtt_client), the messages of one socket read handed to the runtime
with one `ctx.emit_payloads` (meta as columns); the runtime decodes everything that arrived
since its last hand-off in one go.

Persistent session (`cleanSession: false`, with a fixed `clientid`): the broker keeps the
subscription and the unacknowledged QoS 1/2 messages while the rule (or the whole process) is
down. In a rule with qos >= 1 the source then acknowledges a message only once a checkpoint
covering it is saved (`checkpointed`, `get_offset`, `commit`): after a crash the broker
redelivers what the restored checkpoint has not seen, so nothing is lost (at least once). The
broker's in-flight window (Mosquitto's max_inflight_messages, 20 by default) bounds how many
messages may wait for a checkpoint: keep checkpointInterval short for a busy topic.

Back-pressure: while the rule is busy the source stops reading the socket. With the rule
option qos >= 1, QoS 1/2 messages are also acknowledged (PUBACK) only after the rule has
taken them into its first queue (paho's manual acks), so the broker's in-flight window
holds the rest (see docs/limits.md); with a persistent session the checkpoint acknowledges.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt

from kuiper.api import Context, Source
from kuiper.api.batch import BIGINT, STRING, Column
from kuiper.errors import ConfigError
from kuiper.io.mqtt_client import IGNORED_PROPS, MqttConnection, MqttSettings, parse_qos
from kuiper.runtime.registry import register_source

log = logging.getLogger(__name__)

DEFAULT_BUFFER_LENGTH = 102400
CHECK_EVERY = 1024  # messages between two looks at the rule's back-pressure


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def decompressor(name: str) -> Callable[[bytes], bytes] | None:
    """The function that inflates a payload for the `decompression` property."""
    name = (name or "").lower()
    if not name:
        return None
    if name == "gzip":
        return gzip.decompress
    if name == "zlib":
        return zlib.decompress
    if name == "flate":
        return lambda b: zlib.decompress(b, -zlib.MAX_WBITS)
    if name == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ConfigError("mqtt source: decompression zstd needs the zstandard package",
                              hint="pip install zstandard") from None
        return zstandard.ZstdDecompressor().decompress
    raise ConfigError(f"mqtt source: decompression '{name}' is not supported",
                      hint="use gzip, zlib, flate or zstd")


@register_source("mqtt")
class MqttSource(Source):
    """A push source on the event loop; `open` runs until the rule stops."""

    def __init__(self) -> None:
        self.topics: list[str] = []
        self.qos = 1
        self.conf: dict[str, Any] = {}
        self.check_every = CHECK_EVERY
        self.inflate: Callable[[bytes], bytes] | None = None
        self.conn: MqttConnection | None = None
        self._ctx: Context | None = None
        self._since_check = 0
        self._resuming: asyncio.Task[None] | None = None
        # rule qos >= 1 (set by the runtime): a QoS 1/2 message is acknowledged to the broker
        # only once the rule has taken it (`handed_off`); one entry per emit, in order:
        # (connection number, PUBACK bytes of a read | (mid, qos) for paho | None)
        self.manual_ack = False
        self._acks: deque[tuple[int, Any]] = deque()
        self.persistent = False  # cleanSession false
        self.defer_acks = False  # acknowledge at checkpoints (`checkpointed`)
        self._seq = 0  # messages received (the offset a checkpoint records)
        self._unacked: deque[tuple[int, int, int]] = deque()  # (seq, mid, qos) not acknowledged

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.topics = [t.strip() for t in (datasource or "").split(",") if t.strip()]
        if not self.topics:
            raise ConfigError("mqtt source needs a topic", hint='DATASOURCE="devices/+/data"')
        for topic in self.topics:
            if topic.startswith("$share/") and topic.count("/") < 2:
                raise ConfigError(f"mqtt source: shared subscription '{topic}' needs a group "
                                  "and a topic", hint='DATASOURCE="$share/group/devices/#"')
        self.qos = parse_qos(conf, 1, "mqtt source")
        buffer_length = conf.get("bufferLength", DEFAULT_BUFFER_LENGTH)
        if isinstance(buffer_length, bool) or not isinstance(buffer_length, int) or buffer_length < 1:
            raise ConfigError(f"mqtt source: bufferLength must be a positive integer, "
                              f"got {buffer_length!r}")
        self.check_every = min(buffer_length, CHECK_EVERY)
        self.inflate = decompressor(str(conf.get("decompression") or ""))
        for name in IGNORED_PROPS:
            if conf.get(name):
                log.info("mqtt source: '%s' is ignored", name)
        self.conf = dict(conf)
        settings = MqttSettings.parse(self.conf, ".", "mqtt source")  # fail early
        self.persistent = not settings.clean_session

    # --- checkpoints (rule qos >= 1) ---------------------------------------------------
    def checkpointed(self) -> bool:
        """The rule checkpoints: with a persistent session, acknowledge at checkpoints only
        (True: the broker then redelivers what a restored checkpoint did not cover)."""
        self.defer_acks = self.persistent and self.qos > 0
        return self.defer_acks

    def get_offset(self) -> int:
        return self._seq

    def commit(self, offset: Any) -> None:
        """Acknowledge the messages a saved checkpoint covers (received up to `offset`)."""
        conn, upto = self.conn, int(offset)
        while self._unacked and self._unacked[0][0] <= upto:
            _, mid, qos = self._unacked.popleft()
            if conn is not None:
                conn.ack(mid, qos)

    @property
    def _ack_on_handoff(self) -> bool:
        """Acknowledge when the rule takes a message (qos >= 1 without checkpoint acks)."""
        return self.manual_ack and not self.defer_acks

    async def open(self, ctx: Context) -> None:
        self._ctx = ctx
        settings = MqttSettings.parse(self.conf, ctx.get_root_path(), "mqtt source")
        self.conn = MqttConnection(
            settings, name=f"{ctx.get_rule_id()}/{ctx.get_op_id()}",
            on_message=self._on_message,
            on_publishes=None if self.defer_acks else self._on_publishes,
            on_error=ctx.emit_error, manual_ack=self.defer_acks,
        )
        if self._ack_on_handoff:
            self.conn.client.hold_acks = True
            self.conn.client.manual_ack_set(True)
        self.conn.subscribe(self.topics, self.qos)
        await self.conn.start()
        await asyncio.Event().wait()  # until the rule stops (the runtime cancels this task)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        """Runs on the event loop inside paho's loop_read."""
        ctx = self._ctx
        assert ctx is not None
        meta: dict[str, Any] = {"topic": msg.topic, "qos": msg.qos, "messageId": msg.mid}
        props = getattr(msg, "properties", None)
        if props is not None and getattr(props, "UserProperty", None):
            meta["properties"] = dict(props.UserProperty)  # eKuiper's meta key for v5 user properties
        payload = msg.payload
        ack = (msg.mid, msg.qos) if self._ack_on_handoff and msg.qos > 0 else None
        self._seq += 1
        if self.defer_acks and msg.qos > 0:
            self._unacked.append((self._seq, msg.mid, msg.qos))
        if self.inflate is not None:
            try:
                payload = self.inflate(payload)
            except Exception as exc:  # noqa: BLE001 - a corrupt message is counted, not fatal
                ctx.emit_error(f"mqtt source: cannot decompress a message on {msg.topic}: {exc}")
                self._send_acks([(self._connection(), ack)])
                return
        ctx.emit_bytes(payload, meta)
        if self._ack_on_handoff:
            self._acks.append((self._connection(), ack))
        self._since_check += 1
        self._check_room()

    def _on_publishes(self, topics: list[str], payloads: list[bytes], qos: list[int],
                      mids: list[int]) -> None:
        """The QoS 0/1 messages of one socket read (paho hands the others to `_on_message`)."""
        ctx = self._ctx
        assert ctx is not None and self.conn is not None
        acks = b""
        if self._ack_on_handoff:
            acks, self.conn.client.held_acks = self.conn.client.held_acks, b""
        if self.inflate is not None:
            topics, payloads, qos, mids = self._inflate_all(topics, payloads, qos, mids)
        self._seq += len(payloads)
        if not payloads:  # nothing for the rule (every message was corrupt)
            self._send_acks([(self._connection(), acks)])
            return
        ctx.emit_payloads(payloads, {
            "topic": Column(STRING, _objects(topics)),
            "qos": Column(BIGINT, np.array(qos, dtype=np.int64)),
            "messageId": Column(BIGINT, np.array(mids, dtype=np.int64)),
        })
        if self._ack_on_handoff:
            self._acks.append((self._connection(), acks))
        self._since_check += len(payloads)
        self._check_room()

    def _inflate_all(self, *columns: list[Any]) -> tuple[list[Any], ...]:
        """The messages whose payload decompresses, inflated; each failure is reported."""
        assert self._ctx is not None and self.inflate is not None
        kept: list[tuple[Any, ...]] = []
        for topic, payload, q, mid in zip(*columns, strict=True):
            try:
                kept.append((topic, self.inflate(payload), q, mid))
            except Exception as exc:  # noqa: BLE001 - a corrupt message is counted, not fatal
                self._ctx.emit_error(f"mqtt source: cannot decompress a message on {topic}: {exc}")
        return tuple(list(c) for c in zip(*kept, strict=True)) if kept else ([], [], [], [])

    # --- manual acknowledgement (rule qos >= 1) ------------------------------------------
    def _connection(self) -> int:
        return self.conn.connects if self.conn is not None else 0

    @property
    def pending_acks(self) -> int:
        """Emits whose messages the broker still waits to have acknowledged."""
        return len(self._acks)

    def handed_off(self, emits: int) -> None:
        """The runtime took the messages of the next `emits` emits: acknowledge them."""
        n = min(emits, len(self._acks))
        self._send_acks([self._acks.popleft() for _ in range(n)])

    def _send_acks(self, entries: list[tuple[int, Any]]) -> None:
        conn = self.conn
        if conn is None or not entries:
            return
        blob = bytearray()
        for connection, ack in entries:
            if connection != conn.connects or not ack:
                continue  # a message of a lost connection: the broker sends it again
            if isinstance(ack, tuple):
                conn.client.ack(*ack)
            else:
                blob += ack
        if blob:
            conn.client.wbuf += blob
        conn.flush()

    def _check_room(self) -> None:
        if self._since_check >= self.check_every and self._resuming is None:
            self._since_check = 0
            has_room = getattr(self._ctx, "has_room", None)
            if has_room is not None and has_room():
                return  # the rule takes more: read on, its next hand-off is a bigger batch
            assert self.conn is not None
            self.conn.pause_reading()
            self._resuming = asyncio.get_running_loop().create_task(self._resume_when_room())

    async def _resume_when_room(self) -> None:
        """Read on once the rule has room: while it is busy the broker holds the messages."""
        try:
            assert self._ctx is not None and self.conn is not None
            await self._ctx.drain()
            self.conn.resume_reading()
        finally:
            self._resuming = None

    async def close(self, ctx: Context) -> None:
        if self._resuming is not None:
            self._resuming.cancel()
        if self.conn is not None:
            await self.conn.close()
            self.conn = None
