"""1,000 rules on one MQTT stream created over REST: all run on one shared source."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from server_support import Api, ServerProcess, wait_until

RULES = 1000


def rule_sql(k: int) -> str:
    shapes = [
        f"SELECT deviceId, temperature FROM fan WHERE temperature > {k % 40}",
        f"SELECT deviceId, humidity FROM fan WHERE humidity < {k % 100}",
        f"SELECT temperature * 1.8 + 32 AS tf FROM fan WHERE deviceId = 'dev-{k % 50}'",
        f"SELECT * FROM fan WHERE humidity >= {k % 100} AND temperature < {10 + k % 30}",
    ]
    return shapes[k % len(shapes)]


def all_running(api: Api) -> list[dict[str, object]] | None:
    rules = api.ok("GET", "/rules")
    return rules if len(rules) == RULES and all(r["status"] == "running" for r in rules) else None


def test_a_thousand_rules_over_rest_share_one_source(tmp_path: Path) -> None:
    topic = f"kuiper/fanout/{uuid.uuid4().hex[:10]}"
    root = tmp_path / "root"
    root.mkdir()
    server = ServerProcess(root).start()
    api = server.api
    try:
        api.ok("POST", "/streams", {"sql": (
            "CREATE STREAM fan (deviceId string, temperature float, humidity bigint) "
            f'WITH (DATASOURCE="{topic}", TYPE="mqtt", FORMAT="json")')})
        t0 = time.perf_counter()
        for k in range(RULES):
            api.ok("POST", "/rules", {"id": f"f{k}", "sql": rule_sql(k),
                                      "actions": [{"nop": {}}]})
        created = time.perf_counter() - t0

        rules = wait_until(lambda: all_running(api), 30, what="every rule running")
        t1 = time.perf_counter()
        rules = api.ok("GET", "/rules")
        listed = time.perf_counter() - t1
        assert len(rules) == RULES
        assert {r["id"] for r in rules} == {f"f{k}" for k in range(RULES)}

        # one event reaches every rule through the one shared subscription
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        event = {"deviceId": "dev-3", "temperature": 25.5, "humidity": 40}

        def delivered() -> bool:
            pub.publish(topic, json.dumps(event), qos=1).wait_for_publish(5)
            return api.status("f0")["source_fan_0_records_in_total"] >= 1

        wait_until(delivered, 15, every=0.2, what="the event reaching rule f0")
        pub.loop_stop()
        pub.disconnect()
        for rid, passes in (("f0", True), ("f1", False), ("f4", True), ("f41", True),
                            ("f39", False)):
            status = wait_until(lambda r=rid: api.status(r).get(
                "op_2_filter_0_records_in_total", 0) >= 1 and api.status(r), 10,
                what=f"{rid} evaluating the event")
            out = status["sink_nop_0_0_records_in_total"]
            assert (out >= 1) == passes, (rid, status)
    finally:
        assert server.stop() == 0
    # a restarted server starts the 1,000 stored rules again (one shared read of the topic)
    t2 = time.perf_counter()
    server = ServerProcess(root).start()
    try:
        wait_until(lambda: all_running(server.api), 30, what="every rule running again")
        restarted = time.perf_counter() - t2
        print(f"\n{RULES} rules created over REST in {created:.2f} s, GET /rules answered in "
              f"{listed * 1000:.0f} ms, server restart to all running {restarted:.2f} s")
    finally:
        assert server.stop() == 0
