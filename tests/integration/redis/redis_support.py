"""Redis connector tests: the machine's Redis (127.0.0.1:6379) and private servers for faults."""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services import PrivateServer, require_service

redis = pytest.importorskip("redis", reason="the redis connectors need the 'redis' package")

START_REDIS = ("redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
               "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log")


def _ping(port: int = 6379) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> str:
    """`127.0.0.1:6379`, started with the machine's command if it is down, else skip."""
    require_service(_ping, START_REDIS, 5,
                    "Redis is not running on 127.0.0.1:6379 and could not be started", "redis")
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


class PrivateRedis(PrivateServer):
    """A redis-server of the test's own on a free port, which a fault test may stop and start."""

    name = "redis-server"

    def exe(self) -> str | None:
        return shutil.which("redis-server")

    def argv(self, exe: str) -> list[str]:
        # appendfsync always: a write Redis acknowledged survives the SIGKILL of a fault test
        return [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.tmp)]

    def up(self) -> bool:
        return _ping(self.port)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    yield from PrivateRedis.serving(tmp_path)


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
