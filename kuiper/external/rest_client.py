"""REST calls: JSON over HTTP with aiohttp, routed by `google.api.http` options or POST /{rpc}.

With an http option the verb and URL template come from it: `{field}` (or `{a.b}`, or
`{field=prefix/*}`) takes a request field's value into the path; `body: "*"` sends the rest of
the message as the body, `body: "field"` sends that field, and every field used by neither
goes to the query string (set fields only, nested messages flattened as `a.b=`). Without an
option: POST `address + "/" + rpc` with the whole message as the body (or, for a
`google.protobuf.StringValue` input, that string as it is: it must be JSON). Bodies use
protobuf's canonical JSON mapping. A schemaless interface is called `iface(verb, path, args…)`:
one argument is the JSON body, several are sent as a JSON array, none sends no body.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import orjson
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from kuiper.external.client import CallFailed
from kuiper.external.mapping import (
    MappingError,
    from_json,
    is_wrapper,
    plain_bytes,
    to_json,
    to_message,
    to_value,
)
from kuiper.external.schema import HttpBinding, MethodSchema
from kuiper.external.service import InterfaceDef

_VAR = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")
_VERBS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
_SNIPPET = 200


@dataclass(frozen=True)
class HttpRequest:
    verb: str
    path: str  # starts with /, with the query string
    body: bytes | None


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _get_path(msg: Message, dotted: str) -> Any:
    cur: Any = msg
    for part in dotted.split("."):
        try:
            cur = getattr(cur, part)
        except AttributeError:
            raise MappingError(f"http option: field {dotted} not found") from None
    return cur


def _query_pairs(msg: Message, prefix: str, skip: set[str]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for fd, value in msg.ListFields():
        if fd.name in skip:
            continue
        key = prefix + fd.name
        if fd.type == FieldDescriptor.TYPE_MESSAGE and not fd.is_repeated:
            if is_wrapper(fd.message_type):
                pairs.append((key, _text(value.value)))
            else:
                pairs.extend(_query_pairs(value, key + ".", set()))
        elif fd.is_repeated:
            pairs.extend((key, _text(x)) for x in value
                         if not isinstance(x, Message))
        else:
            pairs.append((key, _text(value)))
    return pairs


def build_request(m: MethodSchema, args: list[Any]) -> HttpRequest:
    """The HTTP request for a call of rpc `m` with SQL arguments."""
    msg = to_message(m.input_cls, m.input, args)
    rule = m.http
    if rule is None:
        if m.input.full_name == "google.protobuf.StringValue":
            body = msg.value.encode()  # type: ignore[attr-defined]
        else:
            body = orjson.dumps(to_json(msg))
        return HttpRequest("POST", "/" + m.name, body)
    return _apply_rule(rule, msg)


def _apply_rule(rule: HttpBinding, msg: Message) -> HttpRequest:
    used: set[str] = set()

    def substitute(match: re.Match[str]) -> str:
        name, pattern = match.group(1).strip(), match.group(2)
        value = _get_path(msg, name)
        if isinstance(value, Message):
            raise MappingError(f"http option: path field {name} must be a scalar")
        text = _text(value)
        if pattern:
            prefix = pattern.split("*", 1)[0]
            if prefix and not text.startswith(prefix):
                raise MappingError(f"http option: field {name}={text!r} must start with {prefix}")
            return quote(text, safe="/")
        return quote(text, safe="")

    path = _VAR.sub(substitute, rule.path)
    for match in _VAR.finditer(rule.path):
        used.add(match.group(1).strip().split(".")[0])
    body: bytes | None = None
    if rule.body == "*":
        rest = type(msg)()
        rest.CopyFrom(msg)
        for name in used:
            rest.ClearField(name)
        body = orjson.dumps(to_json(rest))
    else:
        if rule.body:
            fd = msg.DESCRIPTOR.fields_by_name.get(rule.body)
            if fd is None:
                raise MappingError(f"http option: body field {rule.body} not found")
            value = getattr(msg, rule.body)
            body = orjson.dumps(to_json(value) if isinstance(value, Message)
                                else plain_bytes(to_value_plain(value)))
            used.add(rule.body)
        pairs = _query_pairs(msg, "", used)
        if pairs:
            path += ("&" if "?" in path else "?") + urlencode(pairs)
    return HttpRequest(rule.verb, path, body)


def to_value_plain(value: Any) -> Any:
    """A repeated/scalar field value as JSON-ready plain data."""
    if hasattr(value, "__iter__") and not isinstance(value, str | bytes):
        return [to_value(x) if isinstance(x, Message) else x for x in value]
    return value


def schemaless_request(args: list[Any]) -> HttpRequest:
    """`iface(verb, path, args…)` of a schemaless interface."""
    if len(args) < 2 or not isinstance(args[0], str) or not isinstance(args[1], str):
        raise MappingError("a schemaless REST function is called as f(verb, path, args…) "
                           "with string verb and path")
    verb, path = args[0].upper(), args[1]
    if verb not in _VERBS:
        raise MappingError(f"unknown HTTP verb {args[0]!r}")
    if not path.startswith("/"):
        path = "/" + path
    rest = args[2:]
    body = None
    if len(rest) == 1:
        body = orjson.dumps(rest[0], default=plain_bytes)
    elif rest:
        body = orjson.dumps(list(rest), default=plain_bytes)
    return HttpRequest(verb, path, body)


class RestClient:
    """One aiohttp session (a pooled connector bounded by the interface's concurrency)."""

    def __init__(self, iface: InterfaceDef) -> None:
        self._iface = iface
        self._base = iface.address.rstrip("/")
        self._session: Any = None

    def _get_session(self) -> Any:
        if self._session is None or self._session.closed:
            import aiohttp

            opts = self._iface.options
            connector = aiohttp.TCPConnector(limit=opts.concurrency,
                                             ssl=False if opts.insecure_skip_verify else True)
            self._session = aiohttp.ClientSession(connector=connector, headers=opts.headers)
        return self._session

    async def call(self, method: str, args: list[Any]) -> Any:
        import aiohttp

        schema = self._iface.schema
        m = None if schema is None else schema.methods[method]
        try:
            req = schemaless_request(args) if m is None else build_request(m, args)
        except MappingError as exc:
            raise CallFailed(str(exc)) from None
        url = self._base + req.path
        headers = {"Content-Type": "application/json"} if req.body is not None else None
        try:
            async with self._get_session().request(req.verb, url, data=req.body,
                                                   headers=headers) as resp:
                payload = await resp.read()
                status, ctype = resp.status, resp.headers.get("Content-Type", "")
        except aiohttp.ClientError as exc:
            raise CallFailed(f"{req.verb} {url}: {exc or type(exc).__name__}",
                             retryable=True) from None
        if not 200 <= status < 300:
            text = payload[:_SNIPPET].decode("utf-8", "replace")
            raise CallFailed(f"{req.verb} {url}: http status {status}: {text}",
                             retryable=status >= 500 or status == 429)
        return _decode(payload, ctype, m, f"{req.verb} {url}")

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _decode(payload: bytes, ctype: str, m: MethodSchema | None, where: str) -> Any:
    if not payload:
        return None if m is None else to_value(m.output_cls())
    if ctype.startswith("text/plain") and (m is None or is_wrapper(m.output)):
        text = payload.decode("utf-8", "replace")
        if m is None:
            return text
        try:
            return from_json(text if m.output.full_name.endswith("StringValue")
                             else orjson.loads(text), m.output_cls)
        except (orjson.JSONDecodeError, MappingError) as exc:
            raise CallFailed(f"{where}: cannot read response {text!r}: {exc}") from None
    if ctype and "json" not in ctype:
        raise CallFailed(f"{where}: unsupported response content type {ctype}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CallFailed(f"{where}: response is not JSON: {exc}") from None
    if m is None:
        return obj
    try:
        return from_json(obj, m.output_cls)
    except MappingError as exc:
        raise CallFailed(f"{where}: {exc}") from None
