"""TLS with a generated CA, broker restarts, and the two QoS traps (paho ids, broker queue)."""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from mqtt_helpers import Collector, Publisher, run_rule_until, wait_until, warm_up, write_root

from kuiper.api import Context, Sink
from kuiper.io.sinks.mqtt import MqttSink
from kuiper.runtime.context import NodeContext
from kuiper.runtime.loop import run
from kuiper.runtime.registry import register_sink

STREAM = ('CREATE STREAM demo (seq bigint) WITH (DATASOURCE="{topic}", FORMAT="json");')
GATE = threading.Event()
GATED: list[Any] = []


@register_sink("mqtt_test_gate")
class GateSink(Sink):
    """Holds every message until the test opens GATE: a rule that has fallen behind."""

    async def collect(self, ctx: Context, data: Any) -> None:
        while not GATE.is_set():
            await asyncio.sleep(0.005)
        GATED.append(data)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls_files(folder: Path) -> dict[str, str]:
    """A test CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("kuiper test CA")).issuer_name(_name("kuiper test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = {"ca": folder / "ca.pem", "cert": folder / "server.pem", "key": folder / "server.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))
    return {k: str(v) for k, v in files.items()}


def _seqs(col: Collector) -> list[int]:
    return [r["seq"] for r in col.rows() if r.get("seq", -1) >= 0]


def test_tls_source_and_sink_with_a_test_ca(tmp_path: Path, make_broker) -> None:
    tls = make_tls_files(tmp_path)
    broker = make_broker(tls=tls)
    client_ctx = ssl.create_default_context(cafile=tls["ca"])
    topic = f"kq/tls/{uuid.uuid4().hex[:8]}"
    paths = write_root(
        tmp_path, {"default": {"server": broker.url, "rootCaPath": tls["ca"]}},
        STREAM.format(topic=f"{topic}/in"),
        {"id": "r1", "sql": "SELECT seq FROM demo",
         "actions": [{"mqtt": {"server": broker.url, "topic": f"{topic}/out", "qos": 1,
                               "insecureSkipVerify": True, "sendSingle": True}}]})
    col = Collector(broker.port, [f"{topic}/out"], tls=client_ctx)
    pub = Publisher(broker.port, tls=client_ctx)

    def script() -> None:
        warm_up(pub, f"{topic}/in", lambda: bool(col.messages))
        pub.send(f"{topic}/in", [{"seq": i} for i in range(200)])
        wait_until(lambda: len(_seqs(col)) >= 200, 10, "results over TLS")

    status = run_rule_until(paths, tmp_path, script)["r1"]
    col.close()
    pub.close()
    assert _seqs(col) == list(range(200))
    assert status["source_demo_0_exceptions_total"] == 0


def test_tls_with_an_unknown_ca_is_reported(tmp_path: Path, make_broker) -> None:
    tls = make_tls_files(tmp_path)
    broker = make_broker(tls=tls)
    paths = write_root(
        tmp_path, {"default": {"server": broker.url}},  # the system CAs do not know the test CA
        STREAM.format(topic="kq/tls/x"),
        {"id": "r1", "sql": "SELECT seq FROM demo", "actions": [{"nop": {}}]})
    results: dict[str, Any] = {}

    def script() -> None:  # the failed handshake is counted as a source exception
        import time
        time.sleep(0.5)

    results = run_rule_until(paths, tmp_path, script)
    status = results["r1"]
    assert status["source_demo_0_exceptions_total"] >= 1
    assert "CERTIFICATE_VERIFY_FAILED" in status["source_demo_0_last_exception"]


def test_source_resumes_after_the_broker_restarts(tmp_path: Path, make_broker,
                                                  broker_port: int) -> None:
    broker = make_broker()
    topic = f"kq/fault/{uuid.uuid4().hex[:8]}"
    paths = write_root(
        tmp_path, {"default": {"server": broker.url, "qos": 1}},
        STREAM.format(topic=f"{topic}/in"),
        {"id": "r1", "sql": "SELECT seq FROM demo",
         "actions": [{"mqtt": {"server": f"tcp://127.0.0.1:{broker_port}", "topic": f"{topic}/out",
                               "qos": 1, "sendSingle": True}}]})
    col = Collector(broker_port, [f"{topic}/out"])

    def script() -> None:
        pub = Publisher(broker.port)
        warm_up(pub, f"{topic}/in", lambda: bool(col.messages))
        pub.send(f"{topic}/in", [{"seq": i} for i in range(100)])
        wait_until(lambda: len(_seqs(col)) >= 100, 10, "results before the restart")
        pub.close()
        broker.stop()
        broker.start()
        pub = Publisher(broker.port)
        warm_up(pub, f"{topic}/in", lambda: col.rows()[-1].get("seq") == -1)  # resubscribed
        pub.send(f"{topic}/in", [{"seq": i} for i in range(100, 200)])
        wait_until(lambda: len(_seqs(col)) >= 200, 15, "results after the restart")
        pub.close()

    status = run_rule_until(paths, tmp_path, script, timeout=60)["r1"]
    col.close()
    assert _seqs(col) == list(range(200))
    assert status["source_demo_0_exceptions_total"] >= 1  # the lost connection is counted
    assert "lost the connection" in status["source_demo_0_last_exception"] or \
        "cannot connect" in status["source_demo_0_last_exception"]


class NoAckBroker:
    """A fake broker that accepts a connection and PUBLISH packets but acknowledges none until
    `release()`: the state a QoS 1 publisher is in when its broker stalls."""

    def __init__(self) -> None:
        self.mids: list[int] = []
        self.release_acks = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held: list[int] = []
        try:
            while True:
                head = await reader.readexactly(1)
                length, mult = 0, 1
                while True:
                    b = (await reader.readexactly(1))[0]
                    length += (b & 127) * mult
                    mult *= 128
                    if not b & 128:
                        break
                body = await reader.readexactly(length)
                kind = head[0] >> 4
                if kind == 1:  # CONNECT -> CONNACK
                    writer.write(b"\x20\x02\x00\x00")
                elif kind == 3 and (head[0] >> 1) & 3:  # PUBLISH QoS >= 1
                    tlen = int.from_bytes(body[:2], "big")
                    mid = int.from_bytes(body[2 + tlen:4 + tlen], "big")
                    self.mids.append(mid)
                    held.append(mid)
                elif kind == 12:  # PINGREQ
                    writer.write(b"\xd0\x00")
                if self.release_acks.is_set() and held:
                    writer.write(b"".join(b"\x40\x02" + m.to_bytes(2, "big") for m in held))
                    held.clear()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


def test_qos1_inflight_window_is_bounded_past_65535_messages() -> None:
    """70,000 QoS 1 messages to a broker that stops acknowledging: the sink holds at most
    maxInflight of them and waits; once acks flow every message is delivered with no
    message id reused while unacknowledged (paho alone refuses publishes past 65,535)."""
    total, window = 70_000, 5000

    async def main() -> tuple[list[int], int, int]:
        fake = NoAckBroker()
        await fake.start()
        sink = MqttSink()
        sink.configure({"server": f"tcp://127.0.0.1:{fake.port}", "topic": "t", "qos": 1,
                        "maxInflight": window})
        ctx = NodeContext("r", "mqtt_0")
        await sink.open(ctx)
        max_unacked = 0

        async def produce() -> None:
            nonlocal max_unacked
            for i in range(total):
                r = sink.collect(ctx, b"%d" % i)
                if r is not None:
                    await r
                max_unacked = max(max_unacked, sink.unacked)

        producer = asyncio.create_task(produce())
        while len(fake.mids) < window:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        stalled_at = sink.published
        assert not producer.done()
        fake.release_acks.set()  # acks flow from the next packet on
        sink.conn.publish("t", b"kick", 0)  # the fake broker answers on its next packet
        await asyncio.wait_for(producer, 60)
        await sink.close(ctx)
        return fake.mids, max_unacked, stalled_at

    mids, max_unacked, stalled_at = run(main())
    assert stalled_at == window  # the producer waited for acknowledgements
    assert max_unacked <= window
    assert len(mids) >= total
    # no id was handed out twice while unacknowledged: each window of `window` ids is distinct
    for start in range(0, total - window, window):
        assert len(set(mids[start:start + window])) == window


def test_paho_alone_refuses_publishes_past_65535_unacknowledged() -> None:
    """The trap the window avoids: without a bound paho's 16-bit message ids collide."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(0)
    codes = {client.publish("t", b"x", 1).rc for _ in range(65_600)}
    assert mqtt.MQTT_ERR_QUEUE_SIZE in codes


