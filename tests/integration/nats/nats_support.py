"""NATS connector tests: the machine's nats-server (JetStream, 127.0.0.1:4222) and private
servers that fault tests stop and start."""
from __future__ import annotations

import asyncio
import json
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from services import PrivateServer, require_service

pytest.importorskip("nats", reason="the nats connectors need the 'nats-py' package")

START_NATS = ("start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
              "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log")


async def until(cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> None:
    """Await until `cond()` holds (polled on the running loop); fail after `timeout` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            return s.recv(4).startswith(b"INFO")
    except OSError:
        return False


@pytest.fixture(scope="session")
def nats_url() -> str:
    require_service(lambda: _listening(4222), START_NATS, 5,
                    "NATS is not running on 127.0.0.1:4222 and could not be started",
                    "nats-server")
    return "nats://127.0.0.1:4222"


@pytest.fixture
def subject() -> str:
    return f"kt.{uuid.uuid4().hex[:10]}"


class PrivateNats(PrivateServer):
    """A nats-server (JetStream, store in the test's folder) that a fault test controls."""

    name = "nats-server"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.store = tmp / "nats-store"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def exe(self) -> str | None:
        exe = shutil.which("nats-server") or "/usr/sbin/nats-server"
        return exe if Path(exe).exists() else None

    def argv(self, exe: str) -> list[str]:
        return [exe, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)]

    def up(self) -> bool:
        return _listening(self.port)


@pytest.fixture
def private_nats(tmp_path: Path) -> Iterator[PrivateNats]:
    yield from PrivateNats.serving(tmp_path)


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
