#!/usr/bin/env python3
"""MQTT -> rule -> MQTT benchmark: one `kuiper run` process between a publisher and a subscriber.

Measures, on one broker in one run:
1. the ceiling: a bare paho-mqtt publisher -> subscriber pair (messages/s at the subscriber);
2. kuiper flooded: the same publisher as fast as it goes into the W1 rule
   `SELECT deviceId, temperature * 1.8 + 32 AS tf FROM demo WHERE temperature > 30`, whose
   results go back to the broker; events/s = input events / (last result - first input);
3. kuiper paced at fixed rates (default 1,000, 10,000, and up): whether every result arrives,
   and the p50/p99 end-to-end latency (publish of an event -> arrival of its result).

Events come from /work/shared/bench/gen_data.py. Publisher, subscriber and kuiper are separate
processes; latencies use the system clock shared by the processes. Results are matched to
events in order (the rule keeps order), so no field has to be added to the rule. The bench's
own clients avoid Nagle's algorithm meeting delayed ACKs (~40 ms stalls that are artefacts
of the harness, not of what is measured): the publisher is TCP_NODELAY (paho leaves Nagle
on), and in paced runs the subscriber sets TCP_QUICKACK after each read, because Mosquitto's default
`set_tcp_nodelay false` holds small packets towards it until the previous one is ACKed.
kuiper's own sockets do the same. Each paced rate is also run on the bare pair
(`pair paced`): the latency floor of harness + broker on this machine.

    python benchmarks/bench_mqtt.py --qos 0 --rates 1000,10000,20000,30000,40000
"""
from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import yaml

REPO = Path(__file__).resolve().parents[1]
GEN = Path("/work/shared/bench/gen_data.py")
RULE_SQL = "SELECT deviceId, temperature * 1.8 + 32 AS tf FROM demo WHERE temperature > 30"


def load_events(n: int) -> list[bytes]:
    spec = importlib.util.spec_from_file_location("gen_data", GEN)
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    path = Path(tempfile.gettempdir()) / f"kuiper-bench-mqtt-{n}.jsonl"
    if not path.exists():
        gen.generate(str(path), n, 42)
    return path.read_bytes().splitlines()[:n]


def _client(port: int, inflight: int) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")
    c.max_inflight_messages_set(inflight)
    c.connect("127.0.0.1", port, 60)
    _nodelay(c)
    return c


def _nodelay(c: mqtt.Client) -> None:
    sock = c.socket()
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def publisher(port: int, topic: str, payloads: list[bytes], qos: int, rate: float,
              ready: Any, out: Any) -> None:
    """Publish every payload (at `rate`/s, or as fast as possible when 0); send times in ns."""
    c = _client(port, 20 if qos == 2 else 1000)
    c.loop_start()
    ready.wait()
    sent = [0] * len(payloads)
    t0 = time.perf_counter()
    for i, p in enumerate(payloads):
        if rate:
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0.001:
                time.sleep(ahead)
        sent[i] = time.time_ns()
        info = c.publish(topic, p, qos)
        if qos and i % 1000 == 999:
            info.wait_for_publish(30)
    if qos:
        info.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()
    out.put(sent)


def subscriber(port: int, topic: str, qos: int, expect: int, idle_s: float, started: Any,
               out: Any, quickack: bool) -> None:
    """Collect (arrival ns, payload) until `expect` arrived or nothing came for `idle_s`."""
    got: list[tuple[int, bytes]] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    c.on_message = lambda cl, u, m: got.append((time.time_ns(), m.payload))
    c.on_subscribe = lambda *a: started.set()
    c.connect("127.0.0.1", port, 60)
    _nodelay(c)
    sock = c.socket()
    c.subscribe(topic, qos)
    last_n, last_t = -1, time.monotonic()
    while True:
        c.loop(0.05)
        if quickack:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if len(got) >= expect:
            break
        if len(got) != last_n:
            last_n, last_t = len(got), time.monotonic()
        elif time.monotonic() - last_t > idle_s:
            break
    c.disconnect()
    out.put(got)


def run_pair(port: int, payloads: list[bytes], qos: int, rate: float, topic_in: str,
             topic_out: str, expect: int) -> tuple[list[int], list[tuple[int, bytes]]]:
    ctx = mp.get_context("spawn")
    q_pub, q_sub = ctx.Queue(), ctx.Queue()
    ready, started = ctx.Event(), ctx.Event()
    sub = ctx.Process(target=subscriber,
                      args=(port, topic_out, qos, expect, 3.0, started, q_sub, bool(rate)))
    sub.start()
    started.wait(10)
    pub = ctx.Process(target=publisher, args=(port, topic_in, payloads, qos, rate, ready, q_pub))
    pub.start()
    ready.set()
    sent = q_pub.get()
    got = q_sub.get()
    pub.join()
    sub.join()
    return sent, got


def expected_results(payloads: list[bytes]) -> list[tuple[int, str, float]]:
    out = []
    for i, p in enumerate(payloads):
        e = orjson.loads(p)
        if e["temperature"] > 30:
            out.append((i, e["deviceId"], e["temperature"] * 1.8 + 32))
    return out


