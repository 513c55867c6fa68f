"""MQTT connections on the event loop: paho-mqtt 2.x driven by asyncio, no network thread.

paho's documented external-loop pattern: the socket is registered with the loop
(`add_reader`/`add_writer`) and the loop calls `loop_read`/`loop_write`, a timer calls
`loop_misc` (keepalive). Callbacks such as `on_message` therefore run on the event loop.
Only connecting (TCP connect + TLS handshake, which block) runs in a worker thread; a lost
connection is re-established with exponential back-off and the subscriptions are renewed.

The client is a `LoopClient` (kuiper.io.mqtt_loopclient): one `recv` of up to 64 KiB per
wake-up, the PUBLISH packets in it handed over as one batch (`on_publishes`), and everything
queued during a loop iteration sent in one `send`; QoS 0 publishes may bypass paho
(`publish_fast`). Sockets are TCP_NODELAY: writes are batched here, Nagle would only delay.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from kuiper.errors import ConfigError
from kuiper.io.config import load_yaml_sections
from kuiper.io.mqtt_loopclient import LoopClient, PublishesHandler, mqttwire

log = logging.getLogger(__name__)

DEFAULT_SERVER = "tcp://127.0.0.1:1883"
READ_ROUNDS = 512  # loop_read calls per wake-up before yielding to other tasks
WBUF_HIGH = 4 << 20  # bytes queued by publish_fast before the publisher waits …
WBUF_LOW = 1 << 20  # … until the socket took all but this
MIN_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
_TLS_SCHEMES = {"ssl", "tls", "mqtts", "tcps"}
_PLAIN_SCHEMES = {"tcp", "mqtt", ""}
_VERSIONS = {"3.1": mqtt.MQTTv31, "3": mqtt.MQTTv31, "3.1.1": mqtt.MQTTv311, "4": mqtt.MQTTv311,
             "5": mqtt.MQTTv5, "5.0": mqtt.MQTTv5}
IGNORED_PROPS = ("kubeedgeVersion", "kubeedgeModelFile")


def _resolve_path(root: str, path: str) -> str:
    """A certificate path: absolute, or relative to the kuiper root (else to the cwd)."""
    if not path or os.path.isabs(path):
        return path
    under_root = os.path.join(root, path)
    return under_root if os.path.exists(under_root) else path


def _bool(conf: dict[str, Any], name: str, what: str) -> bool:
    v = conf.get(name, False)
    if isinstance(v, str) and v.lower() in ("true", "false"):
        return v.lower() == "true"
    if not isinstance(v, bool):
        raise ConfigError(f"{what}: '{name}' must be true or false, got {v!r}")
    return v


def parse_qos(conf: dict[str, Any], default: int, what: str) -> int:
    qos = conf.get("qos", default)
    try:
        qos = int(qos)
    except (TypeError, ValueError):
        qos = -1
    if qos not in (0, 1, 2):
        raise ConfigError(f"{what}: qos must be 0, 1 or 2, got {conf.get('qos')!r}")
    return qos


def selected_connection(root: str, selector: str, what: str) -> dict[str, Any]:
    """The properties of `connectionSelector: mqtt.name` in {root}/etc/connections/connection.yaml."""
    kind, _, name = selector.partition(".")
    path = os.path.join(root, "etc", "connections", "connection.yaml")
    section = load_yaml_sections(path).get(kind, {})
    props = section.get(name)
    if kind.lower() != "mqtt" or not isinstance(props, dict):
        raise ConfigError(f"{what}: connectionSelector '{selector}' is not defined",
                          hint=f"add it under 'mqtt: {name or 'name'}:' in {path}")
    return dict(props)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """Connection properties of an MQTT source or sink (eKuiper's names, see `parse`)."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str = ""
    password: str = ""
    client_id: str = ""
    protocol: int = mqtt.MQTTv311
    cert_path: str = ""
    key_path: str = ""
    root_ca_path: str = ""
    insecure_skip_verify: bool = False
    keepalive: int = 60
    server: str = DEFAULT_SERVER
    clean_session: bool = True  # False: a persistent session (clean start off), see the source

    @classmethod
    def parse(cls, conf: dict[str, Any], root: str, what: str) -> MqttSettings:
        """server, username, password, clientid/clientId, protocolVersion (3.1, 3.1.1, 5),
        certificationPath, privateKeyPath, rootCaPath, insecureSkipVerify, connectionSelector."""
        selector = conf.get("connectionSelector")
        if selector:
            conf = {**conf, **selected_connection(root, str(selector), what)}
        server = str(conf.get("server") or DEFAULT_SERVER)
        parts = urlsplit(server if "://" in server else "tcp://" + server)
        scheme = parts.scheme.lower()
        if scheme not in _TLS_SCHEMES | _PLAIN_SCHEMES:
            raise ConfigError(f"{what}: server scheme '{scheme}' is not supported",
                              hint="use tcp://host:1883 or ssl://host:8883")
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"{what}: bad server address '{server}': {exc}") from None
        cert = _resolve_path(root, str(conf.get("certificationPath") or ""))
        key = _resolve_path(root, str(conf.get("privateKeyPath") or ""))
        ca = _resolve_path(root, str(conf.get("rootCaPath") or ""))
        tls = scheme in _TLS_SCHEMES or bool(cert or ca)
        version = str(conf.get("protocolVersion") or "3.1.1").strip()
        if version not in _VERSIONS:
            raise ConfigError(f"{what}: protocolVersion '{version}' is not supported",
                              hint="use 3.1, 3.1.1 or 5")
        clean = conf.get("cleanSession", True)
        if not isinstance(clean, bool):
            raise ConfigError(f"{what}: cleanSession must be true or false, got {clean!r}")
        client_id = str(conf.get("clientid") or conf.get("clientId") or "")
        if not clean and not client_id:
            raise ConfigError(f"{what}: a persistent session (cleanSession false) needs a fixed "
                              "clientid", hint="set clientid in the connection's properties")
        for path, name in ((cert, "certificationPath"), (key, "privateKeyPath"), (ca, "rootCaPath")):
            if path and not os.path.isfile(path):
                raise ConfigError(f"{what}: {name} {path} does not exist")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=str(conf.get("username") or ""),
            password=str(conf.get("password") or ""),
            client_id=client_id,
            protocol=_VERSIONS[version],
            cert_path=cert,
            key_path=key,
            root_ca_path=ca,
            insecure_skip_verify=_bool(conf, "insecureSkipVerify", what),
            server=server,
            clean_session=clean,
        )

    @property
    def v5(self) -> bool:
        return self.protocol == mqtt.MQTTv5

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.root_ca_path or None)
        if self.cert_path:
            ctx.load_cert_chain(self.cert_path, self.key_path or None)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx


MessageHandler = Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None]


class MqttConnection:
    """One paho client on the running loop: connect, stay connected, subscribe, publish."""

    def __init__(
        self,
        settings: MqttSettings,
        *,
        name: str,
        on_message: MessageHandler | None = None,
        on_publishes: PublishesHandler | None = None,
        on_error: Callable[[str], None] | None = None,
        max_inflight: int = 0,
        manual_ack: bool = False,
    ) -> None:
        self.settings = settings
        self.name = name
        self.loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self.on_error = on_error
        client_id = settings.client_id or f"kuiper-{uuid.uuid4().hex[:16]}"
        kwargs: dict[str, Any] = {"client_id": client_id, "protocol": settings.protocol,
                                  "manual_ack": manual_ack}
        if not settings.v5:
            kwargs["clean_session"] = settings.clean_session
        client = LoopClient(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        if settings.username:
            client.username_pw_set(settings.username, settings.password or None)
        if settings.tls:
            client.tls_set_context(settings.ssl_context())
            if settings.insecure_skip_verify:
                client.tls_insecure_set(True)
        if max_inflight:
            client.max_inflight_messages_set(max_inflight)
        client.max_queued_messages_set(0)
        client.suppress_exceptions = True
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        client.on_socket_register_write = self._on_register_write
        client.on_socket_unregister_write = self._on_unregister_write
        if on_message is not None:
            client.on_message = on_message
        if on_publishes is not None:
            client.read_publishes(on_publishes, settings.v5)
        self.client = client
        self.connected = asyncio.Event()
        self.subscriptions: list[tuple[str, int]] = []
        self._sock: Any = None
        self._reading = False
        self._paused = False
        self._paho_write = False
        self._writer_on = False
        self._closing = False
        self._connector: asyncio.Task[None] | None = None
        self._misc: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        self._lost = asyncio.Event()
        self._read_again: asyncio.Handle | None = None
        self._flush_soon = False
        self._drained = asyncio.Event()
        self.connects = 0
        self.receive_maximum: int | None = None  # MQTT v5 CONNACK: how many QoS>0 may be in flight

    # --- lifecycle --------------------------------------------------------------------
    async def start(self, wait: float | None = None) -> bool:
        """Begin connecting (and keep the connection up); optionally wait up to `wait` seconds
        for the first attempt. True when connected."""
        extra: dict[str, Any] = {}
        if self.settings.v5:
            extra["clean_start"] = self.settings.clean_session
            if not self.settings.clean_session:  # the broker keeps the session (no expiry)
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 0xFFFFFFFF
                extra["properties"] = props
        self.client.connect_async(self.settings.host, self.settings.port, self.settings.keepalive,
                                  **extra)
        self._connector = asyncio.create_task(self._connect_loop(), name=f"mqtt-{self.name}")
        self._misc = asyncio.create_task(self._misc_loop(), name=f"mqtt-misc-{self.name}")
        if wait:
            try:
                await asyncio.wait_for(self._attempted.wait(), wait)
            except TimeoutError:
                pass
        return self.connected.is_set()

    async def close(self) -> None:
        self._closing = True
        for task in (self._connector, self._misc):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(*(t for t in (self._connector, self._misc) if t), return_exceptions=True)
        if self._sock is not None:
            try:
                self.client.disconnect()
                self.client.loop_write()
                self.client.flush()
            except Exception as exc:  # noqa: BLE001 - best effort on the way out
                log.debug("mqtt %s: disconnect failed: %s", self.name, exc)
        if self._sock is not None:  # the broker may not have closed it yet
            self._detach(self._sock)
            self.client._sock_close()  # noqa: SLF001 - paho has no public close for a dead link
        self.connected.clear()

    async def _connect_loop(self) -> None:
        """Connect now; after a loss, reconnect with exponential back-off until closed."""
        backoff = MIN_BACKOFF_S
        while not self._closing:
            if self._sock is None and not self.connected.is_set():
                try:
                    await asyncio.to_thread(self.client.reconnect)
                    self._attach(self.client.socket())
                    backoff = MIN_BACKOFF_S
                except Exception as exc:  # noqa: BLE001 - refused, unreachable, TLS failure
                    text = f"mqtt {self.name}: cannot connect to {self.settings.server}: {exc}"
                    log.warning("%s; retrying in %.1fs", text, backoff)
                    if self.on_error is not None:
                        self.on_error(text)
                    self._attempted.set()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
            await self._lost.wait()
            self._lost.clear()
            if not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _misc_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._sock is not None:
                self.client.loop_misc()

    # --- paho callbacks (on the loop) -------------------------------------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if reason.is_failure:
            text = f"mqtt {self.name}: {self.settings.server} refused the connection: {reason}"
            log.error(text)
            if self.on_error is not None:
                self.on_error(text)
            return
        self.connects += 1
        limit = getattr(properties, "ReceiveMaximum", None) if self.settings.v5 else None
        self.receive_maximum = int(limit) if limit else None
        if self.connects > 1:
            log.info("mqtt %s: reconnected to %s", self.name, self.settings.server)
        self.connected.set()
        self._attempted.set()
        self._subscribe(self.subscriptions)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if self._closing:
            return
        if was:
            text = f"mqtt {self.name}: lost the connection to {self.settings.server}: {reason}"
            log.warning(text)
            if self.on_error is not None:
                self.on_error(text)
        self._lost.set()

    def _on_socket_open(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self.client.reset_buffers()  # called in the connecting thread; attached after it
        try:  # writes are batched per loop iteration already: Nagle would only delay them
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError) as exc:
            log.debug("mqtt %s: no TCP_NODELAY: %s", self.name, exc)

    def _on_socket_close(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        if self.client.wbuf:  # e.g. DISCONNECT after the last publishes: send before closing
            try:
                sock.settimeout(1.0)
                sock.sendall(self.client.wbuf)
            except OSError as exc:
                log.debug("mqtt %s: could not send before closing: %s", self.name, exc)
            self.client.wbuf.clear()
        if threading.get_ident() == self._loop_thread:
            self._detach(sock)

    def _on_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._paho_write = True
        if threading.get_ident() == self._loop_thread:
            self._update_writer()

    def _on_unregister_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        self._paho_write = False
        if threading.get_ident() == self._loop_thread:
            self._update_writer()

    # --- the socket on the loop ---------------------------------------------------------
    def _attach(self, sock: Any) -> None:
        if sock is None:
            return
        self._sock = sock
        if not self._paused:
            self.loop.add_reader(sock, self._on_readable)
            self._reading = True
        self._update_writer()

    def _detach(self, sock: Any) -> None:
        if self._sock is None or sock is not self._sock:
            return
        if self._reading:
            self.loop.remove_reader(sock)
            self._reading = False
        if self._writer_on:
            self.loop.remove_writer(sock)
            self._writer_on = False
        if self._read_again is not None:
            self._read_again.cancel()
            self._read_again = None
        self._sock = None
        self.client.reset_buffers()
        self._drained.set()
        self._lost.set()

    def _on_readable(self) -> None:
        self._read_again = None
        client = self.client
        for _ in range(READ_ROUNDS):
            if self._paused or client.read_packets() != mqtt.MQTT_ERR_SUCCESS or self._sock is None:
                break
            if (not client.buffered_input() and getattr(client, "socket_drained", True)
                    and not _ssl_pending(self._sock)):
                break  # read until the socket is empty: one hand-off takes all that came
        else:  # more is buffered: continue after other tasks had a turn
            self._read_again = self.loop.call_soon(self._on_readable)
        self.flush()

    def _on_writable(self) -> None:
        if self._sock is not None:
            self.client.loop_write()
        self.flush()

    def flush(self) -> None:
        """Send what paho queued (acks, publishes) now instead of at the next writable event."""
        client = self.client
        if client.want_write() and self._sock is not None:
            client.loop_write()
        client.flush()
        if len(client.wbuf) <= WBUF_LOW:
            self._drained.set()
        self._update_writer()

    def _update_writer(self) -> None:
        sock = self._sock
        want = sock is not None and (self._paho_write or bool(self.client.wbuf))
        if want and not self._writer_on:
            self.loop.add_writer(sock, self._on_writable)
            self._writer_on = True
        elif not want and self._writer_on and sock is not None:
            self.loop.remove_writer(sock)
            self._writer_on = False

    def pause_reading(self) -> None:
        """Stop reading the socket: TCP back-pressure makes the broker queue (or drop)."""
        self._paused = True
        if self._reading and self._sock is not None:
            self.loop.remove_reader(self._sock)
            self._reading = False

    def resume_reading(self) -> None:
        self._paused = False
        if not self._reading and self._sock is not None:
            self.loop.add_reader(self._sock, self._on_readable)
            self._reading = True
            if self.client.buffered_input() and self._read_again is None:
                self._read_again = self.loop.call_soon(self._on_readable)

    # --- subscribe / publish -------------------------------------------------------------
    def subscribe(self, topics: Iterable[str], qos: int) -> None:
        """Subscribe now if connected, and again after every reconnect."""
        new = [(t, qos) for t in topics]
        self.subscriptions += new
        if self.connected.is_set():
            self._subscribe(new)

    def _subscribe(self, subs: list[tuple[str, int]]) -> None:
        if not subs:
            return
        if self.settings.v5:
            result, _ = self.client.subscribe([(t, SubscribeOptions(qos=q)) for t, q in subs])
        else:
            result, _ = self.client.subscribe(subs)
        if result != mqtt.MQTT_ERR_SUCCESS:
            log.error("mqtt %s: subscribe %s failed: %s", self.name, subs, mqtt.error_string(result))
        self.flush()

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a received message (`manual_ack`); sent at once."""
        self.client.ack(mid, qos)
        if self._sock is not None:
            self.flush()

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool = False,
                properties: Any = None) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos, retain, properties)

    @property
    def fast_publish(self) -> bool:
        """Whether `publish_fast` is available (the compiled packet writer is built)."""
        return mqttwire is not None

    def publish_fast(self, first_byte: int, topic_block: bytes, payload: bytes) -> bool:
        """Queue a QoS 0 PUBLISH (see `publish_block`) without paho; everything queued in
        one loop iteration goes out in one `send`. False when more than WBUF_HIGH bytes wait:
        the caller should `await wait_drained()`."""
        wbuf = self.client.wbuf
        mqttwire.append_publish(wbuf, first_byte, topic_block, payload)
        if not self._flush_soon:
            self._flush_soon = True
            self.loop.call_soon(self._flush_queued)
        return len(wbuf) <= WBUF_HIGH

    async def wait_drained(self) -> None:
        """Until at most WBUF_LOW bytes wait to be sent (or the connection is gone)."""
        while len(self.client.wbuf) > WBUF_LOW and self._sock is not None:
            self._drained.clear()
            await self._drained.wait()

    def _flush_queued(self) -> None:
        self._flush_soon = False
        if self._sock is not None:
            self.flush()


def _ssl_pending(sock: Any) -> bool:
    pending = getattr(sock, "pending", None)
    return bool(pending and pending())
