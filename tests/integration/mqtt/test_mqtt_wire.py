"""The batched PUBLISH read path and the QoS 0 write path of MqttConnection, on the broker.

Messages of every size (split across socket reads, larger than a read) and QoS (0/1 batched,
2 through paho) must arrive once each, in order, with their topic, qos and message id; QoS 1
acknowledgements must reach the broker (or it would deliver again)."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from kuiper.io.mqtt_client import MqttConnection, MqttSettings

pytest.importorskip("kuiper._core.mqttwire")


async def _wait(cond: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def _publisher(port: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.max_inflight_messages_set(20)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    return c


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_mixed_sizes_and_qos_arrive_in_order(broker_port: int, version: str) -> None:
    base = f"wire/{uuid.uuid4().hex[:8]}"
    sizes = [0, 10, 300, 70_000, 5, 200_000, 64, 65_530] * 6
    sent = [(f"{base}/{i % 3}", bytes([i % 251]) * n, i % 3) for i, n in enumerate(sizes)]

    async def main() -> list[tuple[str, bytes, int, int]]:
        got: list[tuple[str, bytes, int, int]] = []
        batched = [0]

        def on_publishes(topics, payloads, qos, mids) -> None:  # type: ignore[no-untyped-def]
            batched[0] += len(topics)
            got.extend(zip(topics, payloads, qos, mids, strict=True))

        def on_message(client, userdata, msg) -> None:  # type: ignore[no-untyped-def]
            got.append((msg.topic, msg.payload, msg.qos, msg.mid))

        settings = MqttSettings.parse({"server": f"tcp://127.0.0.1:{broker_port}",
                                       "protocolVersion": version}, ".", "test")
        conn = MqttConnection(settings, name="wire", on_message=on_message,
                              on_publishes=on_publishes)
        conn.subscribe([f"{base}/#"], 2)
        assert await conn.start(wait=5)
        await asyncio.sleep(0.2)
        pub = await asyncio.to_thread(_publisher, broker_port)
        try:
            for topic, payload, qos in sent:
                pub.publish(topic, payload, qos)
            await _wait(lambda: len(got) >= len(sent))
            await asyncio.sleep(0.5)  # nothing delivered twice (unacknowledged QoS 1)
        finally:
            pub.loop_stop()
            pub.disconnect()
            await conn.close()
        small = sum(1 for _, payload, qos in sent if qos < 2 and len(payload) < 60_000)
        assert batched[0] >= small // 2  # QoS 0/1 took the batched path (large ones: paho)
        return got

    got = asyncio.run(main())
    # per topic the broker keeps the order (one publisher, one subscriber)
    for t in range(3):
        want = [(topic, payload, qos) for topic, payload, qos in sent if topic.endswith(f"/{t}")]
        have = [(topic, payload, qos) for topic, payload, qos, _ in got if topic.endswith(f"/{t}")]
        assert have == want
    assert all((mid == 0) == (qos == 0) for _, _, qos, mid in got)


def test_publish_fast_round_trip_and_refusals(broker_port: int) -> None:
    base = f"wire/{uuid.uuid4().hex[:8]}"
    received: list[tuple[str, bytes, bool]] = []

    async def main() -> None:
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        sub.on_message = lambda c, u, m: received.append((m.topic, m.payload, m.retain))
        sub.connect("127.0.0.1", broker_port, 30)
        sub.subscribe(f"{base}/#", 0)
        sub.loop_start()
        settings = MqttSettings.parse({"server": f"tcp://127.0.0.1:{broker_port}"}, ".", "t")
        conn = MqttConnection(settings, name="fast")
        assert await conn.start(wait=5)
        await asyncio.sleep(0.3)
        from kuiper.io.mqtt_loopclient import publish_block

        for topic in ("", f"{base}/+", f"{base}/#"):
            with pytest.raises(ValueError):
                publish_block(topic, False)
        block = publish_block(f"{base}/é", False)
        for i in range(2000):
            assert conn.publish_fast(0x30, block, b"m%d" % i)
        await _wait(lambda: len(received) >= 2000)
        conn.publish_fast(0x31, block, b"")  # clears the retained message
        await conn.close()
        sub.loop_stop()
        sub.disconnect()

    asyncio.run(main())
    assert [p for _, p, _ in received[:2000]] == [b"m%d" % i for i in range(2000)]
    assert {t for t, _, _ in received} == {f"{base}/é"}
