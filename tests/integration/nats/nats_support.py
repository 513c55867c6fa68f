"""NATS connector tests: the machine's nats-server (JetStream, 127.0.0.1:4222) and private
servers that fault tests stop and start."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nats", reason="the nats connectors need the 'nats-py' package")

START_NATS = ("start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
              "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log")


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(4).startswith(b"INFO")
    except OSError:
        return False


@pytest.fixture(scope="session")
def nats_url() -> str:
    if not _listening(4222):
        subprocess.run(START_NATS, shell=True, check=False, capture_output=True)
        try:
            wait_for(lambda: _listening(4222), 5, "nats-server to start")
        except AssertionError:
            pytest.skip("NATS is not running on 127.0.0.1:4222 and could not be started")
    return "nats://127.0.0.1:4222"


@pytest.fixture
def subject() -> str:
    return f"kt.{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateNats:
    """A nats-server (JetStream, store in the test's folder) that a fault test controls."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.store = tmp / "nats-store"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(exe).exists():
            pytest.skip("nats-server is not installed")
        self.proc = subprocess.Popen([exe, "-a", "127.0.0.1", "-p", str(self.port), "-js",
                                      "-sd", str(self.store)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _listening(self.port), 10, f"private nats-server on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    server = PrivateNats(tmp_path)
    server.start()
    yield server
    server.stop()


def rule_files(tmp_path: Path, rows: list[dict[str, Any]], sql: str,
               actions: list[dict[str, Any]], rule_id: str = "r1") -> list[str]:
    """A file stream `src` of `rows` (JSON lines) and one rule: the paths for run_paths."""
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (tmp_path / "etc" / "sources" / "file.yaml").write_text(
        "default:\n  fileType: lines\n  path: data\n")
    streams = tmp_path / "streams.sql"
    streams.write_text('CREATE STREAM src () WITH (DATASOURCE="in.jsonl", TYPE="file", '
                       'FORMAT="json");\n')
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"id": rule_id, "sql": sql, "actions": actions}))
    return [str(streams), str(rule)]


def nats_rule_files(tmp_path: Path, subject: str, sql: str, actions: list[dict[str, Any]],
                    conf: dict[str, Any], rule_id: str = "r1") -> list[str]:
    """A nats stream `ns` on `subject` (etc/sources/nats.yaml default = conf) and one rule."""
    (tmp_path / "etc" / "sources").mkdir(parents=True, exist_ok=True)
    (tmp_path / "etc" / "sources" / "nats.yaml").write_text(json.dumps({"default": conf}))
    streams = tmp_path / "nats_streams.sql"
    streams.write_text(f'CREATE STREAM ns () WITH (DATASOURCE="{subject}", TYPE="nats", '
                       'FORMAT="json");\n')
    rule = tmp_path / f"{rule_id}.json"
    rule.write_text(json.dumps({"id": rule_id, "sql": sql, "actions": actions}))
    return [str(streams), str(rule)]