@pytest.mark.parametrize(("queued", "lossy"), [(1000, True), (0, False)])
def test_broker_max_queued_messages_drops_for_a_lagging_rule(tmp_path: Path, make_broker,
                                                              queued: int, lossy: bool) -> None:
    """Mosquitto stated config: max_inflight_messages 20, max_queued_messages 1000 (its default)
    or 0 (unlimited). A rule that falls behind stops reading its socket; the broker then queues
    its QoS 1 messages, and with the default limit drops the overflow without telling anyone."""
    GATE.clear()
    GATED.clear()
    broker = make_broker([f"max_queued_messages {queued}", "max_inflight_messages 20"])
    topic = f"kq/trap/{uuid.uuid4().hex[:8]}"
    total = 20_000
    paths = write_root(
        tmp_path, {"default": {"server": broker.url, "qos": 1, "bufferLength": 100}},
        STREAM.format(topic=topic),
        {"id": "r1", "sql": "SELECT seq FROM demo",
         "actions": [{"mqtt_test_gate": {"sendSingle": True, "bufferLength": 10}}],
         "options": {"bufferLength": 10, "maxBatchSize": 100}})

    def script() -> None:
        pub = Publisher(broker.port, inflight=1000)
        GATE.set()
        warm_up(pub, topic, lambda: bool(GATED))
        GATE.clear()
        pub.send(topic, [{"seq": i} for i in range(total)])
        pub.close()
        GATE.set()
        seen = -1
        while True:  # until the rule is quiet: nothing more arrives within 0.5 s
            try:
                wait_until(lambda s=seen: len(GATED) > s, 0.5)
            except AssertionError:
                break
            seen = len(GATED)

    run_rule_until(paths, tmp_path, script, timeout=60)
    got = [m["seq"] for m in GATED if m.get("seq", -1) >= 0]
    assert len(set(got)) == len(got)  # never twice
    if lossy:
        assert len(got) < total, "expected the broker to drop messages past its queue limit"
    else:
        assert sorted(got) == list(range(total))


