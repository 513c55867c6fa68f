"""eKuiper's mapping between SQL argument values and protobuf request/response messages.

Arguments to a request message with F fields:
- no argument: the message must have no field (e.g. `google.protobuf.Empty`);
- one struct argument (a dict, e.g. `self`, the whole row) is unfolded into the fields by name
  (the proto name, or its `json_name`); keys that are not fields are ignored, missing fields
  stay unset;
- one other argument fills a single-field message (e.g. `google.protobuf.StringValue`);
- N arguments fill N fields in declaration order (N must equal F).
A null argument leaves its field unset. Values are converted to the field's type within the
same kind (an integral float to int64, an int to double, str to bytes as UTF-8); anything else
is an error for that row.

Responses become SQL values: `google.protobuf.*Value` wrappers give their scalar, `Empty`
gives `{}`, other messages a dict keyed by proto field names with every field (defaults
included, unset sub-messages left out), int64 as int, enums as numbers, repeated as lists,
Timestamp as epoch ms and Struct/Value/ListValue as JSON values.
"""
from __future__ import annotations

import base64
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from kuiper.api.batch import ANY, BIGINT, BOOLEAN, BYTEA, FLOAT, STRING, STRUCT
from kuiper.functions.registry import arg_kind

F = FieldDescriptor
WRAPPER_KINDS: dict[str, str] = {
    "google.protobuf.DoubleValue": FLOAT,
    "google.protobuf.FloatValue": FLOAT,
    "google.protobuf.Int64Value": BIGINT,
    "google.protobuf.UInt64Value": BIGINT,
    "google.protobuf.Int32Value": BIGINT,
    "google.protobuf.UInt32Value": BIGINT,
    "google.protobuf.BoolValue": BOOLEAN,
    "google.protobuf.StringValue": STRING,
    "google.protobuf.BytesValue": BYTEA,
}
_JSON_TYPES = ("google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
               "google.protobuf.Duration", "google.protobuf.FieldMask", "google.protobuf.Any")
_INT_TYPES = frozenset({F.TYPE_INT32, F.TYPE_INT64, F.TYPE_UINT32, F.TYPE_UINT64, F.TYPE_SINT32,
                        F.TYPE_SINT64, F.TYPE_FIXED32, F.TYPE_FIXED64, F.TYPE_SFIXED32,
                        F.TYPE_SFIXED64})
_FLOAT_TYPES = frozenset({F.TYPE_DOUBLE, F.TYPE_FLOAT})


class MappingError(ValueError):
    """An argument that does not fit the request message, or a response that does not fit."""


def is_wrapper(desc: Descriptor) -> bool:
    return desc.full_name in WRAPPER_KINDS


def result_kind(desc: Descriptor) -> str:
    """The static SQL kind of a response message's value."""
    return WRAPPER_KINDS.get(desc.full_name, STRUCT)


def _describe_fields(desc: Descriptor) -> str:
    names = ", ".join(f.name for f in desc.fields)
    return f"{len(desc.fields)} argument(s) ({names}) of message {desc.full_name}"


# --- plan time ------------------------------------------------------------------------------
def arity_error(desc: Descriptor, args: list[Any]) -> str | None:
    """eKuiper's argument-count rule for `desc`, checked on plan-time arguments."""
    nfields, nargs = len(desc.fields), len(args)
    if nargs == 0:
        if nfields == 0:
            return None
        return f"expects {_describe_fields(desc)} or one struct argument such as self, got none"
    if nargs == 1:
        kind = arg_kind(args[0])
        if nfields == 1 or kind in (None, STRUCT, ANY):
            return None
        return (f"expects {_describe_fields(desc)} or one struct argument such as self, "
                f"got one {kind} argument")
    if nargs != nfields:
        return f"expects {_describe_fields(desc)} or one struct argument such as self, got {nargs}"
    return None


