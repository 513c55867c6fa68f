"""What the HTTP connectors share: client properties (eKuiper's names), request bodies,
response checks, error classification, and the one HTTP data server of httppush sources.

Errors: a connection failure, a timeout or a 5xx answer is a `ConnectorError` (recoverable:
the sink cache keeps the message); another non-2xx answer is a plain `KuiperError`.
"""
from __future__ import annotations

import asyncio
import logging
import os
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from kuiper.errors import ConfigError, ConnectorError, KuiperError
from kuiper.io.config import load_yaml_sections
from kuiper.runtime.conf import kuiper_conf
from kuiper.runtime.conf import section as conf_section
from kuiper.runtime.options import parse_duration_ms

log = logging.getLogger(__name__)

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")
BODY_TYPES = {"none": "", "text": "text/plain", "json": "application/json", "html": "text/html",
              "xml": "application/xml", "javascript": "application/javascript",
              "form": "application/x-www-form-urlencoded", "binary": "application/octet-stream"}
DEFAULT_PUSH_IP = "0.0.0.0"  # noqa: S104 - eKuiper's default: the data server listens on all
DEFAULT_PUSH_PORT = 10081


@dataclass(slots=True)
class ClientConf:
    """The HTTP client properties shared by the httppull source and the rest sink."""

    url: str
    method: str = "GET"
    timeout_ms: int = 5000
    headers: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_type: str = "none"
    response_type: str = "code"
    insecure_skip_verify: bool = True
    certification_path: str = ""
    private_key_path: str = ""
    root_ca_path: str = ""

    @classmethod
    def parse(cls, what: str, conf: dict[str, Any], *, default_method: str, url_suffix: str = ""
              ) -> ClientConf:
        url = conf.get("url")
        if not url or not isinstance(url, str):
            raise ConfigError(f"{what}: property 'url' is required", hint='"url": "http://host/path"')
        url = url + (url_suffix or "")
        if "{{" not in url.split("://", 1)[0] and not url.lower().startswith(("http://", "https://")):
            raise ConfigError(f"{what}: url '{url}' must start with http:// or https://")
        method = str(conf.get("method") or default_method).upper()
        if method not in METHODS and "{{" not in method:
            raise ConfigError(f"{what}: unsupported HTTP method '{method}'",
                              hint="one of " + ", ".join(METHODS))
        body_type = conf.get("bodyType")
        if not body_type:
            body_type = "none" if method in ("GET", "HEAD") else "json"
        body_type = str(body_type).lower()
        if body_type not in BODY_TYPES and "{{" not in body_type:
            raise ConfigError(f"{what}: invalid bodyType '{body_type}'",
                              hint="one of " + ", ".join(BODY_TYPES))
        response_type = str(conf.get("responseType") or "code")
        if response_type not in ("code", "body"):
            raise ConfigError(f"{what}: responseType must be 'code' or 'body', got {response_type!r}")
        headers = conf.get("headers") or {}
        if not isinstance(headers, dict):
            raise ConfigError(f"{what}: headers must be an object of name: value")
        body = conf.get("body") or ""
        if not isinstance(body, str):
            body = orjson.dumps(body).decode()
        try:
            timeout = parse_duration_ms(conf.get("timeout", 5000), "timeout")
        except ConfigError as exc:
            raise ConfigError(f"{what}: {exc.message}", hint=exc.hint) from None
        return cls(url=url, method=method, timeout_ms=timeout,
                   headers={str(k): v for k, v in headers.items()}, body=body,
                   body_type=body_type, response_type=response_type,
                   insecure_skip_verify=bool(conf.get("insecureSkipVerify", True)),
                   certification_path=str(conf.get("certificationPath") or ""),
                   private_key_path=str(conf.get("privateKeyPath") or ""),
                   root_ca_path=str(conf.get("rootCaPath") or ""))

    def ssl_context(self) -> ssl.SSLContext | bool:
        """The TLS settings for https URLs (True = default verification)."""
        if not (self.insecure_skip_verify or self.certification_path or self.root_ca_path):
            return True
        ctx = ssl.create_default_context(cafile=self.root_ca_path or None)
        if self.certification_path:
            ctx.load_cert_chain(self.certification_path, self.private_key_path or None)
        if self.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def session(self) -> aiohttp.ClientSession:
        """A pooled client session (create on the event loop that uses it)."""
        connector = aiohttp.TCPConnector(ssl=self.ssl_context(), limit=16)
        return aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=self.timeout_ms / 1000))


