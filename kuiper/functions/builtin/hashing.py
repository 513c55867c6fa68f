"""Hashing functions: hex digests of a value's string form, once per distinct string."""
from __future__ import annotations

import hashlib
import zlib
from typing import Any

from kuiper.api.batch import STRING
from kuiper.functions.checks import string_args
from kuiper.functions.gostyle import go_str
from kuiper.functions.registry import builtin
from kuiper.functions.vector import rowwise


def _digest(algorithm: str) -> Any:
    def scalar(v: Any) -> str:
        return hashlib.new(algorithm, go_str(v).encode()).hexdigest()

    return rowwise(scalar, STRING)


for _name in ("md5", "sha1", "sha256", "sha384", "sha512"):
    builtin(_name, 1, return_kind=STRING, validate=string_args(0))(_digest(_name))


@builtin("crc32", 1, return_kind=STRING, validate=string_args(0))
@rowwise(kind=STRING)
def _crc32(v: Any) -> str:
    """IEEE CRC-32 in lower-case hex without leading zeros (Go's %x)."""
    return format(zlib.crc32(go_str(v).encode()), "x")
