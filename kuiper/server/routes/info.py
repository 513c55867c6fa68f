"""`GET /` (version, os, uptime) and `GET /ping`."""
from __future__ import annotations

from aiohttp import web

from kuiper.server.app import as_json, engine_of


async def root(request: web.Request) -> web.Response:
    return as_json(engine_of(request).info())


async def ping(_request: web.Request) -> web.Response:
    return web.Response(status=200)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/", root)
    router.add_post("/", root)
    router.add_get("/ping", ping)
