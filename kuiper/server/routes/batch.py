"""`POST /batch/req`: several requests in one, run in order against this same app.

The body is eKuiper's `[{"method": "POST", "path": "/streams", "body": "<text>"}, …]` (a
`body` given as a JSON object or array is sent as its JSON text). The answer is one
`{"code": status, "response": "<body text>"}` per request, in order; a request that cannot
be made at all gets `{"code": 0, "response": "", "error": "…"}`, as eKuiper's does. A
failed request does not stop the ones after it.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from kuiper.errors import KuiperError
from kuiper.server.app import as_json, errors_middleware

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


async def _dispatch(template: web.Request, method: str, path: str, body: bytes) -> tuple[int, str]:
    """Run one request through the app's router and error middleware, in process."""
    sub = template.clone(method=method, rel_url=path)
    # The sub-request must not read the batch's own payload: its body is given here.
    sub._read_bytes = body  # noqa: SLF001 - aiohttp's cached body, read by request.read()
    match = await template.app.router.resolve(sub)
    match.add_app(template.app)
    match.freeze()
    sub._match_info = match  # noqa: SLF001 - what aiohttp's own dispatch sets
    try:
        resp = await errors_middleware(sub, match.handler)
    except web.HTTPException as exc:
        return exc.status, exc.text or ""
    raw = resp.body if isinstance(resp, web.Response) else None
    if isinstance(raw, bytes | bytearray):
        return resp.status, bytes(raw).decode("utf-8", errors="replace")
    return resp.status, ""


async def batch(request: web.Request) -> web.Response:
    template = request.clone()  # before the body is read: aiohttp clones unread requests only
    try:
        items = json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise KuiperError(f"Invalid body: {exc}") from None
    if not isinstance(items, list):
        raise KuiperError('Invalid body: an array of {"method", "path", "body"} is expected')
    out: list[dict[str, Any]] = []
    for item in items:
        method = str(item.get("method", "")).upper() if isinstance(item, dict) else ""
        path = item.get("path") if isinstance(item, dict) else None
        if method not in METHODS or not isinstance(path, str) or not path.startswith("/"):
            out.append({"code": 0, "response": "",
                        "error": f"invalid request {item!r}: a method "
                                 f"({', '.join(sorted(METHODS))}) and a path starting "
                                 "with / are required"})
            continue
        code, text = await _dispatch(template, method, path, _body_bytes(item.get("body")))
        out.append({"code": code, "response": text})
    return as_json(out)


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/batch/req", batch)
