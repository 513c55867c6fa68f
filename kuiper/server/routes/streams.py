"""`/streams`, `/streamdetails` and the same for `/tables`: one set of handlers for both."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from kuiper.errors import KuiperError
from kuiper.server.app import as_json, engine_of, read_object, text

Handler = Callable[[web.Request], Awaitable[web.Response]]


async def _sql(request: web.Request) -> str:
    body = await read_object(request)
    statement = body.get("sql")
    if not isinstance(statement, str) or not statement.strip():
        raise KuiperError('Invalid body: "sql" is required',
                          hint='{"sql": "CREATE STREAM demo () WITH (DATASOURCE=\\"demo\\")"}')
    return statement


def _kind(request: web.Request) -> str | None:
    return request.query.get("kind")


def handlers(is_table: bool) -> dict[str, Handler]:
    async def create(request: web.Request) -> web.Response:
        message = engine_of(request).streams.exec_sql(await _sql(request), is_table)
        return text(message, status=201)

    async def list_(request: web.Request) -> web.Response:
        return as_json(engine_of(request).streams.list(is_table, _kind(request)))

    async def details(request: web.Request) -> web.Response:
        return as_json(engine_of(request).streams.details(is_table, _kind(request)))

    async def describe(request: web.Request) -> web.Response:
        return as_json(engine_of(request).streams.describe(request.match_info["name"], is_table))

    async def schema(request: web.Request) -> web.Response:
        return as_json(engine_of(request).streams.schema(request.match_info["name"], is_table))

    async def update(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return text(engine_of(request).streams.update(name, await _sql(request), is_table))

    async def drop(request: web.Request) -> web.Response:
        force = request.query.get("force", "").lower() in ("true", "1")
        name = request.match_info["name"]
        return text(engine_of(request).streams.drop(name, is_table, force=force))

    return {"create": create, "list": list_, "details": details, "describe": describe,
            "schema": schema, "update": update, "drop": drop}


def add_routes(router: web.UrlDispatcher) -> None:
    for base, details_path, is_table in (("/streams", "/streamdetails", False),
                                          ("/tables", "/tabledetails", True)):
        h = handlers(is_table)
        router.add_post(base, h["create"])
        router.add_get(base, h["list"])
        router.add_get(details_path, h["details"])
        router.add_get(base + "/{name}", h["describe"])
        router.add_put(base + "/{name}", h["update"])
        router.add_delete(base + "/{name}", h["drop"])
        router.add_get(base + "/{name}/schema", h["schema"])
