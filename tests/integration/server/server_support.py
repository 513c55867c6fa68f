"""Helpers of the server tests: a `kuiper server` subprocess, a small HTTP client, the CLI,
polling with a timeout (never a fixed sleep), and a kuiper root with inputs."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[3]
T = TypeVar("T")

#: rows of the bounded file input: a = 1..6
ROWS = [{"a": i, "name": f"n{i}"} for i in range(1, 7)]
FILE_STREAM = ('CREATE STREAM demo (a bigint, name string) '
               'WITH (DATASOURCE="in.jsonl", TYPE="file", FORMAT="json")')
#: a stream that never ends: the simulator emits a row every 5 ms
SIM_STREAM = ('CREATE STREAM sim (temperature float, humidity bigint) '
              'WITH (DATASOURCE="sim", TYPE="simulator", CONF_KEY="fast")')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, every: float = 0.02,
               what: str = "condition") -> T:
    """Poll `predicate` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


def make_root(root: Path) -> Path:
    """A kuiper root with the file input and the simulator's `fast` conf key."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    sources = root / "etc" / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    (sources / "simulator.yaml").write_text(
        "fast:\n  interval: 5\n  loop: true\n"
        "  data:\n    - {temperature: 21.5, humidity: 40}\n    - {temperature: 30.5, humidity: 60}\n")
    return root


class Api:
    """Blocking JSON/text client of a kuiper server: `(status, body)` per request."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, body: Any = None,
                raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, _decode(resp.read(), resp.headers.get_content_type())
        except urllib.error.HTTPError as exc:
            return exc.code, _decode(exc.read(), exc.headers.get_content_type())

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any = None) -> tuple[int, Any]:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> tuple[int, Any]:
        return self.request("DELETE", path)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        assert status in (200, 201), f"{method} {path} -> {status}: {answer}"
        return answer

    def status(self, rule_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/rules/{rule_id}/status")

    def wait_status(self, rule_id: str, state: str, timeout: float = 10.0) -> dict[str, Any]:
        return wait_until(lambda: (s := self.status(rule_id))["status"] == state and s,
                          timeout, what=f"rule {rule_id} {state}")

    def wait_records(self, rule_id: str, key: str, at_least: int,
                     timeout: float = 10.0) -> dict[str, Any]:
        return wait_until(lambda: (s := self.status(rule_id)).get(key, 0) >= at_least and s,
                          timeout, what=f"{rule_id} {key} >= {at_least}")


def _decode(raw: bytes, content_type: str) -> Any:
    text = raw.decode()
    return json.loads(text) if content_type == "application/json" and text else text


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), out.get("PYTHONPATH")]))
    return out


class ServerProcess:
    """`kuiper server --root ROOT --port PORT` as a subprocess, ready when /ping answers."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.api = Api(f"http://127.0.0.1:{self.port}")
        self.log = root / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kuiper.cli.main", "server", "--root", str(self.root),
                 "--port", str(self.port), "--host", "127.0.0.1"],
                stdout=out, stderr=subprocess.STDOUT, env=env(), cwd=self.root)

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                return self.api.get("/ping")[0] == 200
            except OSError:
                return False

        wait_until(up, timeout, every=0.05, what="the kuiper server")
        return self

    def stop(self, timeout: float = 20.0) -> int:
        """Ctrl-C (SIGINT) and wait: the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"server did not stop on SIGINT: {self.log.read_text()}") from None


def cli(port: int, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run `kuiper ARGS --port PORT` and capture its output."""
    return subprocess.run([sys.executable, "-m", "kuiper.cli.main", *args, "--port", str(port)],
                          capture_output=True, text=True, env=env(), cwd=cwd, timeout=60)
