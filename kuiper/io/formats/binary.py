"""The binary format: the whole payload is one bytea field named `self` (eKuiper's binary)."""
from __future__ import annotations

from typing import Any

import numpy as np

from kuiper.api.batch import BYTEA, Batch, Column
from kuiper.catalog.defs import StreamDef
from kuiper.errors import ConfigError
from kuiper.runtime.registry import register_encoder, register_format

Errors = list[tuple[int, str]]
FIELD = "self"


def _bytes_column(payloads: list[bytes]) -> Column:
    values = np.empty(len(payloads), dtype=object)
    values[:] = [bytes(p) for p in payloads]
    return Column(BYTEA, values)


@register_format("binary")
class BinaryDecoder:
    """Each payload becomes one row `{"self": <bytes>}`; a schema may declare only `self bytea`."""

    def __init__(self, stream: StreamDef, fields: list[str] | None = None) -> None:
        for f in stream.fields:
            if f.name != FIELD or f.kind not in (BYTEA, "any", ""):
                raise ConfigError(
                    f"stream {stream.name}: FORMAT=\"binary\" gives one field 'self' of type bytea",
                    hint="declare the stream schemaless or as (self bytea)")
        self.stream = stream

    def decode_payloads(self, payloads: list[bytes]) -> tuple[Batch, Errors]:
        return Batch({FIELD: _bytes_column(payloads)}, len(payloads)), []

    def decode_lines(self, chunk: bytes) -> tuple[Batch, Errors]:
        """A chunk of a bytes source is one message (binary data has no lines)."""
        return self.decode_payloads([chunk]), []  # type: ignore[return-value]


def binary_payload(data: Any) -> bytes:
    """The bytes of a result: bytes as they are, or the one bytea/string value of a row."""
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, list) and len(data) == 1:
        return binary_payload(data[0])
    if isinstance(data, dict):
        if FIELD in data and isinstance(data[FIELD], bytes | bytearray | str):
            return binary_payload(data[FIELD])
        if len(data) == 1:
            value = next(iter(data.values()))
            if isinstance(value, bytes | bytearray | str):
                return binary_payload(value)
    raise ValueError("the binary format sends one bytea value per message, e.g. "
                     "SELECT self FROM ... with sendSingle: true")


@register_encoder("binary")
class BinaryEncoder:
    """The sink format `binary`."""

    def __init__(self, props: dict[str, Any] | None = None) -> None:
        self.props = props or {}

    def prepare(self, batch: Batch) -> Batch:
        return batch

    def encode(self, data: Any) -> bytes:
        return binary_payload(data)