def encode_body(body_type: str, data: bytes | str) -> tuple[bytes | None, str]:
    """The request body and its content type for a message (bytes or text)."""
    if body_type == "none":
        return None, ""
    raw = data.encode() if isinstance(data, str) else data
    if body_type == "form":
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw, BODY_TYPES["form"]  # already urlencoded text (a dataTemplate wrote it)
        if not isinstance(value, dict):
            value = {"result": raw.decode("utf-8", "replace")}
        pairs = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in value.items()}
        return urllib.parse.urlencode(pairs).encode(), BODY_TYPES["form"]
    return raw, BODY_TYPES.get(body_type, "application/json")


def connector_error(what: str, exc: BaseException) -> ConnectorError:
    """An IO failure as eKuiper's recoverable "io error"."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        text = "timeout"
    return ConnectorError(f"io error: {what}: {text}")


def check_status(what: str, status: int, body: bytes, response_type: str) -> None:
    """Raise unless the answer is a success (status 2xx; with responseType body, `code` 2xx)."""
    if status >= 500:
        raise ConnectorError(f"io error: {what}: status {status}: {_short(body)}")
    if not 200 <= status <= 299:
        raise KuiperError(f"{what}: response code error: {status}: {_short(body)}")
    if response_type == "body":
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise KuiperError(f"{what}: response body error: not JSON: {exc}") from None
        for item in value if isinstance(value, list) else [value]:
            code = item.get("code") if isinstance(item, dict) else None
            if not isinstance(code, int) or not 200 <= code <= 299:
                raise KuiperError(f"{what}: response code error: body code {code!r}")


def _short(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


# --- the HTTP data server of httppush sources ------------------------------------------------
Handler = Callable[[bytes, dict[str, Any]], Awaitable[None]]


def push_server_address(root: str) -> tuple[str, int]:
    """`source.httpServerIp`/`httpServerPort` of `{root}/etc/kuiper.yaml`, overridden by the
    `source:` section of `{root}/etc/sources/httppush.yaml` (where eKuiper's docs put it)."""
    ip, port = DEFAULT_PUSH_IP, DEFAULT_PUSH_PORT
    sections = (conf_section(kuiper_conf(root), "source"),
                load_yaml_sections(os.path.join(root, "etc", "sources", "httppush.yaml"))
                .get("source") or {})
    for section in sections:
        ip = str(section.get("httpServerIp") or ip)
        port = int(section.get("httpServerPort") or port)
    return ip, port


class PushServer:
    """One aiohttp server shared by every httppush stream on an address; routes by path and
    method to the registered handlers (several streams may listen on one path)."""

    _servers: dict[tuple[str, int], PushServer] = {}

    def __init__(self, ip: str, port: int) -> None:
        self.ip, self.port = ip, port
        self.routes: dict[str, dict[str, list[Handler]]] = {}
        self._runner: web.AppRunner | None = None
        self._loop = asyncio.get_running_loop()
        self._starting = asyncio.Lock()

    @classmethod
    async def register(cls, ip: str, port: int, path: str, method: str, handler: Handler
                       ) -> PushServer:
        server = cls._servers.get((ip, port))
        if server is None or server._loop is not asyncio.get_running_loop():
            server = cls(ip, port)
            cls._servers[(ip, port)] = server
        server.routes.setdefault(path, {}).setdefault(method, []).append(handler)
        async with server._starting:
            if server._runner is None:
                try:
                    await server._start()
                except OSError as exc:
                    await server.unregister(path, method, handler)
                    raise ConnectorError(f"httppush: cannot listen on {ip}:{port}: {exc}",
                                         hint="set source.httpServerPort in etc/kuiper.yaml"
                                         ) from None
        return server

    async def unregister(self, path: str, method: str, handler: Handler) -> None:
        handlers = self.routes.get(path, {}).get(method, [])
        if handler in handlers:
            handlers.remove(handler)
        if not handlers:
            self.routes.get(path, {}).pop(method, None)
            if not self.routes.get(path):
                self.routes.pop(path, None)
        if not self.routes and self._runner is not None:
            runner, self._runner = self._runner, None
            if PushServer._servers.get((self.ip, self.port)) is self:
                del PushServer._servers[(self.ip, self.port)]
            await runner.cleanup()
            log.info("http data server on %s:%d stopped", self.ip, self.port)

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.ip, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("http data server listening on http://%s:%d", self.ip, self.port)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        methods = self.routes.get(request.path)
        if not methods:
            return web.Response(status=404, text=f"no httppush stream on {request.path}")
        handlers = methods.get(request.method)
        if not handlers:
            return web.Response(status=405, text=f"{request.method} not allowed; use "
                                + " or ".join(sorted(methods)))
        payload = await request.read()
        head = payload.lstrip()[:1]
        if head in (b"{", b"["):
            try:
                orjson.loads(payload)
            except orjson.JSONDecodeError as exc:
                return web.Response(status=400, text=f"Fail to decode data: {exc}")
        meta = {"path": request.path, "method": request.method}
        for handler in list(handlers):
            await handler(payload, meta)
        return web.Response(text="ok")
