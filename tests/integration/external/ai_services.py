"""Real local "AI" services for the external-function tests: gRPC, HTTP and msgpack-rpc.

The AI: `get_feature(payload, device, seq)` returns a feature vector [mean, min, max], a label
("high" when the mean is over 10) and the mean as score, echoing seq; `classify(text)` says
"positive" when the text holds "good"; `ping()` (Empty) answers "pong"; `slow(seconds)` sleeps.
Every server binds 127.0.0.1 on a free port, counts its calls, and can be stopped mid-test.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import msgpack
from aiohttp import web

from kuiper.external.schema import compile_proto

AI_PROTO = """\
syntax = "proto3";
package ai;

import "google/protobuf/empty.proto";
import "google/protobuf/wrappers.proto";

service AI {
  rpc get_feature(FeatureRequest) returns (FeatureReply) {}
  rpc classify(google.protobuf.StringValue) returns (google.protobuf.StringValue) {}
  rpc ping(google.protobuf.Empty) returns (google.protobuf.StringValue) {}
  rpc slow(SlowRequest) returns (google.protobuf.StringValue) {}
}

message FeatureRequest {
  repeated double payload = 1;
  string device = 2;
  int64 seq = 3;
}

message FeatureReply {
  repeated double vector = 1;
  string label = 2;
  double score = 3;
  int64 seq = 4;
}

message SlowRequest { double seconds = 1; }
"""

REST_PROTO = """\
syntax = "proto3";
package airest;

import "google/api/annotations.proto";
import "google/protobuf/wrappers.proto";

service AIRest {
  rpc get_feature(FeatureRequest) returns (FeatureReply) {
    option (google.api.http) = { post: "/v1/devices/{device}/feature" body: "*" };
  }
  rpc classify(google.protobuf.StringValue) returns (google.protobuf.StringValue) {}
  rpc search(SearchRequest) returns (SearchReply) {
    option (google.api.http) = { get: "/v1/search" };
  }
  rpc slow(SlowRequest) returns (google.protobuf.StringValue) {}
}

message FeatureRequest {
  repeated double payload = 1;
  string device = 2;
  int64 big_seq = 3;
}

message FeatureReply {
  repeated double vector = 1;
  string label = 2;
  double score = 3;
  int64 big_seq = 4;
}

message SearchRequest { string author = 1; int32 page = 2; }
message SearchReply { string query = 1; }
message SlowRequest { double seconds = 1; }
"""


def feature(payload: list[float]) -> tuple[list[float], str, float]:
    mean = sum(payload) / len(payload) if payload else 0.0
    vec = [mean, min(payload), max(payload)] if payload else [0.0, 0.0, 0.0]
    return vec, ("high" if mean > 10 else "low"), mean


def classify(text: str) -> str:
    return "positive" if "good" in text else "negative"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()

    def hit(self) -> None:
        with self.lock:
            self.calls += 1


# --- gRPC -----------------------------------------------------------------------------------
class GrpcAI(Counter):
    """A grpcio server whose handlers are generated from the compiled descriptor."""

    def __init__(self, proto: Path, port: int | None = None) -> None:
        super().__init__()
        self.schema = compile_proto(proto)
        self.port = port or free_port()
        self.server: Any = None

    def _handlers(self) -> Any:
        m = self.schema.methods

        def wrap(name: str, fn: Callable[[Any], Any]) -> Any:
            def handle(request: Any, context: Any) -> Any:
                self.hit()
                return fn(request)

            return grpc.unary_unary_rpc_method_handler(
                handle, request_deserializer=m[name].input_cls.FromString,
                response_serializer=m[name].output_cls.SerializeToString)

        def get_feature(req: Any) -> Any:
            vec, label, score = feature(list(req.payload))
            return m["get_feature"].output_cls(vector=vec, label=label, score=score, seq=req.seq)

        def slow(req: Any) -> Any:
            time.sleep(req.seconds)
            return m["slow"].output_cls(value="done")

        return grpc.method_handlers_generic_handler("ai.AI", {
            "get_feature": wrap("get_feature", get_feature),
            "classify": wrap("classify", lambda r: m["classify"].output_cls(value=classify(r.value))),
            "ping": wrap("ping", lambda r: m["ping"].output_cls(value="pong")),
            "slow": wrap("slow", slow),
        })

    def start(self) -> GrpcAI:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
        self.server.add_generic_rpc_handlers((self._handlers(),))
        self.server.add_insecure_port(f"127.0.0.1:{self.port}")
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop(grace=None).wait()
            self.server = None


# --- asyncio servers on a thread ------------------------------------------------------------
class LoopThread:
    """An asyncio loop on a daemon thread, for the HTTP and msgpack-rpc servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class HttpAI(Counter):
    """An aiohttp server speaking the REST schema (http options) and a schemaless echo."""

    def __init__(self, loops: LoopThread, port: int | None = None) -> None:
        super().__init__()
        self.loops = loops
        self.port = port or free_port()
        self.runner: Any = None
        self.seen: list[dict[str, Any]] = []

    async def _feature(self, request: Any) -> Any:
        self.hit()
        body = await request.json()
        self.seen.append({"path": request.raw_path, "body": body})
        vec, label, score = feature(body.get("payload", []))
        return web.json_response({"vector": vec, "label": label, "score": score,
                                  "bigSeq": body.get("bigSeq", "0"),
                                  "device": request.match_info["device"]})

    async def _classify(self, request: Any) -> Any:
        self.hit()
        text = json.loads(await request.text())
        return web.json_response(classify(text))

    async def _search(self, request: Any) -> Any:
        self.hit()
        return web.json_response({"query": request.query_string})

    async def _slow(self, request: Any) -> Any:
        self.hit()
        body = await request.json()
        await asyncio.sleep(body.get("seconds", 0))
        return web.json_response("done")

    async def _echo(self, request: Any) -> Any:
        self.hit()
        body = await request.json() if request.can_read_body else None
        return web.json_response({"method": request.method, "body": body})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/devices/{device}/feature", self._feature)
        app.router.add_post("/classify", self._classify)
        app.router.add_get("/v1/search", self._search)
        app.router.add_post("/slow", self._slow)
        app.router.add_route("*", "/echo", self._echo)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    def start(self) -> HttpAI:
        self.loops.run(self._start())
        return self

    def stop(self) -> None:
        if self.runner is not None:
            self.loops.run(self.runner.cleanup())
            self.runner = None


