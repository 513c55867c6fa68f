"""JSON objects straight into typed column buffers for a declared schema (see the .pyx)."""
from typing import Any

import numpy as np

from kuiper._core.stringdict import StringDict as StringDict

K_BIGINT: int
K_FLOAT: int
K_BOOLEAN: int
K_STRING: int
K_RAW: int
DEFAULT_MAX_DEPTH: int

DecodeResult = tuple[list[np.ndarray], list[np.ndarray], int, int, list[tuple[int, int, str, int]]]

def decode_json_lines(
    buf: Any,
    start: int,
    stop: int,
    field_names: list[bytes],
    field_kinds: np.ndarray,
    dicts: list[StringDict | None],
    max_rows: int,
    final: bool = True,
    max_depth: int = 512,
) -> DecodeResult: ...
def decode_json_objects(
    payloads: list[bytes],
    field_names: list[bytes],
    field_kinds: np.ndarray,
    dicts: list[StringDict | None],
    max_rows: int = -1,
    max_depth: int = 512,
) -> DecodeResult: ...
def too_deep(payloads: list[bytes], max_depth: int) -> list[tuple[int, int]]: ...
