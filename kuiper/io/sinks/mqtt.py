"""The MQTT sink: publishes each encoded result message to a topic.

Properties: server, topic (required; may be a template resolved per message,
`"topic": "out/{{.deviceId}}"`), qos (default 0), retained, clientId, protocolVersion,
username, password, certificationPath, privateKeyPath, rootCaPath, insecureSkipVerify,
connectionSelector, compression zlib | gzip | flate | zstd, properties (MQTT v5:
contentType, responseTopic, correlationData, messageExpiryInterval, userProperties; string
values may be templates), maxInflight (QoS >= 1 messages not yet acknowledged: default 1000
at QoS 1, 20 at QoS 2).

QoS >= 1: at most `maxInflight` publishes wait for their acknowledgement (fewer when an MQTT v5
broker announces a smaller Receive Maximum); `collect` awaits when the window is full.
Mosquitto silently drops incoming QoS 2 messages beyond its `max_inflight_messages` (20 by
default) for MQTT 3.1.1 clients, hence the small QoS 2 default. Without the bound paho's 16-bit message ids wrap after 65,535
unacknowledged messages and later publishes are refused. While the broker is away, QoS >= 1
messages wait in the window and are sent again on reconnect; QoS 0 messages fail with an
"io error" (counted in the sink's metrics).

QoS 0 messages without v5 properties are written as PUBLISH packets straight into the
connection's output buffer (`MqttConnection.publish_fast`), one `send` per loop iteration;
`collect` awaits while more than a few MiB wait for the socket.
"""
from __future__ import annotations

import asyncio
import gzip
import logging
import re
import zlib
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from kuiper.api import Context, Sink
from kuiper.errors import ConfigError, ConnectorError
from kuiper.io.formats.encode import go_value
from kuiper.io.mqtt_client import MqttConnection, MqttSettings, parse_qos
from kuiper.io.mqtt_loopclient import publish_block
from kuiper.runtime.registry import get_encoder, register_sink

log = logging.getLogger(__name__)

DEFAULT_MAX_INFLIGHT = 1000
QOS2_MAX_INFLIGHT = 20
MAX_MESSAGE_IDS = 65535
CONNECT_WAIT_S = 5.0
CLOSE_WAIT_S = 5.0
_FIELD = re.compile(r"\{\{\s*\.([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*)\s*\}\}")
_V5_PROPS = {"contentType": "ContentType", "responseTopic": "ResponseTopic",
             "correlationData": "CorrelationData", "messageExpiryInterval": "MessageExpiryInterval"}


