"""The protobuf format: `SCHEMAID="proto1.Book"` is message `Book` of `proto1.proto`.

Schemas are `.proto` files under `{root}/etc/schemas/protobuf/` (eKuiper's
`{root}/data/schemas/protobuf/` is searched too). A schema is compiled when the rule is built,
with grpcio-tools' bundled protoc into a descriptor set, and loaded into a private descriptor
pool (no generated modules, so two schemas never clash). Compiled schemas are cached by
path and modification time. Decoding gives every field of the message (defaults included),
nested messages as objects, repeated fields as arrays, enums as their numbers, bytes as bytea.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from importlib import resources
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from kuiper.api.batch import Batch
from kuiper.catalog.defs import StreamDef
from kuiper.errors import ConfigError
from kuiper.runtime.registry import register_encoder, register_format
from kuiper.runtime.schema import rows_to_batch

log = logging.getLogger(__name__)

Errors = list[tuple[int, str]]
SCHEMA_DIRS = (os.path.join("etc", "schemas", "protobuf"), os.path.join("data", "schemas", "protobuf"))
_CACHE: dict[tuple[str, float], descriptor_pool.DescriptorPool] = {}
_LOCK = threading.Lock()


def _root_default() -> str:
    return os.environ.get("KUIPER_ROOT") or os.getcwd()


def find_schema(root: str, schema_id: str) -> tuple[str, str]:
    """(path of the .proto file, message name) for a schema id `file.Message`."""
    file_name, _, message = (schema_id or "").partition(".")
    if not file_name or not message:
        raise ConfigError(f"protobuf schema id '{schema_id}' must be 'file.Message'",
                          hint='SCHEMAID="proto1.Book" for message Book in proto1.proto')
    for folder in SCHEMA_DIRS:
        path = os.path.join(root, folder, file_name + ".proto")
        if os.path.isfile(path):
            return path, message
    raise ConfigError(f"protobuf schema '{file_name}' not found",
                      hint=f"put {file_name}.proto under {os.path.join(root, SCHEMA_DIRS[0])}")


def _compile(path: str) -> descriptor_pool.DescriptorPool:
    from grpc_tools import protoc  # imported here: only protobuf rules pay for it

    include = str(resources.files("grpc_tools") / "_proto")
    with tempfile.TemporaryDirectory(prefix="kuiper-proto-") as tmp:
        out = os.path.join(tmp, "set.pb")
        args = ["protoc", f"-I{os.path.dirname(path)}", f"-I{include}",
                f"--descriptor_set_out={out}", "--include_imports", os.path.basename(path)]
        if protoc.main(args) != 0 or not os.path.isfile(out):
            raise ConfigError(f"protobuf schema {path} does not compile",
                              hint="run protoc on it to see the error")
        with open(out, "rb") as f:
            fds = descriptor_pb2.FileDescriptorSet.FromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fdp in fds.file:
        pool.Add(fdp)
    return pool


def message_class(root: str, schema_id: str) -> type[Message]:
    """The message class of a schema id, compiling its .proto file once per version."""
    path, name = find_schema(root, schema_id)
    key = (os.path.abspath(path), os.path.getmtime(path))
    with _LOCK:
        pool = _CACHE.get(key)
        if pool is None:
            pool = _CACHE[key] = _compile(path)
    fdesc = pool.FindFileByName(os.path.basename(path))
    desc = fdesc.message_types_by_name.get(name)
    if desc is None:
        package = fdesc.package + "." if fdesc.package else ""
        try:
            desc = pool.FindMessageTypeByName(package + name)
        except KeyError:
            known = ", ".join(fdesc.message_types_by_name)
            raise ConfigError(f"protobuf schema {path} has no message '{name}'",
                              hint=f"messages: {known}") from None
    return message_factory.GetMessageClass(desc)


def _value(fd: FieldDescriptor, v: Any) -> Any:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return to_dict(v)
    return v


def to_dict(msg: Message) -> dict[str, Any]:
    """A message as a row: every field, defaults included."""
    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        v = getattr(msg, fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            vfd = fd.message_type.fields_by_name["value"]
            out[fd.name] = {k: _value(vfd, x) for k, x in v.items()}
        elif fd.is_repeated:
            out[fd.name] = [_value(fd, x) for x in v]
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            out[fd.name] = to_dict(v) if msg.HasField(fd.name) else None
        else:
            out[fd.name] = v
    return out


def _scalar(fd: FieldDescriptor, v: Any) -> Any:
    t = fd.cpp_type
    if t in (FieldDescriptor.CPPTYPE_INT32, FieldDescriptor.CPPTYPE_INT64,
             FieldDescriptor.CPPTYPE_UINT32, FieldDescriptor.CPPTYPE_UINT64,
             FieldDescriptor.CPPTYPE_ENUM):
        if isinstance(v, float) and not v.is_integer():
            raise ValueError(f"field '{fd.name}' needs an integer, got {v}")
        return int(v)
    if t in (FieldDescriptor.CPPTYPE_FLOAT, FieldDescriptor.CPPTYPE_DOUBLE):
        return float(v)
    if t == FieldDescriptor.CPPTYPE_BOOL:
        return bool(v)
    if fd.type == FieldDescriptor.TYPE_BYTES and isinstance(v, str):
        return v.encode()
    return v


def from_dict(msg: Message, row: dict[str, Any]) -> Message:
    """Fill a message from a row; keys the message does not have are ignored."""
    desc: Descriptor = msg.DESCRIPTOR
    for key, v in row.items():
        fd = desc.fields_by_name.get(key)
        if fd is None or v is None:
            continue
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            target = getattr(msg, key)
            vfd = fd.message_type.fields_by_name["value"]
            for mk, mv in dict(v).items():
                if vfd.type == FieldDescriptor.TYPE_MESSAGE:
                    from_dict(target[mk], mv)
                else:
                    target[mk] = _scalar(vfd, mv)
        elif fd.is_repeated:
            target = getattr(msg, key)
            for item in v:
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    from_dict(target.add(), item)
                else:
                    target.append(_scalar(fd, item))
        elif fd.type == FieldDescriptor.TYPE_MESSAGE:
            from_dict(getattr(msg, key), v)
        else:
            setattr(msg, key, _scalar(fd, v))
    return msg


@register_format("protobuf")
class ProtobufDecoder:
    """Payloads of the stream's SCHEMAID message into rows, then columns."""

    def __init__(self, stream: StreamDef, fields: list[str] | None = None) -> None:
        self.stream = stream
        self.wanted = fields
        self.schema_id = stream.options.get("SCHEMAID", "")
        if not self.schema_id:
            raise ConfigError(f"stream {stream.name}: FORMAT=\"protobuf\" needs a SCHEMAID",
                              hint='SCHEMAID="proto1.Book"')
        self.cls: type[Message] | None = None

    def bind_root(self, root: str) -> None:
        """Compile the schema now (so a bad schema fails the rule at start)."""
        self.cls = message_class(root, self.schema_id)

    def decode_payloads(self, payloads: list[bytes]) -> tuple[Batch, Errors]:
        if self.cls is None:
            self.bind_root(_root_default())
        assert self.cls is not None
        parse = self.cls.FromString
        rows: list[dict[str, Any]] = []
        numbers: list[int] = []
        errors: Errors = []
        for no, p in enumerate(payloads, 1):
            try:
                rows.append(to_dict(parse(p)))
                numbers.append(no)
            except DecodeError as exc:
                errors.append((no, f"not a {self.schema_id} protobuf message: {exc}"))
        batch, row_errors = rows_to_batch(rows, self.stream, self.wanted)
        errors += [(numbers[i], msg) for i, msg in row_errors]
        errors.sort(key=lambda e: e[0])
        return batch, errors

    def decode_lines(self, chunk: bytes) -> tuple[Batch, Errors]:
        """Binary messages have no lines: a chunk is one message."""
        return self.decode_payloads([chunk])


@register_encoder("protobuf")
class ProtobufEncoder:
    """The sink format `protobuf` with the `schemaId` property; one row per message."""

    def __init__(self, props: dict[str, Any] | None = None) -> None:
        self.props = props or {}
        self.schema_id = str(self.props.get("schemaId") or "")
        if not self.schema_id:
            raise ConfigError("sink format protobuf needs a 'schemaId'",
                              hint='"format": "protobuf", "schemaId": "proto1.Book"')
        self.cls: type[Message] | None = None

    def bind_root(self, root: str) -> None:
        self.cls = message_class(root, self.schema_id)

    def prepare(self, batch: Batch) -> Batch:
        return batch

    def encode(self, data: Any) -> bytes:
        if self.cls is None:
            self.bind_root(_root_default())
        assert self.cls is not None
        if isinstance(data, list):
            if len(data) != 1:
                raise ValueError("the protobuf format encodes one row per message: "
                                 "set sendSingle: true")
            data = data[0]
        if not isinstance(data, dict):
            raise ValueError(f"the protobuf format encodes an object, got {type(data).__name__}")
        return from_dict(self.cls(), data).SerializeToString()