class MsgpackAI(Counter):
    """A msgpack-rpc server: params are the request fields in order."""

    def __init__(self, loops: LoopThread, port: int | None = None) -> None:
        super().__init__()
        self.loops = loops
        self.port = port or free_port()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def _answer(self, method: str, params: list[Any]) -> tuple[Any, Any]:
        if method == "get_feature":
            payload, _device, seq = params
            vec, label, score = feature(payload or [])
            return None, {"vector": vec, "label": label, "score": score, "seq": seq}
        if method == "classify":
            return None, classify(params[0])
        if method == "ping":
            return None, "pong"
        if method == "slow":
            await asyncio.sleep(params[0])
            return None, "done"
        return f"unknown method {method}", None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        unpacker = msgpack.Unpacker(raw=False)

        async def reply(msgid: int, method: str, params: list[Any]) -> None:
            error, result = await self._answer(method, params)
            if not writer.is_closing():
                writer.write(msgpack.packb([1, msgid, error, result]))

        try:
            while data := await reader.read(65536):
                unpacker.feed(data)
                for _, msgid, method, params in unpacker:
                    self.hit()
                    asyncio.get_running_loop().create_task(reply(msgid, method, params))
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in self.writers:
                w.close()
            await self.server.wait_closed()
            self.server = None

    def start(self) -> MsgpackAI:
        self.loops.run(self._start())
        return self

    def stop(self) -> None:
        self.loops.run(self._stop())


# --- descriptors ------------------------------------------------------------------------------
def write_root(root: Path, services: dict[str, dict[str, Any]]) -> Path:
    """A kuiper root with the AI schemas and the given descriptors."""
    schemas = root / "etc" / "services" / "schemas"
    schemas.mkdir(parents=True, exist_ok=True)
    (schemas / "ai.proto").write_text(AI_PROTO)
    (schemas / "airest.proto").write_text(REST_PROTO)
    for name, desc in services.items():
        (root / "etc" / "services" / f"{name}.json").write_text(json.dumps(desc))
    return root


def ai_descriptor(grpc_port: int, http_port: int, msgpack_port: int,
                  options: dict[str, Any] | None = None) -> dict[str, Any]:
    opts = options or {}
    return {
        "about": {"author": {"name": "kuiper tests"}, "description": {"en_US": "AI services"}},
        "interfaces": {
            "aigrpc": {"address": f"tcp://127.0.0.1:{grpc_port}", "protocol": "grpc",
                       "schemaType": "protobuf", "schemaFile": "ai.proto", "options": opts,
                       "functions": [{"name": "getFeature", "serviceName": "get_feature"}]},
            "airest": {"address": f"http://127.0.0.1:{http_port}", "protocol": "rest",
                       "schemaType": "protobuf", "schemaFile": "airest.proto", "options": opts,
                       "functions": [{"name": "restFeature", "serviceName": "get_feature"},
                                     {"name": "restClassify", "serviceName": "classify"},
                                     {"name": "restSearch", "serviceName": "search"},
                                     {"name": "restSlow", "serviceName": "slow"}]},
            "airpc": {"address": f"tcp://127.0.0.1:{msgpack_port}", "protocol": "msgpack-rpc",
                      "schemaType": "protobuf", "schemaFile": "ai.proto", "options": opts,
                      "functions": [{"name": "rpcFeature", "serviceName": "get_feature"},
                                    {"name": "rpcClassify", "serviceName": "classify"},
                                    {"name": "rpcSlow", "serviceName": "slow"},
                                    {"name": "rpcPing", "serviceName": "ping"}]},
            "echo": {"address": f"http://127.0.0.1:{http_port}", "protocol": "rest",
                     "schemaless": True},
        },
    }