def latencies(sent: list[int], got: list[tuple[int, bytes]],
              expected: list[tuple[int, str, float]]) -> tuple[list[float], int]:
    """Per result: arrival - publish of its event (ms), matched in order; and matches found."""
    lat: list[float] = []
    k = 0
    for t, payload in got:
        row = orjson.loads(payload)
        while k < len(expected) and not (expected[k][1] == row.get("deviceId")
                                         and abs(expected[k][2] - row.get("tf", 0)) < 1e-6):
            k += 1
        if k == len(expected):
            break
        lat.append((t - sent[expected[k][0]]) / 1e6)
        k += 1
    return lat, len(lat)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Kuiper:
    """A `kuiper run` process with the W1 rule, MQTT in and out."""

    def __init__(self, port: int, qos: int, topic_in: str, topic_out: str) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="kuiper-bench-mqtt-"))
        server = f"tcp://127.0.0.1:{port}"
        (self.root / "etc").mkdir()
        (self.root / "etc" / "mqtt_source.yaml").write_text(
            yaml.safe_dump({"default": {"server": server, "qos": qos}}))
        (self.root / "s.sql").write_text(
            "CREATE STREAM demo (deviceId string, temperature float, humidity bigint, ts bigint) "
            f'WITH (DATASOURCE="{topic_in}", FORMAT="json");')
        (self.root / "r.json").write_text(orjson.dumps({
            "id": "w1", "sql": RULE_SQL,
            "actions": [{"mqtt": {"server": server, "topic": topic_out, "qos": qos,
                                  "sendSingle": True}}]}).decode())
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from kuiper.cli.main import main; sys.exit(main())",
             "run", "-q", "--root", str(self.root), str(self.root / "s.sql"),
             str(self.root / "r.json")], env=env, stderr=subprocess.PIPE)
        self.wait_subscribed(port, qos, topic_in, topic_out)

    @staticmethod
    def wait_subscribed(port: int, qos: int, topic_in: str, topic_out: str) -> None:
        seen: list[bytes] = []
        c = _client(port, 20)
        c.on_message = lambda cl, u, m: seen.append(m.payload)
        c.subscribe(topic_out, qos)
        c.loop_start()
        deadline = time.monotonic() + 30
        while not seen and time.monotonic() < deadline:
            c.publish(topic_in, b'{"deviceId":"warm","temperature":99.0}', qos)
            time.sleep(0.05)
        time.sleep(0.3)
        c.loop_stop()
        c.disconnect()
        if not seen:
            raise RuntimeError("kuiper did not come up")

    def cpu_seconds(self) -> float:
        """user + system CPU time of the kuiper process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err.decode(errors="replace")[-2000:]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--events", type=int, default=200_000, help="events for the flood runs")
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each paced run")
    ap.add_argument("--rates", default="1000,10000,20000,30000,40000")
    args = ap.parse_args()
    payloads = load_events(args.events)
    expected_all = expected_results(payloads)
    base = f"bench/{uuid.uuid4().hex[:8]}"
    print(f"broker 127.0.0.1:{args.port}, QoS {args.qos}, {len(payloads):,} events, "
          f"{len(expected_all):,} results (machine shared with other work)")

    sent, got = run_pair(args.port, payloads, args.qos, 0, f"{base}/pair", f"{base}/pair",
                         len(payloads))
    ceiling = len(got) / max((got[-1][0] - sent[0]) / 1e9, 1e-9) if got else 0.0
    print(f"ceiling  bare paho pub->sub: {ceiling:>9,.0f} msg/s ({len(got):,}/{len(payloads):,} "
          "received)")

    kuiper = Kuiper(args.port, args.qos, f"{base}/in", f"{base}/out")
    try:
        cpu0 = kuiper.cpu_seconds()
        sent, got = run_pair(args.port, payloads, args.qos, 0, f"{base}/in", f"{base}/out",
                             len(expected_all))
        cpu = kuiper.cpu_seconds() - cpu0
        span = (got[-1][0] - sent[0]) / 1e9 if got else float("inf")
        # results received / results expected = share of the input that came through
        rate = len(payloads) * len(got) / len(expected_all) / span
        print(f"kuiper   flood: {rate:>9,.0f} events/s in -> {len(got):,}/{len(expected_all):,} "
              f"results ({rate / ceiling:.0%} of the ceiling); kuiper CPU "
              f"{cpu * 1e6 / len(payloads):.1f} us/event = {len(payloads) / cpu:,.0f} events/s "
              "per core")
        for r in [float(x) for x in args.rates.split(",") if x]:
            n = min(len(payloads), int(r * args.seconds))
            part = payloads[:n]
            sent, got = run_pair(args.port, part, args.qos, r, f"{base}/pair", f"{base}/pair", n)
            lat = [(g[0] - s) / 1e6 for s, g in zip(sent, got, strict=False)]
            print(f"pair     paced {r:>8,.0f}/s: received {len(got):,}/{n:,}, "
                  f"p50 {pct(lat, 0.5):6.2f} ms, p99 {pct(lat, 0.99):6.2f} ms")
            exp = expected_results(part)
            sent, got = run_pair(args.port, part, args.qos, r, f"{base}/in", f"{base}/out",
                                 len(exp))
            lat, matched = latencies(sent, got, exp)
            span = (got[-1][0] - sent[0]) / 1e9 if got else float("inf")
            keeps_up = matched == len(exp) and pct(lat, 0.99) < 100
            print(f"kuiper   paced {r:>8,.0f}/s: offered {n / ((sent[-1] - sent[0]) / 1e9):>9,.0f}"
                  f"/s, results {matched:,}/{len(exp):,}, in->out {n / span:>9,.0f} ev/s, "
                  f"p50 {pct(lat, 0.5):6.2f} ms, p99 {pct(lat, 0.99):6.2f} ms"
                  f"{'' if keeps_up else '  (falls behind)'}")
    finally:
        err = kuiper.stop()
        if "Traceback" in err:
            print(err)


if __name__ == "__main__":
    main()
