"""The aiohttp application: `create_app(engine)`, eKuiper's error bodies, response helpers.

Errors are answered as eKuiper does: HTTP 404 for a missing stream/rule/plugin/service, 400
for every other KuiperError, both with `{"error": code, "message": "…"}` (the code from
kuiper/errors.py). Routes live in `kuiper.server.routes`, one module per resource, and only
call the service layer (`kuiper.manage.Engine`).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kuiper.errors import ConfigError, KuiperError, NotFoundError
from kuiper.manage.engine import Engine

log = logging.getLogger(__name__)

ENGINE: web.AppKey[Engine] = web.AppKey("engine", Engine)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def engine_of(request: web.Request) -> Engine:
    return request.app[ENGINE]


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": code, "message": message}


def error_response(exc: KuiperError, status: int | None = None) -> web.Response:
    if status is None:
        status = 404 if isinstance(exc, NotFoundError) else 400
    return web.json_response(error_body(exc.code, str(exc)), status=status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """KuiperError -> eKuiper's error body; anything else -> 500 with the same shape."""
    try:
        return await handler(request)
    except KuiperError as exc:
        log.info("%s %s: %s", request.method, request.path, exc)
        return error_response(exc)
    except web.HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - a bug must not kill the server
        log.exception("%s %s failed", request.method, request.path)
        return web.json_response(error_body(KuiperError.code, f"internal error: {exc}"),
                                 status=500)


def text(message: str, status: int = 200) -> web.Response:
    return web.Response(text=message, status=status, content_type="text/plain")


def as_json(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


async def read_json(request: web.Request) -> Any:
    """The request's JSON body; a malformed one is a 400 as in eKuiper ("Invalid body: …")."""
    raw = await request.read()
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise KuiperError(f"Invalid body: {exc}") from None


async def read_object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise KuiperError("Invalid body: a JSON object is expected")
    return body


async def read_package(
    request: web.Request, name: str | None, example: str
) -> tuple[dict[str, Any], str, str]:
    """(body, name, file) of a plugin/service install request `{"name", "file", …}`; a name in
    the path wins over the body's."""
    body = await read_object(request)
    name = name or body.get("name")
    file = body.get("file")
    if not isinstance(name, str) or not name:
        raise ConfigError('Invalid body: "name" is required')
    if not isinstance(file, str) or not file:
        raise ConfigError('Invalid body: "file" is required', hint=example)
    return body, name, file


def create_app(engine: Engine) -> web.Application:
    """The REST application over an opened engine (the caller opens and closes it)."""
    from kuiper.server.routes import add_routes

    app = web.Application(middlewares=[errors_middleware], client_max_size=1 << 30)
    app[ENGINE] = engine
    add_routes(app)
    return app
