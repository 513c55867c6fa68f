"""Compile a service's .proto schema at load time into message classes and per-method facts.

The .proto is compiled by grpcio-tools' protoc (run as `python -m grpc_tools.protoc` so its
error text can be captured) into a FileDescriptorSet in a temp dir; the set is loaded into a
private `DescriptorPool` per schema (never the global pool, so a service can be updated or
deleted and another can reuse the same message names). Imports resolve, in order, against the
schemas folder, the `google/api` annotations shipped in `kuiper/external/protos`, and the
well-known types bundled with grpcio-tools (`google/protobuf/*.proto`).
"""
from __future__ import annotations

import logging
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message

from kuiper.errors import ConfigError

log = logging.getLogger(__name__)

#: the google/api/*.proto files kuiper ships, so `option (google.api.http)` always compiles
PROTOS_DIR = Path(__file__).parent / "protos"
_HTTP_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class HttpBinding:
    """A method's `(google.api.http)` option: HTTP verb, URL template and body selector."""

    verb: str  # GET, POST, ...
    path: str  # "/v1/things/{id}"
    body: str  # "" (no body), "*" (the whole message) or a field name


@dataclass(frozen=True)
class MethodSchema:
    """One rpc of the schema with its request/response message classes."""

    name: str
    path: str  # gRPC path, "/pkg.Service/Method"
    input: Descriptor
    output: Descriptor
    input_cls: type[Message]
    output_cls: type[Message]
    http: HttpBinding | None


@dataclass(frozen=True)
class ProtoSchema:
    """A compiled schema file: its rpcs by name, in declaration order."""

    file: str
    methods: dict[str, MethodSchema]


def _well_known_dir() -> Path | None:
    try:
        import grpc_tools
    except ImportError:
        return None
    path = Path(grpc_tools.__file__).parent / "_proto"
    return path if path.is_dir() else None


def _run_protoc(schema: Path, import_dirs: Sequence[Path], out: Path) -> None:
    wkt = _well_known_dir()
    if wkt is None:
        raise ConfigError("compiling a .proto schema needs grpcio-tools",
                          hint="pip install grpcio-tools")
    includes = [*import_dirs, PROTOS_DIR, wkt]
    cmd = [sys.executable, "-m", "grpc_tools.protoc", *(f"-I{d}" for d in includes),
           "--include_imports", "--include_source_info", f"--descriptor_set_out={out}",
           str(schema)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"cannot run protoc on {schema.name}: {exc}") from None
    if done.returncode != 0:
        text = (done.stderr or done.stdout).strip().replace(str(out), "<out>")
        raise ConfigError(f"schema file {schema.name} does not compile: {text}")


def _http_binding(method_proto: descriptor_pb2.MethodDescriptorProto,
                  pool: descriptor_pool.DescriptorPool) -> HttpBinding | None:
    """Read `(google.api.http)` from the method's raw options with the schema's own pool."""
    if not method_proto.HasField("options"):
        return None
    try:
        ext = pool.FindExtensionByName("google.api.http")
    except KeyError:
        return None  # the file does not import google/api/annotations.proto
    options_cls = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("google.protobuf.MethodOptions"))
    options = options_cls.FromString(method_proto.options.SerializeToString())
    if not options.HasExtension(ext):
        return None
    rule = options.Extensions[ext]
    kind = rule.WhichOneof("pattern")
    if kind is None:
        return None
    if kind == "custom":
        verb, path = rule.custom.kind.upper(), rule.custom.path
    else:
        verb, path = kind.upper(), getattr(rule, kind)
    if not path.startswith("/"):
        raise ConfigError(f"http option of rpc {method_proto.name}: path {path!r} must start with /")
    return HttpBinding(verb, path, rule.body)


_cache: dict[tuple, ProtoSchema] = {}
_cache_lock = threading.Lock()


def compile_proto(schema: Path, import_dirs: Sequence[Path] = ()) -> ProtoSchema:
    """Compile `schema` (imports resolved against its folder and `import_dirs`).

    Raises ConfigError naming the file for a missing file or a schema that does not compile.
    Results are cached by path and modification time.
    """
    schema = Path(schema)
    if not schema.is_file():
        raise ConfigError(f"schema file {schema.name} not found at {schema}")
    dirs = [schema.parent.resolve(), *(Path(d).resolve() for d in import_dirs)]
    stat = schema.stat()
    key = (str(schema.resolve()), stat.st_mtime_ns, stat.st_size, tuple(map(str, dirs)))
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    with tempfile.TemporaryDirectory(prefix="kuiper-proto-") as tmp:
        out = Path(tmp) / "set.pb"
        _run_protoc(schema.resolve().relative_to(dirs[0]), dirs, out)
        fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    result = _load_set(fds, schema.name)
    with _cache_lock:
        _cache[key] = result
    return result


def _load_set(fds: descriptor_pb2.FileDescriptorSet, name: str) -> ProtoSchema:
    pool = descriptor_pool.DescriptorPool()
    for file_proto in fds.file:
        pool.Add(file_proto)
    main = fds.file[-1]  # --include_imports lists dependencies first
    methods: dict[str, MethodSchema] = {}
    for service_proto in main.service:
        prefix = f"{main.package}.{service_proto.name}" if main.package else service_proto.name
        service = pool.FindServiceByName(prefix)
        for method_proto in service_proto.method:
            if method_proto.client_streaming or method_proto.server_streaming:
                log.warning("schema %s: streaming rpc %s skipped (only unary calls are supported)",
                            name, method_proto.name)
                continue
            if method_proto.name in methods:
                log.warning("schema %s: rpc %s declared twice; the first is used",
                            name, method_proto.name)
                continue
            method = service.methods_by_name[method_proto.name]
            methods[method_proto.name] = MethodSchema(
                name=method_proto.name,
                path=f"/{prefix}/{method_proto.name}",
                input=method.input_type,
                output=method.output_type,
                input_cls=message_factory.GetMessageClass(method.input_type),
                output_cls=message_factory.GetMessageClass(method.output_type),
                http=_http_binding(method_proto, pool),
            )
    if not methods:
        raise ConfigError(f"schema file {name} declares no service with a unary rpc")
    return ProtoSchema(name, methods)


def clear_cache() -> None:
    """Forget compiled schemas (tests; a service update recompiles by mtime anyway)."""
    with _cache_lock:
        _cache.clear()


__all__ = ["PROTOS_DIR", "HttpBinding", "MethodSchema", "ProtoSchema", "compile_proto",
           "clear_cache"]
