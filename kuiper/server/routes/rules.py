"""`/rules`: create, list, describe, update, delete, start/stop/restart, status, topo,
explain, validate."""
from __future__ import annotations

from aiohttp import web

from kuiper.errors import KuiperError
from kuiper.server.app import as_json, engine_of, error_body, text


def _id(request: web.Request) -> str:
    return request.match_info["id"]


async def create(request: web.Request) -> web.Response:
    rule_id = await engine_of(request).rules.create(await request.read())
    return text(f"Rule {rule_id} was created successfully.", status=201)


async def list_(request: web.Request) -> web.Response:
    return as_json(engine_of(request).rules.list())


async def describe(request: web.Request) -> web.Response:
    return as_json(engine_of(request).rules.describe(_id(request)))


async def update(request: web.Request) -> web.Response:
    await engine_of(request).rules.update(_id(request), await request.read())
    return text(f"Rule {_id(request)} was updated successfully.")


async def delete(request: web.Request) -> web.Response:
    await engine_of(request).rules.delete(_id(request))
    return text(f"Rule {_id(request)} is dropped.")


async def start(request: web.Request) -> web.Response:
    await engine_of(request).rules.start(_id(request))
    return text(f"Rule {_id(request)} was started")


async def stop(request: web.Request) -> web.Response:
    await engine_of(request).rules.stop(_id(request))
    return text(f"Rule {_id(request)} was stopped.")


async def restart(request: web.Request) -> web.Response:
    await engine_of(request).rules.restart(_id(request))
    return text(f"Rule {_id(request)} was restarted")


async def status(request: web.Request) -> web.Response:
    return as_json(engine_of(request).rules.status(_id(request)))


async def status_all(request: web.Request) -> web.Response:
    return as_json(engine_of(request).rules.status_all())


async def topo(request: web.Request) -> web.Response:
    return as_json(engine_of(request).rules.topo(_id(request)))


async def explain(request: web.Request) -> web.Response:
    return text(engine_of(request).rules.explain(_id(request)))


async def validate(request: web.Request) -> web.Response:
    """200 `{"valid": true, "sources": [...]}`; an invalid rule is 422 with the error body."""
    try:
        sources = engine_of(request).rules.validate(await request.read())
    except KuiperError as exc:
        return as_json(error_body(exc.code, str(exc)), status=422)
    return as_json({"valid": True, "sources": sources})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/rules", create)
    router.add_get("/rules", list_)
    router.add_post("/rules/validate", validate)
    router.add_get("/rules/status/all", status_all)
    router.add_get("/rules/{id}", describe)
    router.add_put("/rules/{id}", update)
    router.add_delete("/rules/{id}", delete)
    router.add_post("/rules/{id}/start", start)
    router.add_post("/rules/{id}/stop", stop)
    router.add_post("/rules/{id}/restart", restart)
    router.add_get("/rules/{id}/status", status)
    router.add_get("/rules/{id}/topo", topo)
    router.add_get("/rules/{id}/explain", explain)
