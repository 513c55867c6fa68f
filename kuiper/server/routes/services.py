"""`/services` and `/services/functions`: external services (REST, gRPC, msgpack-rpc)."""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kuiper.errors import ConfigError
from kuiper.server.app import as_json, engine_of, read_object, text
from kuiper.server.download import local_file


async def _body(request: web.Request, name: str | None) -> tuple[str, str]:
    body: dict[str, Any] = await read_object(request)
    name = name or body.get("name")
    file = body.get("file")
    if not isinstance(name, str) or not name:
        raise ConfigError('Invalid body: "name" is required')
    if not isinstance(file, str) or not file:
        raise ConfigError('Invalid body: "file" is required',
                          hint='{"name": "sample", "file": "file:///tmp/sample.zip"}')
    return name, file


async def create(request: web.Request) -> web.Response:
    name, file = await _body(request, None)
    services = engine_of(request).services
    async with local_file(file) as path:
        await asyncio.to_thread(services.create, name, file=path)
    return text(f"service {name} is created", status=201)


async def update(request: web.Request) -> web.Response:
    name, file = await _body(request, request.match_info["name"])
    services = engine_of(request).services
    async with local_file(file) as path:
        await asyncio.to_thread(services.update, name, file=path)
    return text(f"service {name} is updated")


async def list_(request: web.Request) -> web.Response:
    return as_json(engine_of(request).services.list())


async def describe(request: web.Request) -> web.Response:
    return as_json(engine_of(request).services.get(request.match_info["name"]))


async def delete(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    engine_of(request).services.delete(name)
    return text(f"service {name} is deleted")


async def functions(request: web.Request) -> web.Response:
    return as_json(engine_of(request).services.list_functions())


async def function(request: web.Request) -> web.Response:
    return as_json(engine_of(request).services.get_function(request.match_info["name"]))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/services/functions", functions)
    router.add_get("/services/functions/{name}", function)
    router.add_post("/services", create)
    router.add_get("/services", list_)
    router.add_get("/services/{name}", describe)
    router.add_put("/services/{name}", update)
    router.add_delete("/services/{name}", delete)
