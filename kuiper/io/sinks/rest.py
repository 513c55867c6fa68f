"""The rest sink: sends each result message to an HTTP endpoint.

Properties (eKuiper's names): url (required), method (POST), bodyType (json|text|html|xml|
javascript|form|binary|none; json by default, none for GET/HEAD), timeout (ms, 5000), headers,
debugResp (log the answers), responseType (code|body), insecureSkipVerify, certificationPath,
privateKeyPath, rootCaPath. url, method, bodyType and headers may be templates resolved per
message (`"url": "http://h/{{.deviceId}}"`). The body is the encoded message (format json, or
the dataTemplate's output); bodyType form sends a JSON object's fields urlencoded.
One pooled aiohttp session per sink. A connection error, a timeout or a 5xx answer raises
ConnectorError (so retryCount and enableCache apply); another non-2xx answer drops the message.
"""
from __future__ import annotations

from typing import Any

import aiohttp

from kuiper.api import Context, Sink
from kuiper.io.http_common import ClientConf, check_status, connector_error, encode_body
from kuiper.runtime.registry import register_sink


@register_sink("rest")
class RestSink(Sink):
    accepts_bytes = True

    def __init__(self) -> None:
        self.conf: ClientConf | None = None
        self.debug_resp = False
        self._session: aiohttp.ClientSession | None = None

    def configure(self, conf: dict[str, Any]) -> None:
        self.conf = ClientConf.parse("rest sink", conf, default_method="POST")
        self.debug_resp = bool(conf.get("debugResp", False))

    async def open(self, ctx: Context) -> None:
        assert self.conf is not None
        self._session = self.conf.session()

    async def collect(self, ctx: Context, data: Any) -> None:
        conf = self.conf
        assert conf is not None
        if self._session is None:
            self._session = conf.session()
        dyn: dict[str, Any] = getattr(ctx, "dynamic_props", None) or {}
        url = str(dyn.get("url", conf.url))
        method = str(dyn.get("method", conf.method)).upper()
        body_type = str(dyn.get("bodyType", conf.body_type)).lower()
        headers = {str(k): str(v) for k, v in (dyn.get("headers") or conf.headers).items()}
        payload = data if isinstance(data, bytes | str) else str(data)
        body, content_type = encode_body(body_type, payload)
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        what = f"rest sink {method} {url}"
        try:
            async with self._session.request(method, url, data=body, headers=headers) as resp:
                answer = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise connector_error(what, exc) from None
        if self.debug_resp:
            ctx.get_logger().info("%s: response %d: %s", what, status,
                                  answer.decode("utf-8", "replace"))
        check_status(what, status, answer, conf.response_type)

    async def close(self, ctx: Context) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
