"""The decoder fuzz oracle: the compiled JSON kernel agrees with its reference twin on any
bytes (or reports the document as bad, never crashes), and the json format never raises.

Shared by tests/fuzz/test_fuzz_json.py (hypothesis) and tests/fuzz/fuzz_decoder.py (atheris).
"""
from __future__ import annotations

import numpy as np

from kuiper._core import _reference as ref
from kuiper._core import jsondecode as jd
from kuiper.catalog.defs import StreamDef
from kuiper.io.formats.json import JsonDecoder
from kuiper.sql import parse

NAMES = [b"i", b"f", b"b", b"s", b"r"]
KINDS = np.array([jd.K_BIGINT, jd.K_FLOAT, jd.K_BOOLEAN, jd.K_STRING, jd.K_RAW], np.int8)
DEPTH = 16  # small, so that generated documents reach it


def _stream(sql: str) -> StreamDef:
    return parse(sql).definition


DECLARED = _stream('CREATE STREAM s (i bigint, f float, b boolean, s string, r array(bigint)) '
                   'WITH (DATASOURCE="x", FORMAT="json")')
SCHEMALESS = _stream('CREATE STREAM s () WITH (DATASOURCE="x", FORMAT="json")')


def _dicts(cls: type) -> list:
    return [cls() if k == jd.K_STRING else None for k in KINDS.tolist()]


def _strings(values: np.ndarray, valid: np.ndarray, d) -> list:
    table = d.strings()
    return [table[c] if ok else None for c, ok in zip(values.tolist(), valid.tolist(), strict=True)]


def _agree(kernel: tuple, twin: tuple, kd: list, rd: list) -> None:
    kv, kval, kn, kend, kerr = kernel
    rv, rval, rn, rend, rerr = twin
    assert kend == rend, (kend, rend)
    k_bad = {e[1] for e in kerr}
    r_bad = {e[1] for e in rerr}
    # the kernel may refuse more than the twin (it reports the row as bad), never less
    assert r_bad <= k_bad, (kerr, rerr)
    assert kn + len(k_bad) == rn + len(r_bad)
    if k_bad != r_bad:
        return  # rows shifted by the extra refusals: counts checked above
    for i, kind in enumerate(KINDS.tolist()):
        np.testing.assert_array_equal(kval[i], rval[i])
        m = kval[i]
        if kind == jd.K_STRING:
            assert _strings(kv[i], m, kd[i]) == _strings(rv[i], m, rd[i])
        elif kind == jd.K_FLOAT:
            assert kv[i][m].tobytes() == rv[i][m].tobytes()
        else:
            np.testing.assert_array_equal(kv[i][m], rv[i][m])
    for ke, re_ in zip(kerr, rerr, strict=True):
        if re_[2].startswith("field") and ke[2].startswith("field"):
            assert ke[2] == re_[2], (ke, re_)  # type errors name the field and kinds alike


def check(payloads: list[bytes]) -> None:
    """Every check on one list of documents; raises AssertionError on a disagreement."""
    kd, rd = _dicts(jd.StringDict), _dicts(ref.StringDict)
    k = jd.decode_json_objects(payloads, NAMES, KINDS, kd, max_depth=DEPTH)
    r = ref.decode_json_objects(payloads, NAMES, KINDS, rd, max_depth=DEPTH)
    _agree(k, r, kd, rd)
    lines = [p for p in payloads if b"\n" not in p]
    buf = b"\n".join(lines)
    kd, rd = _dicts(jd.StringDict), _dicts(ref.StringDict)
    k = jd.decode_json_lines(buf, 0, len(buf), NAMES, KINDS, kd, -1, max_depth=DEPTH)
    r = ref.decode_json_lines(buf, 0, len(buf), NAMES, KINDS, rd, -1, max_depth=DEPTH)
    _agree(k, r, kd, rd)
    for stream in (DECLARED, SCHEMALESS):
        dec = JsonDecoder(stream, ["i", "f", "b", "s", "r"] if stream is DECLARED else None)
        dec.max_depth = DEPTH
        batch, errors = dec.decode_payloads(payloads)
        assert batch.n + len({e[0] for e in errors if e[0] > 0}) >= 0
        batch, errors = dec.decode_lines(buf)
        assert batch.n >= 0
