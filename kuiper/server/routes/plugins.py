"""`/plugins/{sources|sinks|functions}`, `/plugins/udfs`, `/plugins/functions/{name}/register`.

Installing runs in a worker thread (unzipping and loading a module may take a while); an
http(s) file is downloaded by the server first.
"""
from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from kuiper.errors import ConfigError, NotFoundError
from kuiper.server.app import as_json, engine_of, read_object, read_package, text
from kuiper.server.download import local_file

TYPES = "sources|sinks|functions"
_SINGULAR = {"sources": "source", "sinks": "sink", "functions": "function"}


def _names(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'"{key}" must be a list of names')
    return value


async def _install(request: web.Request, name: str | None, replace: bool) -> web.Response:
    ptype = request.match_info["type"]
    body, name, file = await read_package(
        request, name, '{"name": "echo", "file": "file:///tmp/echo.zip"}')
    if body.get("shellParas"):
        raise ConfigError("install.sh scripts (shellParas) are not supported",
                          hint="put runtime files in the zip's etc/ folder")
    functions = _names(body, "functions")
    plugins = engine_of(request).plugins
    async with local_file(file) as path:
        await asyncio.to_thread(plugins.install, ptype, name, path, sha256=body.get("sha256"),
                                replace=replace, functions=functions)
    verb = "updated" if replace else "created"
    return text(f"{_SINGULAR[ptype]} plugin {name} is {verb}", status=200 if replace else 201)


async def create(request: web.Request) -> web.Response:
    return await _install(request, None, replace=False)


async def update(request: web.Request) -> web.Response:
    return await _install(request, request.match_info["name"], replace=True)


async def list_(request: web.Request) -> web.Response:
    return as_json(engine_of(request).plugins.list(request.match_info["type"]))


async def describe(request: web.Request) -> web.Response:
    m = request.match_info
    return as_json(engine_of(request).plugins.get(m["type"], m["name"]))


async def delete(request: web.Request) -> web.Response:
    m = request.match_info
    engine_of(request).plugins.remove(m["type"], m["name"])
    return text(f"{_SINGULAR[m['type']]} plugin {m['name']} is deleted")


async def udfs(request: web.Request) -> web.Response:
    return as_json(sorted(engine_of(request).plugins.udfs()))


async def udf(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    plugin = engine_of(request).plugins.udfs().get(name)
    if plugin is None:
        raise NotFoundError(f"udf {name} is not found")
    return as_json({"name": name, "plugin": plugin})


async def register(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    functions = _names(await read_object(request), "functions")
    if not functions:
        raise ConfigError('Invalid body: "functions" must list the plugin\'s functions')
    engine_of(request).plugins.register_functions(name, functions)
    return text(f"function plugin {name} function list is registered")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/plugins/udfs", udfs)
    router.add_get("/plugins/udfs/{name}", udf)
    router.add_post("/plugins/functions/{name}/register", register)
    router.add_post(f"/plugins/{{type:{TYPES}}}", create)
    router.add_get(f"/plugins/{{type:{TYPES}}}", list_)
    router.add_get(f"/plugins/{{type:{TYPES}}}/{{name}}", describe)
    router.add_put(f"/plugins/{{type:{TYPES}}}/{{name}}", update)
    router.add_delete(f"/plugins/{{type:{TYPES}}}/{{name}}", delete)
