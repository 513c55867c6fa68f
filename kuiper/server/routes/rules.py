"""`/rules`: create, list, describe, update, delete, start/stop/restart, status, topo,
explain, validate; tags, bulk start/stop, reset_state, CPU usage."""
from __future__ import annotations

from aiohttp import web

from kuiper.errors import KuiperError
from kuiper.server.app import as_json, engine_of, error_body, read_json, text


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


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KuiperError(f'Invalid body: "{what}" must be an array of strings',
                          hint='{"tags": ["t1", "t2"]}')
    return value


async def _tags_body(request: web.Request, *keys: str) -> list[str]:
    """The tag list of a tags request: the first of `keys` present in the JSON object."""
    body = await read_json(request)
    if isinstance(body, dict):
        for key in keys:
            if key in body:
                return _strings(body[key], key)
    raise KuiperError(f'Invalid body: "{keys[0]}" is required', hint='{"tags": ["t1", "t2"]}')


async def set_tags(request: web.Request) -> web.Response:
    """PUT replaces the tags, PATCH adds to them, DELETE (`{"keys": [...]}`) removes some;
    200 with an empty body, as in eKuiper."""
    mode = {"PUT": "reset", "PATCH": "add", "DELETE": "remove"}[request.method]
    keys = ("keys", "tags") if mode == "remove" else ("tags",)
    engine_of(request).rules.set_tags(_id(request), await _tags_body(request, *keys), mode)
    return web.Response(status=200)


async def match_tags(request: web.Request) -> web.Response:
    """`{"tags": [...]}` (also `{"keys": [...]}` or `?tags=a,b`) -> `{"rules": [ids]}`: the
    rules having all of the tags."""
    if "tags" in request.query:
        tags = [t for t in request.query["tags"].split(",") if t]
    else:
        tags = await _tags_body(request, "tags", "keys")
    return as_json({"rules": engine_of(request).rules.match_tags(tags)})


async def _bulk_ids(request: web.Request) -> list[str]:
    """`[{"id": "r1"}, …]` names the rules; `{"tags": [...]}` selects them by tags."""
    body = await read_json(request)
    if isinstance(body, dict) and "tags" in body:
        return engine_of(request).rules.match_tags(_strings(body["tags"], "tags"))
    if isinstance(body, list):
        ids = [item.get("id") if isinstance(item, dict) else item for item in body]
        if all(isinstance(i, str) and i for i in ids):
            return ids
    raise KuiperError('Invalid body: an array of {"id": "rule"} or {"tags": [...]} is expected',
                      hint='[{"id": "rule1"}, {"id": "rule2"}]')


async def bulk_start(request: web.Request) -> web.Response:
    return as_json(await engine_of(request).rules.bulk(await _bulk_ids(request), start=True))


async def bulk_stop(request: web.Request) -> web.Response:
    return as_json(await engine_of(request).rules.bulk(await _bulk_ids(request), start=False))


async def reset_state(request: web.Request) -> web.Response:
    await engine_of(request).rules.reset_state(_id(request))
    return text("success")


async def cpu_usage(request: web.Request) -> web.Response:
    return as_json(engine_of(request).rules.cpu_usage())


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/rules", create)
    router.add_get("/rules", list_)
    router.add_post("/rules/validate", validate)
    router.add_get("/rules/status/all", status_all)
    router.add_get("/rules/tags/match", match_tags)
    router.add_post("/rules/tags/match", match_tags)
    router.add_post("/rules/bulkstart", bulk_start)
    router.add_post("/rules/bulkstop", bulk_stop)
    router.add_get("/rules/usage/cpu", cpu_usage)
    router.add_get("/rules/{id}", describe)
    router.add_put("/rules/{id}", update)
    router.add_delete("/rules/{id}", delete)
    router.add_post("/rules/{id}/start", start)
    router.add_post("/rules/{id}/stop", stop)
    router.add_post("/rules/{id}/restart", restart)
    router.add_get("/rules/{id}/status", status)
    router.add_get("/rules/{id}/topo", topo)
    router.add_get("/rules/{id}/explain", explain)
    router.add_put("/rules/{id}/reset_state", reset_state)
    for method in ("PUT", "PATCH", "DELETE"):
        router.add_route(method, "/rules/{id}/tags", set_tags)
