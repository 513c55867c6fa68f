"""Acceptance (c): the MQTT broker is stopped for OUTAGE_S seconds and restarted; at QoS 1 no
result is lost.

The test starts its OWN mosquitto (free port, persistence in a temp dir; the shared broker is
never touched). `kuiper server` runs a QoS 1 rule from an MQTT source (QoS 1, persistent
session) to an MQTT sink (QoS 1, cache on) on that broker; a collector with a persistent
session reads the results. Messages are published right before the broker stops, the broker
stays down for the outage, then comes back with its saved sessions: the source gets what it
had not acknowledged, the sink sends what waited, the collector gets every result."""
from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from mqtt_helpers import MOSQUITTO, Broker, Publisher
from server_support import ServerProcess, wait_until

pytestmark = pytest.mark.integration

OUTAGE_S = 30.0  # issue 10: the broker is away this long
ROWS = 200


class SessionCollector:
    """A subscriber with a persistent session: the broker queues its results while it is away
    (and keeps them across its own restart)."""

    def __init__(self, port: int, topic: str) -> None:
        self.ids: list[int] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=f"kq-coll-{uuid.uuid4().hex[:8]}",
                                  clean_session=False)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, 1)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("collector could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.ids.append(int(orjson.loads(msg.payload)["id"]))

    def seen(self) -> set[int]:
        with self._lock:
            return set(self.ids)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_broker_down_for_30s_no_result_lost(tmp_path: Path) -> None:
    assert Path(MOSQUITTO).exists(), "the mosquitto binary is needed for a private broker"
    store = tmp_path / "mosquitto-data"
    store.mkdir()
    broker = Broker(tmp_path, ["persistence true", f"persistence_location {store}/",
                               "autosave_interval 1"]).start()
    topic = f"kq/outage/{uuid.uuid4().hex[:8]}"
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "mqtt_source.yaml").write_text(json.dumps({"default": {
        "server": broker.url, "qos": 1, "clientid": f"kq-src-{uuid.uuid4().hex[:8]}",
        "cleanSession": False}}))
    collector = SessionCollector(broker.port, f"{topic}/out")
    server = ServerProcess(root).start()
    pub = Publisher(broker.port)
    try:
        server.api.ok("POST", "/streams", {"sql": (
            f'CREATE STREAM demo (id BIGINT) WITH (DATASOURCE="{topic}/in", TYPE="mqtt", '
            'FORMAT="json")')})
        server.api.ok("POST", "/rules", {
            "id": "relay", "sql": "SELECT id FROM demo",
            "options": {"qos": 1, "checkpointInterval": 500},
            "actions": [{"mqtt": {"server": broker.url, "topic": f"{topic}/out", "qos": 1,
                                  "sendSingle": True, "enableCache": True}}]})
        deadline = time.monotonic() + 15  # the rule is subscribed: a marker went through
        while -1 not in collector.seen():
            assert time.monotonic() < deadline, "the rule never relayed the marker"
            pub.send(f"{topic}/in", [{"id": -1}])
            time.sleep(0.05)
        pub.send(f"{topic}/in", [{"id": i} for i in range(100)])
        wait_until(lambda: set(range(100)) <= collector.seen(), 20, what="results before")
        pub.send(f"{topic}/in", [{"id": i} for i in range(100, 150)])  # just before the stop
        pub.close()
        broker.stop()
        back_at = time.monotonic() + OUTAGE_S
        wait_until(lambda: time.monotonic() >= back_at, OUTAGE_S + 1, every=0.1,
                   what="the end of the outage")  # the outage itself
        broker.start()
        pub = Publisher(broker.port)
        pub.send(f"{topic}/in", [{"id": i} for i in range(150, ROWS)])
        wait_until(lambda: set(range(ROWS)) <= collector.seen(), 30, every=0.1,
                   what="every result after the broker came back")
        status = server.api.status("relay")
    finally:
        pub.close()
        server.stop()
        collector.close()
        broker.stop()
    assert collector.seen() - {-1} == set(range(ROWS))
    assert status["source_demo_0_exceptions_total"] >= 1  # the lost connection was counted
