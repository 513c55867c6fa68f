"""Acceptance (a): `kill -9` of `kuiper server` during a windowed MQTT rule at QoS 2; after the
restart the window results equal those of an uninterrupted run.

The test starts `kuiper server` (free port, its own root) and publishes with QoS 1 to the
local Mosquitto (a topic of its own). The stream's source subscribes with QoS 1 in a
persistent session (fixed client id, cleanSession false): it acknowledges messages only once
a checkpoint covers them, so the broker keeps what the killed server had not checkpointed and
hands it to the restarted one. The rule (event time, 10 s tumbling window, file sink) restores
its window rows and watermark; the file sink resumes at the checkpoint's size. The result
file must hold every window once, each with its uninterrupted count and sum."""
from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from mqtt_helpers import Publisher, port_open
from server_support import ServerProcess, wait_until

from kuiper.state.kv import SqliteKV

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000  # a multiple of 10 s: windows end at T0 + 10 s, T0 + 20 s, ...
STEP_MS = 250  # event time between two messages: 40 per window
ROWS = 240  # 6 windows
CHECKPOINTED = 100  # published, then a checkpoint covers them (the 3rd window is open)
BEFORE_KILL = 160  # published before the kill


def _value(i: int) -> int:
    return (i * 5) % 11


def _expected() -> list[dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for i in range(ROWS):
        end = (T0 + i * STEP_MS) // 10_000 * 10_000 + 10_000
        w = out.setdefault(end, {"we": end, "c": 0, "s": 0})
        w["c"] += 1
        w["s"] += _value(i)
    return [out[k] for k in sorted(out)]


def _rows(start: int, stop: int) -> list[dict[str, int]]:
    return [{"id": i, "ts": T0 + i * STEP_MS, "v": _value(i)} for i in range(start, stop)]


def _results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def _checkpoint(root: Path, rule_id: str) -> dict | None:
    db = root / "data" / "sqliteKV.db"
    if not db.exists():
        return None
    store = SqliteKV(db)
    try:
        meta = store.get("checkpoint", rule_id)
        return json.loads(meta) if meta else None
    finally:
        store.close()


@pytest.fixture
def session_id() -> Iterator[str]:
    """A client id of the test's own; its persistent session is removed from the shared broker
    afterwards (a clean-session connect with that id)."""
    client_id = f"kq-ckpt-{uuid.uuid4().hex[:10]}"
    yield client_id
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                         clean_session=True)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.disconnect()
    client.loop_stop()


def test_server_killed_during_a_qos2_mqtt_window_rule(tmp_path: Path, session_id: str) -> None:
    assert port_open(1883), "the local Mosquitto on 127.0.0.1:1883 is needed"
    topic = f"kq/ckpt/{uuid.uuid4().hex[:8]}/in"
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "mqtt_source.yaml").write_text(json.dumps({"default": {
        "server": "tcp://127.0.0.1:1883", "qos": 1, "clientid": session_id,
        "cleanSession": False}}))
    out = tmp_path / "windows.lines"
    server = ServerProcess(root).start()
    api = server.api
    try:
        api.ok("POST", "/streams", {"sql": (
            "CREATE STREAM demo (id BIGINT, ts BIGINT, v BIGINT) "
            f'WITH (DATASOURCE="{topic}", TYPE="mqtt", FORMAT="json", TIMESTAMP="ts")')})
        api.ok("POST", "/rules", {
            "id": "win",
            "sql": "SELECT window_end() AS we, count(*) AS c, sum(v) AS s FROM demo "
                   "WHERE id >= 0 GROUP BY TUMBLINGWINDOW(ss, 10)",
            "options": {"qos": 2, "checkpointInterval": 1500, "isEventTime": True,
                        "lateTolerance": 0},
            "actions": [{"file": {"path": str(out), "sendSingle": True}}]})
        pub = Publisher(1883)
        # subscribed: a marker (id -1, filtered by WHERE, before every window) reached the rule
        deadline = time.monotonic() + 15
        while api.status("win").get("source_demo_0_records_in_total", 0) < 1:
            assert time.monotonic() < deadline, "the rule never received the marker"
            pub.send(topic, [{"id": -1, "ts": T0 - 1, "v": 0}])
            time.sleep(0.05)
        pub.send(topic, _rows(0, CHECKPOINTED))
        wait_until(lambda: len(_results(out)) >= 2, 20, what="two windows before the kill")
        wait_until(lambda: (cp := _checkpoint(root, "win")) and cp.get("ops")
                   and cp["offsets"].get("demo", 0) > CHECKPOINTED, 20,
                   what="a checkpoint covering the first messages")
        # more messages, processed but not yet covered by a checkpoint (nor acknowledged)
        pub.send(topic, _rows(CHECKPOINTED, BEFORE_KILL))
        wait_until(lambda: api.status("win").get("source_demo_0_records_in_total", 0)
                   >= _checkpoint(root, "win")["offsets"]["demo"] + 10, 20,
                   what="messages after the last checkpoint")
    finally:
        assert server.proc is not None
        server.proc.kill()  # kill -9: no clean stop, nothing saved on the way out
        server.proc.wait(10)
    assert 2 <= len(_results(out)) < len(_expected())

    # meanwhile the publisher goes on; the broker queues for the persistent session
    pub.send(topic, _rows(BEFORE_KILL, ROWS))
    pub.send(topic, [{"id": -2, "ts": T0 + ROWS * STEP_MS + 20_000, "v": 0}])  # closes the last
    pub.close()
    server = ServerProcess(root, server.port).start()
    try:
        server.api.wait_status("win", "running", 20)
        wait_until(lambda: len(_results(out)) >= len(_expected()), 30,
                   what="every window after the restart")
        status = server.api.status("win")
    finally:
        server.stop()
    assert _results(out) == _expected()
    # the broker handed the restarted rule what the checkpoint did not cover
    assert status["source_demo_0_records_in_total"] > ROWS - BEFORE_KILL