class FieldTemplate:
    """The `{{.field}}` / `{{.a.b}}` subset of Go templates, resolved against one row."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.dynamic = "{{" in text
        if self.dynamic and _FIELD.sub("", text).count("{{"):
            raise ConfigError(f"mqtt sink: template '{text}' is not supported here",
                              hint="dynamic properties take {{.field}} or {{.a.b}}")

    def render(self, data: Any) -> str:
        if not self.dynamic:
            return self.text
        row = data[0] if isinstance(data, list) and data else data
        return _FIELD.sub(lambda m: _text(_get(row, m.group(1))), self.text)


def _get(row: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(row, dict):
            return None
        row = row.get(key)
    return row


def _text(value: Any) -> str:
    if value is None:
        return "<no value>"  # what Go's text/template prints for a missing key
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compressor(name: str) -> Callable[[bytes], bytes] | None:
    name = (name or "").lower()
    if not name:
        return None
    if name == "gzip":
        return gzip.compress
    if name == "zlib":
        return zlib.compress
    if name == "flate":
        def flate(data: bytes) -> bytes:
            c = zlib.compressobj(wbits=-zlib.MAX_WBITS)
            return c.compress(data) + c.flush()
        return flate
    if name == "zstd":
        try:
            import zstandard
        except ImportError:
            raise ConfigError("mqtt sink: compression zstd needs the zstandard package") from None
        return zstandard.ZstdCompressor().compress
    raise ConfigError(f"mqtt sink: compression '{name}' is not supported",
                      hint="use zlib, gzip, flate or zstd")


@register_sink("mqtt")
class MqttSink(Sink):
    """Publishes the payloads the runtime encodes (rows instead when a property is templated)."""

    accepts_bytes = True

    def __init__(self) -> None:
        self.conf: dict[str, Any] = {}
        self.topic = FieldTemplate("")
        self.qos = 0
        self.retained = False
        self.max_inflight = DEFAULT_MAX_INFLIGHT
        self.compress: Callable[[bytes], bytes] | None = None
        self.v5_props: dict[str, Any] = {}
        self.user_props: dict[str, FieldTemplate] = {}
        self.encoder: Any = None
        self.conn: MqttConnection | None = None
        self.unacked = 0
        self.published = 0
        self._room: asyncio.Event | None = None
        self._fast = False  # QoS 0 without properties: publish_fast
        self._first_byte = 0x30
        self._blocks: dict[str, bytes] = {}  # topic -> its PUBLISH topic block

    def configure(self, conf: dict[str, Any]) -> None:
        topic = conf.get("topic")
        if not topic or not isinstance(topic, str):
            raise ConfigError("mqtt sink needs a 'topic'", hint='{"mqtt": {"topic": "out/result"}}')
        self.topic = FieldTemplate(topic)
        if not self.topic.dynamic and ("+" in topic or "#" in topic):
            raise ConfigError(f"mqtt sink: topic '{topic}' must not hold wildcards")
        self.qos = parse_qos(conf, 0, "mqtt sink")
        retained = conf.get("retained", False)
        if not isinstance(retained, bool):
            raise ConfigError("mqtt sink: 'retained' must be true or false")
        self.retained = retained
        inflight = conf.get("maxInflight",
                            QOS2_MAX_INFLIGHT if self.qos == 2 else DEFAULT_MAX_INFLIGHT)
        if isinstance(inflight, bool) or not isinstance(inflight, int) or not (
                1 <= inflight < MAX_MESSAGE_IDS):
            raise ConfigError(f"mqtt sink: maxInflight must be 1..{MAX_MESSAGE_IDS - 1}, "
                              f"got {inflight!r}")
        self.max_inflight = inflight
        self.compress = compressor(str(conf.get("compression") or ""))
        self._parse_v5(conf.get("properties") or {})
        self.conf = dict(conf)
        settings = MqttSettings.parse(self.conf, ".", "mqtt sink")
        if (self.v5_props or self.user_props) and not settings.v5:
            raise ConfigError("mqtt sink: 'properties' need protocolVersion 5")
        dynamic = self.topic.dynamic or any(t.dynamic for t in self.user_props.values()) or any(
            isinstance(t, FieldTemplate) and t.dynamic for t in self.v5_props.values())
        if dynamic:  # the row is needed per message: encode here instead of in the runtime
            self.accepts_bytes = False
            self.encoder = get_encoder(str(conf.get("format") or "json"))(conf)

    def _parse_v5(self, props: Any) -> None:
        if not isinstance(props, dict):
            raise ConfigError("mqtt sink: 'properties' must be an object")
        for key, value in props.items():
            if key == "userProperties":
                if not isinstance(value, dict):
                    raise ConfigError("mqtt sink: properties.userProperties must be an object")
                self.user_props = {str(k): FieldTemplate(str(v)) for k, v in value.items()}
            elif key in _V5_PROPS:
                self.v5_props[key] = FieldTemplate(value) if isinstance(value, str) else value
            else:
                raise ConfigError(f"mqtt sink: unknown MQTT v5 property '{key}'",
                                  hint="known: " + ", ".join([*_V5_PROPS, "userProperties"]))

    async def open(self, ctx: Context) -> None:
        settings = MqttSettings.parse(self.conf, ctx.get_root_path(), "mqtt sink")
        bind = getattr(self.encoder, "bind_root", None)
        if bind is not None:
            bind(ctx.get_root_path())
        self._room = asyncio.Event()
        self.conn = MqttConnection(
            settings, name=f"{ctx.get_rule_id()}/{ctx.get_op_id()}", max_inflight=self.max_inflight,
        )
        self.conn.client.on_publish = self._on_publish
        self._fast = (not self.qos and not (self.v5_props or self.user_props)
                      and self.conn.fast_publish)
        self._first_byte = 0x31 if self.retained else 0x30
        await self.conn.start(wait=CONNECT_WAIT_S)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        if self.qos:
            self.unacked -= 1
            if self.unacked < self.window and self._room is not None:
                self._room.set()

    @property
    def window(self) -> int:
        """Publishes that may await their acknowledgement: maxInflight, or the broker's
        Receive Maximum (MQTT v5) when smaller."""
        limit = self.conn.receive_maximum if self.conn is not None else None
        return min(self.max_inflight, limit) if limit else self.max_inflight

    def _properties(self, data: Any) -> Properties | None:
        if not (self.v5_props or self.user_props):
            return None
        props = Properties(PacketTypes.PUBLISH)
        for key, value in self.v5_props.items():
            v = value.render(data) if isinstance(value, FieldTemplate) else value
            if key == "correlationData" and isinstance(v, str):
                v = v.encode()
            setattr(props, _V5_PROPS[key], v)
        if self.user_props:
            props.UserProperty = [(k, t.render(data)) for k, t in self.user_props.items()]
        return props

    def collect(self, ctx: Context, data: Any) -> Any:
        """Publish one message; returns an awaitable only while the QoS window is full."""
        if self.accepts_bytes:
            topic, payload = self.topic.text, data
        else:
            topic = self.topic.render(data)
            payload = self.encoder.encode(go_value(data))
        if self.compress is not None:
            payload = self.compress(payload)
        if self._fast:
            return self._publish_fast(topic, payload)
        props = self._properties(data)
        if self.qos and self.unacked >= self.window:
            return self._publish_when_room(topic, payload, props)
        self._publish(topic, payload, props)
        return None

    async def _publish_when_room(self, topic: str, payload: bytes, props: Any) -> None:
        assert self._room is not None
        while self.unacked >= self.window:
            self._room.clear()
            await self._room.wait()
        self._publish(topic, payload, props)

    def _publish_fast(self, topic: str, payload: bytes) -> Any:
        conn = self.conn
        if conn is None:
            raise ConnectorError("io error: mqtt sink is not open")
        if not conn.connected.is_set():
            raise ConnectorError(f"io error: not connected to {conn.settings.server}")
        block = self._blocks.get(topic)
        if block is None:
            if len(self._blocks) >= 1024:  # templated topics: keep the cache small
                self._blocks.clear()
            block = self._blocks[topic] = publish_block(topic, conn.settings.v5)  # ValueError
        self.published += 1
        if conn.publish_fast(self._first_byte, block, bytes(payload)):
            return None
        return conn.wait_drained()

    def _publish(self, topic: str, payload: bytes, props: Any) -> None:
        conn = self.conn
        if conn is None:
            raise ConnectorError("io error: mqtt sink is not open")
        if not self.qos and not conn.connected.is_set():
            raise ConnectorError(f"io error: not connected to {conn.settings.server}")
        info = conn.publish(topic, payload, self.qos, self.retained, props)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN) or (
                not self.qos and info.rc != mqtt.MQTT_ERR_SUCCESS):
            raise ConnectorError(f"io error: publish to {topic} failed: "
                                 f"{mqtt.error_string(info.rc)}")
        self.published += 1
        if self.qos:
            self.unacked += 1

    async def close(self, ctx: Context) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if self.qos and self.unacked > 0 and conn.connected.is_set():
            deadline = asyncio.get_running_loop().time() + CLOSE_WAIT_S
            assert self._room is not None
            while self.unacked > 0 and asyncio.get_running_loop().time() < deadline:
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), 0.05)
                except TimeoutError:
                    pass
            if self.unacked:
                log.warning("mqtt sink: closing with %d unacknowledged messages", self.unacked)
        await conn.close()
