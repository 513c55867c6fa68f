"""The httppull source: requests a URL every `interval` and feeds the answer to the stream.

Properties (etc/sources/httppull.yaml sections + CONF_KEY, eKuiper's names): url (DATASOURCE
is appended to it, as in eKuiper), method (GET), interval (ms, 10000), timeout (ms, 5000),
headers, body, bodyType (none|json|text|html|xml|javascript|form), responseType (code|body),
incremental (skip an answer identical to the previous one), insecureSkipVerify,
certificationPath, privateKeyPath, rootCaPath. url, body and headers are templates over
`{{.LastPullTime}}` and `{{.PullTime}}` (epoch ms) for time-windowed pulls. The answer body is
decoded with the stream's FORMAT (json: an object or an array of objects).
"""
from __future__ import annotations

import hashlib
import time
from typing import Any

import aiohttp

from kuiper.api import Context, Source
from kuiper.errors import ConfigError, KuiperError
from kuiper.io.http_common import ClientConf, check_status, connector_error, encode_body
from kuiper.runtime.options import parse_duration_ms
from kuiper.runtime.registry import register_source
from kuiper.runtime.template import compile_template, resolve_props


@register_source("httppull")
class HttpPullSource(Source):
    """A pull source: the runtime calls `pull` every `interval` seconds."""

    def __init__(self) -> None:
        self.conf: ClientConf | None = None
        self.incremental = False
        self.interval = 10.0
        self._session: aiohttp.ClientSession | None = None
        self._last_md5 = ""
        self._last_pull_ms: int | None = None
        self.requests_total = 0

    def configure(self, datasource: str, conf: dict[str, Any]) -> None:
        self.conf = ClientConf.parse("httppull source", conf, default_method="GET",
                                     url_suffix=datasource or "")
        try:
            interval_ms = parse_duration_ms(conf.get("interval", 10000), "interval")
        except ConfigError as exc:
            raise ConfigError(f"httppull source: {exc.message}", hint=exc.hint) from None
        if interval_ms <= 0:
            raise ConfigError("httppull source: 'interval' must be a positive number of ms")
        self.interval = interval_ms / 1000
        self.incremental = bool(conf.get("incremental", False))
        for text in (self.conf.url, self.conf.body, *map(str, self.conf.headers.values())):
            compile_template(text)  # a bad template fails at configure time

    async def open(self, ctx: Context) -> None:
        assert self.conf is not None
        self._session = self.conf.session()

    async def pull(self, ctx: Context) -> None:
        conf, session = self.conf, self._session
        assert conf is not None and session is not None
        now = time.time_ns() // 1_000_000
        last = self._last_pull_ms if self._last_pull_ms is not None else now - int(
            self.interval * 1000)
        times = {"LastPullTime": last, "PullTime": now}
        url = resolve_props(conf.url, times)
        body = resolve_props(conf.body, times)
        headers = {k: str(v) for k, v in resolve_props(conf.headers, times).items()}
        data, content_type = encode_body(conf.body_type, body)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        self.requests_total += 1
        try:
            async with session.request(conf.method, url, data=data, headers=headers) as resp:
                payload = await resp.read()
                check_status(f"httppull {conf.method} {url}", resp.status, payload,
                             conf.response_type)
        except KuiperError as exc:
            ctx.emit_error(exc)
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            ctx.emit_error(connector_error(f"httppull {conf.method} {url}", exc))
            return
        self._last_pull_ms = now
        if self.incremental:
            digest = hashlib.md5(payload, usedforsecurity=False).hexdigest()
            if digest == self._last_md5:
                return
            self._last_md5 = digest
        if payload.strip():
            ctx.emit_bytes(payload)

    async def close(self, ctx: Context) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