# --- arguments -> message -----------------------------------------------------------------
def assign_fields(desc: Descriptor, args: list[Any]) -> dict[str, Any]:
    """Field name -> argument value (None = leave unset), by eKuiper's rules."""
    fields = desc.fields
    if not args:
        if fields:
            raise MappingError(f"expects {_describe_fields(desc)}, got none")
        return {}
    if len(args) == 1:
        arg = args[0]
        if isinstance(arg, dict) and _unfolds(fields, arg):
            return {f.name: arg[f.name] if f.name in arg else arg.get(f.json_name)
                    for f in fields}
        if len(fields) == 1:
            return {fields[0].name: arg}
        got = "null" if arg is None else type(arg).__name__
        raise MappingError(f"expects {_describe_fields(desc)} or one struct argument, got {got}")
    if len(args) != len(fields):
        raise MappingError(f"expects {_describe_fields(desc)}, got {len(args)}")
    return {f.name: a for f, a in zip(fields, args)}


def _unfolds(fields: Any, arg: dict) -> bool:
    """A dict is unfolded unless it is the value of a single message-typed field."""
    if len(fields) != 1 or fields[0].type != F.TYPE_MESSAGE:
        return True
    return fields[0].name in arg or fields[0].json_name in arg


def build_message(cls: type[Message], desc: Descriptor, values: dict[str, Any]) -> Message:
    """A message of `cls` with `values` set (None = unset), converting types where needed."""
    present = {k: v for k, v in values.items() if v is not None}
    try:
        return cls(**present)  # fast path: values already of the right types
    except (TypeError, ValueError):
        pass
    fields = desc.fields_by_name
    try:
        return cls(**{k: _coerce(fields[k], v) for k, v in present.items()})
    except MappingError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise MappingError(f"cannot build message {desc.full_name}: {exc}") from None


def to_message(cls: type[Message], desc: Descriptor, args: list[Any]) -> Message:
    """The request message for a call's arguments."""
    return build_message(cls, desc, assign_fields(desc, args))


def _is_map(fd: FieldDescriptor) -> bool:
    mt = fd.message_type
    return mt is not None and mt.GetOptions().map_entry


def _coerce(fd: FieldDescriptor, v: Any) -> Any:
    if _is_map(fd):
        if not isinstance(v, dict):
            raise MappingError(f"field {fd.name}: expect a map but got {_typed(v)}")
        value_fd = fd.message_type.fields_by_name["value"]
        return {k: _coerce_one(value_fd, x) for k, x in v.items() if x is not None}
    if fd.is_repeated:
        if not isinstance(v, list | tuple):
            raise MappingError(f"field {fd.name}: expect an array but got {_typed(v)}")
        return [_coerce_one(fd, x) for x in v]
    return _coerce_one(fd, v)


def _typed(v: Any) -> str:
    return f"{type(v).__name__}({v!r})"


def _coerce_one(fd: FieldDescriptor, v: Any) -> Any:
    t = fd.type
    if t in _INT_TYPES:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
    elif t in _FLOAT_TYPES:
        if isinstance(v, int | float) and not isinstance(v, bool):
            return float(v)
    elif t == F.TYPE_BOOL:
        if isinstance(v, bool):
            return v
    elif t == F.TYPE_STRING:
        if isinstance(v, str):
            return v
        if isinstance(v, bytes | bytearray):
            return bytes(v).decode("utf-8", "replace")
    elif t == F.TYPE_BYTES:
        if isinstance(v, bytes | bytearray):
            return bytes(v)
        if isinstance(v, str):
            return v.encode()
    elif t == F.TYPE_ENUM:
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        if isinstance(v, str) and v in fd.enum_type.values_by_name:
            return fd.enum_type.values_by_name[v].number
    elif t == F.TYPE_MESSAGE:
        return _coerce_message(fd, v)
    raise MappingError(f"field {fd.name}: cannot use {_typed(v)} as {_type_name(fd)}")


def _type_name(fd: FieldDescriptor) -> str:
    if fd.type == F.TYPE_MESSAGE:
        return fd.message_type.full_name
    if fd.type == F.TYPE_ENUM:
        return fd.enum_type.full_name
    for name in dir(F):
        if name.startswith("TYPE_") and getattr(F, name) == fd.type:
            return name[5:].lower()
    return "?"


