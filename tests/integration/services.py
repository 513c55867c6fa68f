"""Helpers shared by the connector tests on local services (nats, redis, sql): polling,
free ports, finding (or starting) the machine's server, private servers that fault tests stop
and start, and the file-stream rule files.

The test folders have no `__init__.py`; tests/conftest.py puts this folder on sys.path so
that each folder's helpers and tests can `import services`."""
from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import pytest


def wait_for(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `cond` until it returns something truthy; fail the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_if_down(up: Callable[[], bool], start_cmd: str, timeout: float, what: str) -> bool:
    """Whether `up()` holds, after running the machine's `start_cmd` (a shell command) and
    waiting up to `timeout` s for it if the service was down."""
    if up():
        return True
    subprocess.run(start_cmd, shell=True, check=False, capture_output=True)
    try:
        return bool(wait_for(up, timeout, f"{what} to start"))
    except AssertionError:
        return False


def require_service(up: Callable[[], bool], start_cmd: str, timeout: float, reason: str,
                    what: str) -> None:
    """Skip the test with `reason` unless the service answers (see start_if_down)."""
    if not start_if_down(up, start_cmd, timeout, what):
        pytest.skip(reason)


class PrivateServer:
    """A server of the test's own on a free port, which a fault test may stop and start
    again (on the same port). Subclasses give the command line and the readiness probe."""

    name = "server"

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def exe(self) -> str | None:
        """The server binary, or None when it is not installed (the test is skipped)."""
        raise NotImplementedError

    def argv(self, exe: str) -> Sequence[str]:
        raise NotImplementedError

    def up(self) -> bool:
        raise NotImplementedError

    def start(self) -> None:
        exe = self.exe()
        if exe is None:
            pytest.skip(f"{self.name} is not installed")
        self.proc = subprocess.Popen(list(self.argv(exe)),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.up, 10, f"private {self.name} on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    @classmethod
    def serving(cls, tmp: Path) -> Iterator[Self]:
        """The body of a fixture: a started server, stopped after the test."""
        server = cls(tmp)
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


def simulator_rule_files(tmp_path: Path, total: int, action: dict[str, Any],
                         rule_id: str = "cached") -> list[str]:
    """A simulator stream `sim` of `total` rows {id: 'k000', n: 0}, ... (one every 15 ms, no
    loop) and the rule `SELECT id, n FROM sim` with the one `action`: the paths."""
    (tmp_path / "etc" / "sources").mkdir(parents=True)
    rows = "".join(f"    - {{id: 'k{i:03d}', n: {i}}}\n" for i in range(total))
    (tmp_path / "etc" / "sources" / "simulator.yaml").write_text(
        f"default:\n  interval: 15\n  loop: false\n  data:\n{rows}")
    (tmp_path / "streams.sql").write_text(
        'CREATE STREAM sim () WITH (DATASOURCE="sim", TYPE="simulator", FORMAT="json");\n')
    (tmp_path / "rule.json").write_text(json.dumps({
        "id": rule_id, "sql": "SELECT id, n FROM sim", "actions": [action]}))
    return [str(tmp_path / "streams.sql"), str(tmp_path / "rule.json")]
