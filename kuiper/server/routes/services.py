"""`/services` and `/services/functions`: external services (REST, gRPC, msgpack-rpc)."""
from __future__ import annotations

import asyncio

from aiohttp import web

from kuiper.server.app import as_json, engine_of, read_package, text
from kuiper.server.download import local_file

_EXAMPLE = '{"name": "sample", "file": "file:///tmp/sample.zip"}'


async def create(request: web.Request) -> web.Response:
    _, name, file = await read_package(request, None, _EXAMPLE)
    services = engine_of(request).services
    async with local_file(file) as path:
        await asyncio.to_thread(services.create, name, file=path)
    return text(f"service {name} is created", status=201)


async def update(request: web.Request) -> web.Response:
    _, name, file = await read_package(request, request.match_info["name"], _EXAMPLE)
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