def _coerce_message(fd: FieldDescriptor, v: Any) -> Message:
    from google.protobuf import message_factory

    mt = fd.message_type
    cls = message_factory.GetMessageClass(mt)
    if mt.full_name in WRAPPER_KINDS and not isinstance(v, dict):
        return build_message(cls, mt, {"value": v})
    if mt.full_name == "google.protobuf.Timestamp" and isinstance(v, int | float | str):
        msg = cls()
        if isinstance(v, str):
            msg.FromJsonString(v)
        else:
            msg.FromMilliseconds(int(v))
        return msg
    if mt.full_name in _JSON_TYPES:
        return json_format.ParseDict(v, cls())
    if isinstance(v, dict):
        return build_message(cls, mt, {f.name: v[f.name] if f.name in v else v.get(f.json_name)
                                       for f in mt.fields})
    raise MappingError(f"field {fd.name}: expect a struct for {mt.full_name} but got {_typed(v)}")


# --- message -> SQL value -------------------------------------------------------------------
def to_value(msg: Message) -> Any:
    """The SQL value of a response message (see the module docstring)."""
    desc = msg.DESCRIPTOR
    name = desc.full_name
    if name in WRAPPER_KINDS:
        return msg.value  # type: ignore[attr-defined]
    if name == "google.protobuf.Timestamp":
        return msg.ToMilliseconds()  # type: ignore[attr-defined]
    if name in _JSON_TYPES:
        return json_format.MessageToDict(msg)
    return {fd.name: field_value(msg, fd) for fd in desc.fields
            if not (fd.type == F.TYPE_MESSAGE and not fd.is_repeated
                    and not msg.HasField(fd.name))}


def field_value(msg: Message, fd: FieldDescriptor) -> Any:
    """One field of a message as a SQL value (None for an unset sub-message)."""
    v = getattr(msg, fd.name)
    if _is_map(fd):
        value_fd = fd.message_type.fields_by_name["value"]
        if value_fd.type == F.TYPE_MESSAGE:
            return {k: to_value(x) for k, x in v.items()}
        return dict(v)
    if fd.type == F.TYPE_MESSAGE:
        if fd.is_repeated:
            return [to_value(x) for x in v]
        return to_value(v) if msg.HasField(fd.name) else None
    return list(v) if fd.is_repeated else v


def field_params(msg: Message) -> list[Any]:
    """Every field of a request in declaration order, as plain values (msgpack-rpc params)."""
    return [field_value(msg, fd) for fd in msg.DESCRIPTOR.fields]


def from_json(obj: Any, cls: type[Message]) -> Any:
    """A response decoded from JSON (canonical proto3 JSON; proto names accepted too)."""
    try:
        msg = json_format.ParseDict(obj, cls(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise MappingError(f"response does not fit {cls.DESCRIPTOR.full_name}: {exc}") from None
    return to_value(msg)


def from_plain(obj: Any, cls: type[Message]) -> Any:
    """A response decoded from plain values (msgpack): a dict by field name, or a scalar."""
    desc = cls.DESCRIPTOR
    if desc.full_name in WRAPPER_KINDS:
        return to_value(build_message(cls, desc, {"value": obj}))
    if not isinstance(obj, dict):
        raise MappingError(f"response must be a map for {desc.full_name} but got {_typed(obj)}")
    values = {f.name: obj[f.name] if f.name in obj else obj.get(f.json_name) for f in desc.fields}
    return to_value(build_message(cls, desc, values))


def to_json(msg: Message) -> Any:
    """A request as canonical proto3 JSON (lowerCamelCase or json_name keys, int64 as str)."""
    return json_format.MessageToDict(msg)


def plain_bytes(v: Any) -> Any:
    """bytes as base64 text, for JSON bodies of schemaless calls."""
    return base64.b64encode(v).decode() if isinstance(v, bytes | bytearray) else v
