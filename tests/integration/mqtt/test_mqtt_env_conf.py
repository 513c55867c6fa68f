"""`MQTT_SOURCE__DEFAULT__SERVER` overrides etc/mqtt_source.yaml, as in eKuiper."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from mqtt_helpers import (
    Collector,
    Publisher,
    free_port,
    run_rule_until,
    wait_until,
    warm_up,
    write_root,
)

from kuiper.io.config import load_source_conf


def test_env_server_reaches_the_mqtt_source(tmp_path: Path, broker_port: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"kq/{uuid.uuid4().hex[:10]}"
    dead = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    live = f"tcp://127.0.0.1:{broker_port}"
    paths = write_root(
        tmp_path, {"default": {"server": dead, "qos": 1, "protocolVersion": "3.1.1"}},
        f'CREATE STREAM demo (seq bigint) WITH (DATASOURCE="{base}/in", FORMAT="json");',
        {"id": "r1", "sql": "SELECT seq FROM demo",
         "actions": [{"mqtt": {"server": live, "topic": f"{base}/out", "sendSingle": True}}]})
    monkeypatch.setenv("MQTT_SOURCE__DEFAULT__SERVER", live)
    monkeypatch.setenv("MQTT_SOURCE__DEFAULT__PROTOCOLVERSION", "5")
    conf = load_source_conf(str(tmp_path), "mqtt", "default")
    assert conf == {"server": live, "qos": 1, "protocolVersion": 5}
    col = Collector(broker_port, [f"{base}/out"])
    pub = Publisher(broker_port)

    def real() -> list[dict]:
        return [r for r in col.rows() if r.get("seq", -1) >= 0]

    def script() -> None:
        warm_up(pub, f"{base}/in", lambda: bool(col.messages))
        pub.send(f"{base}/in", [{"seq": i} for i in range(5)])
        wait_until(lambda: len(real()) >= 5, 15, "the rows through the env-configured server")

    run_rule_until(paths, tmp_path, script)
    col.close()
    pub.close()
    assert [r["seq"] for r in real()] == list(range(5))
