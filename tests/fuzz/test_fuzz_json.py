"""Fuzzing the JSON decoder: generated documents, then truncated, bit-flipped, padded with
invalid UTF-8, huge numbers and deep nesting; the kernel must agree with its reference twin
or report the document as bad, and the json format must never raise (see json_check.py)."""
from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from json_check import check

EXAMPLES = int(os.environ.get("KUIPER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=os.environ.get("KUIPER_FUZZ_RANDOM") is None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

KEYS = st.sampled_from(["i", "f", "b", "s", "r", "x", "i\\u0000", "é", ""])
NUMBERS = st.one_of(
    st.integers(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["1e400", "-1e400", "1e-400", "123456789012345678901234567890",
                     "9223372036854775808", "-9223372036854775809", "12.0", "1E5", "-0",
                     "0.0000000000000000000000000001", "4.9e-324", "1" * 400]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)), max_leaves=20)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=6)


def _text(value: object) -> str:
    """JSON text; number strings from NUMBERS are written bare (huge ones included)."""
    if isinstance(value, str) and value and (value[0].isdigit() or value[0] == "-") and \
            value.lstrip("-").replace(".", "").replace("e", "").replace("E", "") \
                 .replace("-", "").isdigit():
        return value
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    doc = _text(draw(OBJECTS)).encode("utf-8")
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "nest", "badutf8", "none"]))
        pos = draw(st.integers(0, len(doc)))
        if op == "truncate":
            doc = doc[:pos]
        elif op == "flip" and doc:
            pos = min(pos, len(doc) - 1)
            doc = doc[:pos] + bytes([doc[pos] ^ (1 << draw(st.integers(0, 7)))]) + doc[pos + 1:]
        elif op == "insert":
            doc = doc[:pos] + draw(st.sampled_from(
                [b"{", b"}", b"[", b"]", b'"', b"\\", b",", b":", b"\\u", b"\\ud800", b"\x00",
                 b"\n", b" ", b"1e999", b"nul", b"tru"])) + doc[pos:]
        elif op == "nest":
            depth = draw(st.integers(1, 40))
            doc = doc[:pos] + b"[" * depth + b"]" * depth + doc[pos:]
        elif op == "badutf8":
            doc = doc[:pos] + draw(st.sampled_from(
                [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"])) + doc[pos:]
    return doc


@FUZZ
@given(st.lists(documents(), min_size=1, max_size=6))
def test_documents(payloads: list[bytes]) -> None:
    check(payloads)


@FUZZ
@given(st.lists(st.binary(max_size=64), min_size=1, max_size=6))
def test_raw_bytes(payloads: list[bytes]) -> None:
    check(payloads)


def test_known_edge_cases() -> None:
    check([b'{"i": ' + b"[" * 20 + b"]" * 20 + b"}", b'{"r": [' * 17 + b"]}" * 17,
           b'{"s": "\xff"}', b'{"f": 1e400}', b'{"i": 99999999999999999999}', b'{"i": 1',
           b'{"s": "\\ud800"}', b"[" * 5000, b'"' + b"\\" * 100, b"{}" * 3,
           b'{"r": ["\xff"], "i": 1}', b'{"x": "\xff", "s": "\xc3"}'])
    # an integer beyond int64 on the general path (a chunk with a bad line is decoded again)
    check([b'{"i": 1, "r": [q]}', b'{"i": -9223372036854775809}', b'{"i": 2}'])
    # ... and schemaless (inferred integers beyond int64 become floats)
    check([b'{"b": 9223372036854775808, "i": 1}', b"[1, 2]"])
