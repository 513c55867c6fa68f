"""A real HTTP target for the HTTP connector tests: an aiohttp server on 127.0.0.1 in its own
thread and loop, recording every request; it can be stopped and started on the same port."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Target:
    """`responder(request) -> (status, body)` decides the answers (default 200 "ok")."""

    port: int = field(default_factory=free_port)
    responder: Callable[[Request], tuple[int, bytes | str]] | None = None
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _handle(self, request: web.Request) -> web.Response:
        req = Request(request.method, request.path, dict(request.query),
                      dict(request.headers), await request.read())
        with self._lock:
            self.requests.append(req)
        status, body = self.responder(req) if self.responder else (200, b"ok")
        return web.Response(status=status, body=body.encode() if isinstance(body, str) else body,
                            content_type="application/json")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> Target:
        self._call(self._start())
        return self

    def stop(self) -> None:
        self._call(self._stop())

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def received(self) -> list[Request]:
        with self._lock:
            return list(self.requests)


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll a condition from a plain thread (fails on timeout)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


async def until(cond: Callable[[], bool], timeout: float = 10.0,
                tick: Callable[[], None] | None = None) -> None:
    """Poll a condition on the event loop, calling `tick` (e.g. advance a clock) each round."""
    async def poll() -> None:
        while not cond():
            if tick is not None:
                tick()
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)
