"""Helpers for the MQTT integration tests: brokers, paho test clients, rules run to a condition."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import yaml

from kuiper.cli.run import run_paths

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def wait_until(cond: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A private mosquitto on a free port with a stated configuration; stop/start keep the port."""

    def __init__(self, workdir: Path, conf_lines: list[str] | None = None, port: int = 0,
                 tls: dict[str, str] | None = None) -> None:
        self.dir = workdir
        self.port = port or free_port()
        self.tls = tls
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true"]
        if os.geteuid() == 0:  # else mosquitto drops to user 'mosquitto', who cannot read tmp files
            lines.insert(0, "user root")
        if tls:
            lines += [f"cafile {tls['ca']}", f"certfile {tls['cert']}", f"keyfile {tls['key']}"]
            if tls.get("require_certificate"):
                lines.append("require_certificate true")
        lines += conf_lines or []
        self.conf_path = workdir / f"mosquitto-{self.port}.conf"
        self.conf_path.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Broker:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf_path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 10, "mosquitto")
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"mosquitto did not start: {err}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def url(self) -> str:
        return f"{'ssl' if self.tls else 'tcp'}://127.0.0.1:{self.port}"


class Collector:
    """A paho subscriber on its own thread, keeping (topic, payload, qos) of every message."""

    def __init__(self, port: int, topics: list[str], qos: int = 1, *, tls: Any = None,
                 protocol: int = mqtt.MQTTv311) -> None:
        self.messages: list[tuple[str, bytes, int]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        if tls is not None:
            self.client.tls_set_context(tls)
        self._subscribed = threading.Event()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload, m.qos))
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, qos) for t in topics])
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("collector could not subscribe")

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for _, payload, _ in list(self.messages):
            value = orjson.loads(payload)
            out.extend(value if isinstance(value, list) else [value])
        return out

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    """A paho publisher on its own thread; `send` waits until QoS >= 1 messages are acknowledged."""

    def __init__(self, port: int, *, tls: Any = None, protocol: int = mqtt.MQTTv311,
                 inflight: int = 20) -> None:
        # Mosquitto drops incoming QoS 2 messages past its max_inflight_messages (20)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=protocol)
        if tls is not None:
            self.client.tls_set_context(tls)
        self.client.max_inflight_messages_set(inflight)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def send(self, topic: str, rows: list[Any], qos: int = 1, raw: bool = False) -> None:
        infos = [self.client.publish(topic, r if raw else orjson.dumps(r), qos) for r in rows]
        if qos:
            for info in infos:
                info.wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def write_root(root: Path, mqtt_conf: dict[str, Any], streams: str, rule: dict[str, Any]) -> list[str]:
    """etc/mqtt_source.yaml, a streams .sql and a rule .json under root; the paths to run."""
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "mqtt_source.yaml").write_text(yaml.safe_dump(mqtt_conf))
    (root / "streams.sql").write_text(streams)
    (root / "rule.json").write_text(orjson.dumps(rule).decode())
    return [str(root / "streams.sql"), str(root / "rule.json")]


def run_rule_until(paths: list[str], root: Path, script: Callable[[], None],
                   timeout: float = 30) -> dict[str, Any]:
    """Run the rules with `run_paths` on this (main) thread while `script` runs on another; when
    the script returns (or fails) the rules get SIGINT, the graceful stop of `kuiper run`."""
    failure: list[BaseException] = []

    def driver() -> None:
        try:
            wait_until(lambda: signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                       10, "kuiper run to install its signal handlers")
            script()
        except BaseException as exc:  # noqa: BLE001 - reported on the main thread
            failure.append(exc)
        finally:
            if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
                os.kill(os.getpid(), signal.SIGINT)

    watchdog = threading.Timer(timeout, lambda: failure.append(TimeoutError("rule run timed out"))
                               or os.kill(os.getpid(), signal.SIGINT))
    thread = threading.Thread(target=driver, daemon=True)
    thread.start()
    watchdog.start()
    try:
        result = run_paths(paths, str(root))
    finally:
        watchdog.cancel()
        thread.join(5)
    if failure:
        raise failure[0]
    return result


def warm_up(pub: Publisher, topic: str, seen: Callable[[], bool], qos: int = 1) -> None:
    """Publish markers `{"warm": 1}` until the rule's output shows one: the source subscribed."""
    deadline = time.monotonic() + 15
    while not seen():
        if time.monotonic() > deadline:
            raise AssertionError("the rule never received the warm-up messages")
        pub.send(topic, [{"warm": 1, "temperature": 99.0, "deviceId": "warm", "seq": -1}], qos)
        time.sleep(0.02)