def test_sink_qos1_messages_wait_for_the_broker(make_broker) -> None:
    """Results published at QoS 1 while the sink's broker is away are sent again on reconnect
    and acknowledged by the broker (QoS 0 results fail with an io error instead)."""
    broker = make_broker()

    async def main() -> tuple[int, int, str]:
        sink = MqttSink()
        sink.configure({"server": broker.url, "topic": "kq/wait", "qos": 1})
        ctx = NodeContext("r", "mqtt_0")
        await sink.open(ctx)
        broker.stop()
        await asyncio.to_thread(wait_until, lambda: not sink.conn.connected.is_set(), 10)
        for i in range(50):
            r = sink.collect(ctx, orjson.dumps({"seq": i}))
            if r is not None:
                await r
        unacked_while_down = sink.unacked
        qos0 = MqttSink()
        qos0.configure({"server": broker.url, "topic": "kq/wait", "qos": 0})
        await qos0.open(ctx)
        try:
            qos0.collect(ctx, b"x")
            error = ""
        except Exception as exc:  # noqa: BLE001
            error = str(exc)
        broker.start()
        await asyncio.to_thread(wait_until, lambda: sink.unacked == 0, 15, "acks after restart")
        await sink.close(ctx)
        await qos0.close(ctx)
        return unacked_while_down, sink.published, error

    unacked, published, error = run(main())
    assert unacked == 50 and published == 50
    assert error.startswith("io error")
