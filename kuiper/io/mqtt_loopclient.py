"""paho's Client with buffered socket IO, PUBLISH packets read and written a buffer at a time.

paho 2.x reads a packet with one `recv` per header byte and writes one `send` per packet.
`LoopClient` reads up to 64 KiB per `recv` and serves paho's small reads from that buffer;
what paho writes collects in `wbuf`, sent by the owner in one `send` per loop iteration.

With a batch handler (`on_publishes`) the PUBLISH packets of a read are parsed by the
compiled `kuiper._core.mqttwire` instead of one paho call and `MQTTMessage` each: QoS 0/1
messages (MQTT v5: without properties) go to the handler as lists and their PUBACKs are
queued at once (with `hold_acks`, handed to the handler in `held_acks` instead); every other packet (CONNACK, SUBACK, PINGRESP, QoS 2, v5 properties …) still
goes through paho, in stream order. `publish_block` + `mqttwire.append_publish` write QoS 0
PUBLISH packets without paho. After each read the socket is set to TCP_QUICKACK (see
`_recv_chunk`).
"""
from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

try:  # the compiled PUBLISH reader/writer; without it every packet goes through paho
    from kuiper._core import mqttwire
except ImportError:  # pragma: no cover - depends on the build
    mqttwire = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

READ_CHUNK = 1 << 16
_QUICKACK = getattr(socket, "TCP_QUICKACK", 0)  # Linux


PublishesHandler = Callable[[list[str], list[bytes], list[int], list[int]], None]


class LoopClient(mqtt.Client):
    """paho's Client with buffered socket IO (overrides paho 2.x's `_sock_recv`/`_sock_send`)
    and, with `on_publishes` set, PUBLISH packets parsed a whole read at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.socket_drained = True
        super().__init__(*args, **kwargs)
        self._rbuf = b""
        self._rpos = 0
        self._partial = False  # the buffer ends in an incomplete PUBLISH: read more first
        self.wbuf = bytearray()
        self.on_publishes: PublishesHandler | None = None
        self._reader: Any = None
        # manual acknowledgement: the PUBACKs of a read are kept in `held_acks` for the
        # handler (which sends them once the rule has taken the messages), not queued
        self.hold_acks = False
        self.held_acks = b""

    def read_publishes(self, handler: PublishesHandler, v5: bool) -> bool:
        """Hand QoS 0/1 PUBLISH packets to `handler` in lists; False without the kernel."""
        if mqttwire is None:
            return False
        self.on_publishes = handler
        self._reader = mqttwire.PublishReader(v5, READ_CHUNK)
        return True

    def reset_buffers(self) -> None:
        self._rbuf, self._rpos, self._partial = b"", 0, False
        self.wbuf.clear()

    def buffered_input(self) -> bool:
        return self._rpos < len(self._rbuf) and not self._partial

    def read_packets(self) -> mqtt.MQTTErrorCode:
        """One read step on the loop (in place of `loop_read`): the PUBLISH packets of a
        socket read in one batch; the first other packet to paho."""
        reader, handler = self._reader, self.on_publishes
        if reader is None or handler is None or self._in_packet["command"]:
            return self.loop_read()  # paho is inside a packet: it finishes it
        if self._partial or self._rpos >= len(self._rbuf):
            try:
                data = self._recv_chunk()
            except BlockingIOError:
                return mqtt.MQTT_ERR_SUCCESS
            except OSError:
                data = b""
            if not data:  # closed or failed: paho reads again, sees it and disconnects
                return self.loop_read()
            if self._partial:
                data = self._rbuf[self._rpos:] + data
            self._rbuf, self._rpos, self._partial = data, 0, False
            self._last_bytes_received = mqtt.time_func()
        pos, status, topics, payloads, qos, mids, acks = reader.read(self._rbuf, self._rpos)
        if pos >= len(self._rbuf):
            self._rbuf, self._rpos = b"", 0
        else:
            self._rpos, self._partial = pos, status == mqttwire.PARTIAL
        if self.hold_acks:
            self.held_acks = acks or b""
        elif acks:
            self.wbuf += acks
        if topics:
            try:
                handler(topics, payloads, qos, mids)
            except Exception:  # as paho's suppress_exceptions: logged, the connection goes on
                log.exception("mqtt: the message handler failed")
        if status == mqttwire.OTHER:
            rc = self._packet_read()
            if rc > 0:
                return self._loop_rc_handle(rc)
        return mqtt.MQTT_ERR_SUCCESS

    def _sock_recv(self, bufsize: int) -> bytes:
        buf, pos = self._rbuf, self._rpos
        if pos < len(buf):
            end = pos + bufsize
            if end >= len(buf):
                self._rbuf, self._rpos, self._partial = b"", 0, False
                return buf[pos:] if pos else buf
            self._rpos = end
            return buf[pos:end]
        data = self._recv_chunk()
        if len(data) <= bufsize:
            return data
        self._rbuf, self._rpos = data, bufsize
        return data[:bufsize]

    def _recv_chunk(self) -> bytes:
        self.socket_drained = True  # until a full chunk says more is likely waiting
        data = super()._sock_recv(READ_CHUNK)
        self.socket_drained = len(data) < READ_CHUNK
        if data and _QUICKACK:
            # ACK at once: a broker without TCP_NODELAY (Mosquitto's default) holds each small
            # packet until the previous one is acknowledged, and delayed ACKs take ~40 ms
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)  # type: ignore[union-attr]
            except (OSError, AttributeError):
                pass
        return data

    def _sock_send(self, buf: bytes | bytearray) -> int:
        if self._sock is None:
            raise ConnectionError("not connected")
        self.wbuf += buf
        return len(buf)

    def flush(self) -> bool:
        """Send the buffered output; True when all of it went out (False: wait for writable)."""
        sock = self._sock
        while self.wbuf:
            if sock is None:
                self.wbuf.clear()
                return True
            try:
                sent = sock.send(self.wbuf)
            except (BlockingIOError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
                return False
            except OSError as exc:  # the read side sees the broken connection and reconnects
                log.debug("mqtt send failed: %s", exc)
                self.wbuf.clear()
                return True
            del self.wbuf[:sent]
        return True


def publish_block(topic: str, v5: bool) -> bytes:
    """The part of a QoS 0 PUBLISH packet between the remaining length and the payload."""
    raw = topic.encode()
    if not raw or "+" in topic or "#" in topic or len(raw) > 0xFFFF:
        raise ValueError(f"cannot publish to topic '{topic[:80]}': empty, a wildcard "
                         "or longer than 65,535 bytes")
    return len(raw).to_bytes(2, "big") + raw + (b"\x00" if v5 else b"")
