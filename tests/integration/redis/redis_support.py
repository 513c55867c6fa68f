"""Redis connector tests: the machine's Redis (127.0.0.1:6379) and private servers for faults."""
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

redis = pytest.importorskip("redis", reason="the redis connectors need the 'redis' package")

START_REDIS = ("redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
               "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log")


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


def _ping(port: int = 6379) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> str:
    """`127.0.0.1:6379`, started with the machine's command if it is down, else skip."""
    if not _ping():
        subprocess.run(START_REDIS, shell=True, check=False, capture_output=True)
        try:
            wait_for(_ping, 5, "redis to start")
        except AssertionError:
            pytest.skip("Redis is not running on 127.0.0.1:6379 and could not be started")
    return "127.0.0.1:6379"


@pytest.fixture
def rdb(redis_server: str) -> Iterator[Any]:
    """A client on db 0; keys made under the test's prefix are deleted afterwards."""
    client = redis.Redis(port=6379, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(rdb: Any) -> Iterator[str]:
    p = f"kt:{uuid.uuid4().hex[:10]}:"
    yield p
    for db in (0, 3):
        c = redis.Redis(port=6379, db=db)
        keys = list(c.scan_iter(match=p + "*"))
        if keys:
            c.delete(*keys)
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own on a free port, which a fault test may stop and start."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.tmp = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.proc = subprocess.Popen(
            # appendfsync always: a write Redis acknowledged survives the SIGKILL of a fault test
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.tmp)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _ping(self.port), 10, f"private redis on {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
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


class BackgroundRules:
    """Rules run by RuleRunner on an event loop of their own thread, so a test can change the
    world (stop a server) while they run. `metric(name)` sums a metric over the rules."""

    def __init__(self, paths: list[str], root: str) -> None:
        import asyncio
        import threading

        from kuiper.cli.run import build_runners

        self.runners: list[Any] = []
        self.error: BaseException | None = None
        self._stop: Any = None
        self._loop: Any = None
        ready = threading.Event()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            try:
                self.runners = build_runners(paths, root, None)
                for r in self.runners:
                    await r.start()
            finally:
                ready.set()
            waits = asyncio.gather(*(r.wait() for r in self.runners))
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({waits, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for r in self.runners:
                await r.stop()
            stopping.cancel()

        def target() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:  # reported by the test
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()
        ready.wait(30)
        if self.error is not None:
            raise self.error

    def metric(self, suffix: str) -> int:
        total = 0
        for r in self.runners:
            for k, v in dict(r.metrics()).items():
                if k.endswith(suffix) and isinstance(v, int | float):
                    total += v
        return int(total)

    def stop(self, timeout: float = 30) -> None:
        if self._loop is not None and self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout)
        if self.error is not None:
            raise self.error

    def join(self, timeout: float = 60) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the rule did not finish"
        if self.error is not None:
            raise self.error


def runtime_has_sink_cache() -> bool:
    """Whether the sink node implements enableCache yet (another part of issue 5)."""
    import inspect

    from kuiper.runtime import sink_node

    return "enable_cache" in inspect.getsource(sink_node) or "SinkCache" in \
        inspect.getsource(sink_node)
