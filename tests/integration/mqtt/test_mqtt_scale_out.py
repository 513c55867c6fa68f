"""Scale-out: two `kuiper run` processes share one MQTT stream through a v5 shared subscription."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
from mqtt_helpers import Collector, Publisher, wait_until, write_root

REPO = Path(__file__).resolve().parents[3]


def _start_kuiper(root: Path, paths: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from kuiper.cli.main import main; sys.exit(main())",
         "run", "-q", "--root", str(root), *paths],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_processes_split_a_shared_subscription_without_duplicates(
        tmp_path: Path, make_broker) -> None:
    """Stated broker configuration: max_queued_messages 0 (unlimited), so a process that lags
    for a moment gets its share later instead of the broker dropping it (see docs/scale-out.md)."""
    broker = make_broker(["max_queued_messages 0"])
    broker_port = broker.port
    base = f"kq/share/{uuid.uuid4().hex[:8]}"
    server = broker.url
    procs = []
    for name in ("A", "B"):
        root = tmp_path / name
        paths = write_root(
            root, {"default": {"server": server, "qos": 1, "protocolVersion": "5"}},
            f'CREATE STREAM demo (seq bigint) WITH (DATASOURCE="$share/kuiper/{base}/in", '
            'FORMAT="json");',
            {"id": "r1", "sql": f"SELECT seq, '{name}' AS proc FROM demo",
             "actions": [{"mqtt": {"server": server, "topic": f"{base}/out", "qos": 1,
                                   "sendSingle": True}}]})
        procs.append(_start_kuiper(root, paths))
    col = Collector(broker_port, [f"{base}/out"], qos=1)
    pub = Publisher(broker_port, protocol=mqtt.MQTTv5)
    total = 4000
    try:
        # both processes subscribed: warm-up markers reach each of them (round robin)
        def procs_seen() -> set[str]:
            return {r["proc"] for r in col.rows() if r["seq"] < 0}

        for _ in range(300):
            if procs_seen() == {"A", "B"}:
                break
            pub.send(f"{base}/in", [{"seq": -1}])
            for p in procs:
                assert p.poll() is None, p.stderr.read().decode() if p.stderr else ""
            time.sleep(0.02)
        assert procs_seen() == {"A", "B"}
        pub.send(f"{base}/in", [{"seq": i} for i in range(total)])
        wait_until(lambda: len([r for r in col.rows() if r["seq"] >= 0]) >= total, 30,
                   "every message processed")
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(15)
        col.close()
        pub.close()
    rows = [r for r in col.rows() if r["seq"] >= 0]
    counts = Counter(r["seq"] for r in rows)
    assert sorted(counts) == list(range(total))
    assert max(counts.values()) == 1, "a message was processed twice"
    per_proc = Counter(r["proc"] for r in rows)
    assert per_proc["A"] > total // 10 and per_proc["B"] > total // 10, per_proc
    assert all(p.returncode == 0 for p in procs), [p.stderr.read() for p in procs if p.stderr]
