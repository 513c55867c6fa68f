"""`kuiper server`: the engine of one root and its REST API on one event loop (uvloop)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from aiohttp import web

from kuiper.manage.engine import Engine
from kuiper.runtime.loop import run as run_loop
from kuiper.server.app import create_app

log = logging.getLogger(__name__)


async def serve(root: str | Path, host: str | None = None, port: int | None = None,
                *, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Open the engine, serve until SIGINT/SIGTERM (or `stop` is set), then stop the rules
    and close everything. `host`/`port` default to basic.restIp/restPort of kuiper.yaml."""
    engine = Engine(root)
    host = host or engine.config.rest_ip
    port = engine.config.rest_port if port is None else port
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    runner: web.AppRunner | None = None
    try:
        await engine.open()
        runner = web.AppRunner(create_app(engine), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("kuiper REST API listening on http://%s:%d (root %s)", host, port,
                    engine.root)
        print(f"Serving kuiper REST service on {host}:{port}", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("kuiper server stopping")
    finally:
        if runner is not None:
            await runner.cleanup()
        await engine.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)


def run_server(root: str | Path, host: str | None = None, port: int | None = None) -> None:
    """Blocking: serve until Ctrl-C or SIGTERM."""
    run_loop(serve(root, host, port))
