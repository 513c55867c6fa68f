"""MQTT in -> rule -> MQTT out against the real Mosquitto, run through `kuiper.cli.run.run_paths`."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import orjson
import paho.mqtt.client as mqtt
import pytest
from mqtt_helpers import Collector, Publisher, run_rule_until, wait_until, warm_up, write_root
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

STREAM = ('CREATE STREAM demo (deviceId string, temperature float, seq bigint) '
          'WITH (DATASOURCE="{topic}", FORMAT="json"{extra});')


def _topic() -> str:
    return f"kq/{uuid.uuid4().hex[:10]}"


def _events(n: int) -> list[dict]:
    return [{"deviceId": f"dev-{i % 7}", "temperature": float(20 + i % 20), "seq": i}
            for i in range(n)]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_filter_project_rule_at_each_qos(tmp_path: Path, broker_port: int, qos: int) -> None:
    base = _topic()
    server = f"tcp://127.0.0.1:{broker_port}"
    paths = write_root(
        tmp_path, {"default": {"server": server, "qos": qos}},
        STREAM.format(topic=f"{base}/in", extra=""),
        {"id": "r1", "sql": "SELECT deviceId, temperature * 1.8 + 32 AS tf, seq FROM demo "
                            "WHERE temperature > 30",
         "actions": [{"mqtt": {"server": server, "topic": f"{base}/out", "qos": qos,
                               "sendSingle": True}}]})
    col = Collector(broker_port, [f"{base}/out"], qos=qos)
    pub = Publisher(broker_port)
    events = _events(600)
    expected = [{"deviceId": e["deviceId"], "tf": e["temperature"] * 1.8 + 32, "seq": e["seq"]}
                for e in events if e["temperature"] > 30]

    def real() -> list[dict]:
        return [r for r in col.rows() if r["seq"] >= 0]

    def script() -> None:
        warm_up(pub, f"{base}/in", lambda: bool(col.messages), qos)
        pub.send(f"{base}/in", events, qos)
        wait_until(lambda: len(real()) >= len(expected), 15, "all results")

    status = run_rule_until(paths, tmp_path, script)["r1"]
    col.close()
    pub.close()
    got = real()
    assert [r["seq"] for r in got] == [r["seq"] for r in expected]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g["deviceId"] == e["deviceId"] and g["tf"] == pytest.approx(e["tf"])
    assert {m[2] for m in col.messages} == {qos}
    assert status["sink_mqtt_0_0_exceptions_total"] == 0


def test_wildcards_meta_and_dynamic_topic(tmp_path: Path, broker_port: int) -> None:
    base = _topic()
    server = f"tcp://127.0.0.1:{broker_port}"
    paths = write_root(
        tmp_path, {"default": {"server": server}, "q0": {"qos": 0}},
        STREAM.format(topic=f"{base}/+/data,{base}/extra/#", extra=', CONF_KEY="q0"'),
        {"id": "r1", "sql": "SELECT deviceId, seq, meta(topic) AS t, meta(qos) AS q, "
                            "meta(messageId) AS mid FROM demo",
         "actions": [{"mqtt": {"server": server, "topic": base + "/out/{{.deviceId}}",
                               "qos": 1, "sendSingle": True}}]})
    col = Collector(broker_port, [f"{base}/out/#"])
    pub = Publisher(broker_port)
    sent = {f"{base}/a/data": 0, f"{base}/b/data": 1, f"{base}/extra/x/y": 2}

    def script() -> None:
        warm_up(pub, f"{base}/a/data", lambda: bool(col.messages))
        for topic, seq in sent.items():
            pub.send(topic, [{"deviceId": f"d{seq}", "temperature": 1.0, "seq": seq}], qos=1)
        pub.send(f"{base}/a/other", [{"deviceId": "nope", "seq": 9}], qos=1)  # not subscribed
        wait_until(lambda: len([m for m in col.messages if b'"seq":-1' not in m[1]]) >= 3, 10)

    run_rule_until(paths, tmp_path, script)
    col.close()
    pub.close()
    got = {orjson.loads(p)["seq"]: (t, orjson.loads(p)) for t, p, _ in col.messages}
    got.pop(-1, None)
    assert sorted(got) == [0, 1, 2]
    for topic, seq in sent.items():
        out_topic, row = got[seq]
        assert out_topic == f"{base}/out/d{seq}"  # the templated sink topic
        assert row["t"] == topic
        assert row["q"] == 0  # CONF_KEY q0 subscribes at QoS 0: messages arrive at QoS 0
        assert row["mid"] == 0


def test_v5_user_properties_in_meta(tmp_path: Path, broker_port: int) -> None:
    base = _topic()
    server = f"tcp://127.0.0.1:{broker_port}"
    paths = write_root(
        tmp_path, {"default": {"server": server, "protocolVersion": "5"}},
        STREAM.format(topic=f"{base}/in", extra=""),
        {"id": "r1", "sql": "SELECT seq, meta(properties) AS up, meta(qos) AS q FROM demo",
         "actions": [{"mqtt": {"server": server, "topic": f"{base}/out", "qos": 1,
                               "protocolVersion": "5", "sendSingle": True,
                               "properties": {"userProperties": {"seq": "{{.seq}}"}}}}]})
    got: list[tuple[dict, list]] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sub.on_message = lambda c, u, m: got.append((orjson.loads(m.payload),
                                                 list(m.properties.UserProperty)))
    sub.connect("127.0.0.1", broker_port)
    sub.subscribe(f"{base}/out", 1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.connect("127.0.0.1", broker_port)
    pub.loop_start()

    def script() -> None:
        def send(seq: int) -> None:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [("site", "s1"), ("line", str(seq))]
            pub.publish(f"{base}/in", orjson.dumps({"seq": seq}), 1, properties=props).wait_for_publish(5)

        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            send(-1)
            time.sleep(0.02)
        send(7)
        wait_until(lambda: any(r["seq"] == 7 for r, _ in got), 10, "the v5 message")

    run_rule_until(paths, tmp_path, script)
    sub.loop_stop()
    pub.loop_stop()
    row, props = next((r, p) for r, p in got if r["seq"] == 7)
    assert row["up"] == {"site": "s1", "line": "7"}
    assert row["q"] == 1
    assert props == [("seq", "7")]


def test_two_rules_share_nothing_but_the_broker(tmp_path: Path, broker_port: int) -> None:
    """Two rules subscribed to the same topic each get every message (no shared group)."""
    base = _topic()
    server = f"tcp://127.0.0.1:{broker_port}"
    paths = write_root(
        tmp_path, {"default": {"server": server}}, STREAM.format(topic=f"{base}/in", extra=""),
        [{"id": f"r{i}", "sql": "SELECT seq FROM demo",
          "actions": [{"mqtt": {"server": server, "topic": f"{base}/out{i}", "qos": 1,
                                "sendSingle": True}}]} for i in (1, 2)])  # type: ignore[arg-type]
    col = Collector(broker_port, [f"{base}/out1", f"{base}/out2"])
    pub = Publisher(broker_port)

    def outs(i: int) -> list[int]:
        return [orjson.loads(p)["seq"] for t, p, _ in list(col.messages)
                if t.endswith(f"out{i}") and orjson.loads(p)["seq"] >= 0]

    def script() -> None:
        warm_up(pub, f"{base}/in", lambda: {t for t, _, _ in col.messages} == {
            f"{base}/out1", f"{base}/out2"})
        pub.send(f"{base}/in", [{"seq": i} for i in range(100)])
        wait_until(lambda: len(outs(1)) == 100 and len(outs(2)) == 100, 10)

    run_rule_until(paths, tmp_path, script)
    col.close()
    pub.close()
    assert outs(1) == list(range(100)) == outs(2)
