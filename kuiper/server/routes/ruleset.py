"""`POST /ruleset/export` and `POST /ruleset/import`: streams, tables and rules as eKuiper's
ruleset JSON (kuiper/manage/ruleset.py)."""
from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from aiohttp import web

from kuiper.errors import ConfigError, KuiperError
from kuiper.server.app import engine_of, read_object, text
from kuiper.server.download import local_file


async def export(request: web.Request) -> web.Response:
    """The ruleset as a file to download (`ekuiper_export.json`), as eKuiper answers."""
    body = json.dumps(engine_of(request).export_ruleset(), ensure_ascii=False)
    return web.Response(body=body.encode("utf-8"), content_type="application/octet-stream",
                        headers={"Content-Disposition":
                                 'attachment; filename="ekuiper_export.json"'})


async def _read_file(file: str) -> str:
    async with local_file(file) as local:
        parsed = urllib.parse.urlparse(local)
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else local)
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"Fail to read file: {exc}") from None


async def import_(request: web.Request) -> web.Response:
    """`{"content": "<ruleset json>"}` or `{"file": "file:///…" | path | http(s) URL}`;
    answers `imported 1 streams, 0 tables and 2 rules`."""
    body = await read_object(request)
    content, file = body.get("content"), body.get("file")
    if content and file:
        raise KuiperError("Invalid body: Cannot specify both content and file")
    if not content and not file:
        raise KuiperError("Invalid body: must specify content or file",
                          hint='{"content": "{\\"streams\\": {}, \\"rules\\": {}}"}')
    if file:
        if not isinstance(file, str):
            raise KuiperError('Invalid body: "file" must be a string')
        content = await _read_file(file)
    if not isinstance(content, str | dict):
        raise KuiperError('Invalid body: "content" must be the ruleset JSON as a string')
    streams, tables, rules = await engine_of(request).import_ruleset(content)
    return text(f"imported {streams} streams, {tables} tables and {rules} rules")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/ruleset/export", export)
    router.add_post("/ruleset/import", import_)
