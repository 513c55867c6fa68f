"""jsondecode kernels against the _reference twin and orjson, on generated and edge-case lines."""
from __future__ import annotations

import json
import random

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kuiper._core import _reference as ref
from kuiper._core import jsondecode as jd

K = np.int8
NAMES = [b"i", b"f", b"b", b"s", b"r", b"t"]
KINDS = np.array([jd.K_BIGINT, jd.K_FLOAT, jd.K_BOOLEAN, jd.K_STRING, jd.K_RAW, jd.K_STRING], K)

_STRINGS = ["dev-1", "dév", "a\"q", "back\\slash", "tab\t", "nl\n", "😀 emoji", "", "/slash",
            "\u2028", "ctl\u0001", "日本"]


def _rand_string(rng: random.Random) -> str:
    s = rng.choice(_STRINGS)
    return s + str(rng.randint(0, 3)) if rng.random() < 0.5 else s


def _rand_number_text(rng: random.Random) -> str:
    return rng.choice([
        str(rng.randint(-10**6, 10**6)), f"{rng.uniform(-1e3, 1e3):.{rng.randint(0, 8)}f}",
        repr(rng.uniform(-1e300, 1e300)), f"{rng.randint(1, 99)}E{rng.randint(-30, 30)}",
        "-0.0", "0", "1e308", "4.9e-324", "2.2250738585072014e-308", "-1.5e-7", "1E5",
        "9007199254740993", "0.1", "123456789012345678901234567890.5", "12.0",
        "9223372036854775807", "-9223372036854775808",
    ])


def _rand_value(rng: random.Random, depth: int = 0):
    r = rng.random()
    if depth < 3 and r < 0.1:
        return {_rand_string(rng): _rand_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if depth < 3 and r < 0.2:
        return [_rand_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if r < 0.4:
        return _rand_string(rng)
    if r < 0.5:
        return rng.choice([True, False, None])
    return json.loads(_rand_number_text(rng))


def _dump_value(rng: random.Random, v) -> str:
    s = json.dumps(v, ensure_ascii=rng.random() < 0.3)
    return s


def _rand_line(rng: random.Random) -> str:
    fields: list[tuple[str, str]] = []
    if rng.random() < 0.9:
        fields.append(("i", rng.choice([str(rng.randint(-2**63, 2**63 - 1)), "12.0", "null",
                                        str(rng.randint(-100, 100)), "1e3"])))
    if rng.random() < 0.9:
        fields.append(("f", rng.choice([_rand_number_text(rng), "null"])))
    if rng.random() < 0.8:
        fields.append(("b", rng.choice(["true", "false", "null"])))
    if rng.random() < 0.9:
        fields.append(("s", _dump_value(rng, _rand_string(rng)) if rng.random() < 0.9 else "null"))
    if rng.random() < 0.7:
        fields.append(("r", _dump_value(rng, _rand_value(rng))))
    if rng.random() < 0.5:
        fields.append(("t", json.dumps(_rand_string(rng))))
    for _ in range(rng.randint(0, 3)):
        fields.append((_rand_string(rng), _dump_value(rng, _rand_value(rng))))
    rng.shuffle(fields)
    if rng.random() < 0.05 and fields:
        fields.append(fields[0])  # duplicate key: last wins
    ws = rng.choice(["", " ", "  ", "\t"])
    body = ("," + ws).join(f"{json.dumps(k)}{ws}:{ws}{v}" for k, v in fields)
    line = ws + "{" + ws + body + ws + "}" + ws
    r = rng.random()
    if r < 0.03:
        line = line[: rng.randint(0, len(line))]  # truncated
    elif r < 0.05:
        line = line.replace(":", "", 1)
    elif r < 0.06:
        line = "[1, 2]"
    elif r < 0.07:
        line = ""
    elif r < 0.08:
        line = line.replace('"f":', '"f": "x", "zz":', 1)
    elif r < 0.085:
        line = '{"i": 12345678901234567890}'
    elif r < 0.09:
        line = '{"b": 1}'
    return line


def _decoded_strings(values, valid, dictionary):
    strings = dictionary.strings()
    return [strings[c] if ok else None for c, ok in zip(values.tolist(), valid.tolist())]


def _same(kernel, twin, buf, kinds, kdicts, rdicts, raw_prefix=0):
    kv, kval, kn, kend, kerr = kernel
    rv, rval, rn, rend, rerr = twin
    assert kn == rn
    assert kend == rend
    assert [(e[0], e[1], e[3]) for e in kerr] == [(e[0], e[1], e[3]) for e in rerr]
    for ke, re_ in zip(kerr, rerr):
        if not re_[2].startswith("malformed"):
            assert ke[2] == re_[2]
    for i, kind in enumerate(kinds):
        np.testing.assert_array_equal(kval[i], rval[i])
        m = kval[i]
        if kind == jd.K_STRING:
            assert _decoded_strings(kv[i], m, kdicts[i]) == _decoded_strings(rv[i], m, rdicts[i])
        elif kind == jd.K_FLOAT:
            a, b = kv[i][m], rv[i][m]
            assert a.tobytes() == b.tobytes()  # bit-exact, including -0.0
        else:
            np.testing.assert_array_equal(kv[i][m], rv[i][m])


def _dicts(kinds, cls):
    return [cls() if k == jd.K_STRING else None for k in kinds]


@pytest.mark.parametrize("seed", range(4))
def test_lines_match_reference(seed: int) -> None:
    rng = random.Random(seed)
    lines = [_rand_line(rng) for _ in range(1500)]
    buf = ("\n".join(lines) + ("\n" if seed % 2 else "")).encode()
    kd, rd = _dicts(KINDS, jd.StringDict), _dicts(KINDS, ref.StringDict)
    k = jd.decode_json_lines(buf, 0, len(buf), NAMES, KINDS, kd, 10**9)
    r = ref.decode_json_lines(buf, 0, len(buf), NAMES, KINDS, rd, 10**9)
    _same(k, r, buf, KINDS, kd, rd)
    assert k[2] > 800 and len(k[4]) > 20


@pytest.mark.parametrize("chunk", [1, 7, 100, 8192])
def test_chunked_decoding_consumes_everything(chunk: int) -> None:
    rng = random.Random(99)
    lines = [_rand_line(rng) for _ in range(400)]
    buf = "\n".join(lines).encode()
    kd, rd = _dicts(KINDS, jd.StringDict), _dicts(KINDS, ref.StringDict)
    pos, total, total_ref = 0, 0, 0
    while pos < len(buf):
        k = jd.decode_json_lines(buf, pos, len(buf), NAMES, KINDS, kd, chunk)
        r = ref.decode_json_lines(buf, pos, len(buf), NAMES, KINDS, rd, chunk)
        _same(k, r, buf, KINDS, kd, rd)
        assert k[3] > pos or k[2] == 0
        if k[3] == pos:
            break
        pos = k[3]
        total += k[2]
        total_ref += r[2]
    assert pos == len(buf)
    assert total == total_ref


def test_values_match_orjson() -> None:
    rng = random.Random(5)
    lines = []
    for _ in range(3000):
        obj = {"f": rng.choice([rng.uniform(-1e6, 1e6), rng.randint(-10**9, 10**9), 1e-310,
                                -0.0, 1.7976931348623157e308]),
               "s": _rand_string(rng), "x": _rand_value(rng), "i": rng.randint(-2**63, 2**63 - 1)}
        lines.append(orjson.dumps(obj) if rng.random() < 0.5 else json.dumps(obj).encode())
    buf = b"\n".join(lines)
    d = jd.StringDict()
    kinds = np.array([jd.K_FLOAT, jd.K_STRING, jd.K_RAW, jd.K_BIGINT], K)
    vals, valid, n, end, errs = jd.decode_json_lines(buf, 0, len(buf), [b"f", b"s", b"x", b"i"],
                                                     kinds, [None, d, None, None], 10**9)
    assert n == 3000 and not errs and end == len(buf)
    strings = d.strings()
    for row, line in enumerate(lines):
        obj = orjson.loads(line)
        assert vals[0][row] == float(obj["f"]) and np.signbit(vals[0][row]) == np.signbit(obj["f"])
        assert strings[vals[1][row]] == obj["s"]
        off, ln = vals[2][row]
        if obj["x"] is None:
            assert not valid[2][row]
        else:
            assert orjson.loads(buf[off:off + ln]) == obj["x"]
        assert vals[3][row] == obj["i"]


def _one(line: bytes, kind: int):
    d = jd.StringDict()
    return jd.decode_json_lines(line, 0, len(line), [b"v"], np.array([kind], K),
                                [d if kind == jd.K_STRING else None], 10), d


@pytest.mark.parametrize("text", ["-0.0", "1e308", "4.9e-324", "2.2250738585072011e-308", "1E5",
                                  "-1.5e-7", "0.1", "123456789.123456789123", "1e-400", "1e400",
                                  "17976931348623157e292", "0.30000000000000004", "5e-324",
                                  "9007199254740993", "89255.0e-22", "1.00000000000000011102230246251565404236316680908203125"])
def test_float_parsing_is_exactly_python_float(text: str) -> None:
    (vals, valid, n, _, errs), _ = _one(b'{"v": %s}' % text.encode(), jd.K_FLOAT)
    assert n == 1 and not errs
    assert vals[0][0].tobytes() == np.float64(float(text)).tobytes()


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_float_roundtrip_hypothesis(x: float) -> None:
    for text in (repr(x), f"{x:.17e}", f"{x:.6g}"):
        (vals, _, n, _, errs), _ = _one(b'{"v": %s}' % text.encode(), jd.K_FLOAT)
        assert n == 1 and vals[0][0].tobytes() == np.float64(float(text)).tobytes()


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
@settings(max_examples=200, deadline=None)
def test_bigint_hypothesis(x: int) -> None:
    (vals, _, n, _, _), _ = _one(b'{"v": %d}' % x, jd.K_BIGINT)
    assert n == 1 and vals[0][0] == x


@given(st.text(max_size=30))
@settings(max_examples=300, deadline=None)
def test_string_escapes_hypothesis(s: str) -> None:
    line = json.dumps({"v": s}, ensure_ascii=True).encode()
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: not representable, rejected
        (_, _, n, _, errs), _ = _one(line, jd.K_STRING)
        assert n == 0 and len(errs) == 1
        return
    for text in (line, json.dumps({"v": s}, ensure_ascii=False).encode()):
        (vals, valid, n, _, errs), d = _one(text, jd.K_STRING)
        assert n == 1 and valid[0][0]
        assert d.strings()[vals[0][0]] == s


@pytest.mark.parametrize(("line", "message"), [
    (b'{"v": 12345678901234567890}', 'field "v": number out of bigint range'),
    (b'{"v": 1.5}', 'field "v": expected bigint, got a number with a fraction or exponent'),
    (b'{"v": 12.0}', 'field "v": expected bigint, got a number with a fraction or exponent'),
    (b'{"v": 1e3}', 'field "v": expected bigint, got a number with a fraction or exponent'),
    (b'{"v": "12"}', 'field "v": expected bigint, got string'),
    (b'{"v": true}', 'field "v": expected bigint, got boolean'),
    (b'{"v": [1]}', 'field "v": expected bigint, got array'),
    (b'{"v": 1e19}', 'field "v": expected bigint, got a number with a fraction or exponent'),
    (b'[{"v": 1}]', "not a JSON object"),
])
def test_bigint_errors(line: bytes, message: str) -> None:
    (vals, valid, n, end, errs), _ = _one(line, jd.K_BIGINT)
    assert n == 0 and errs == [(0, 0, message, 0)] and end == len(line)


@pytest.mark.parametrize(("line", "value"), [
    (b'{"v": -0}', 0),
    (b'{"v": -9223372036854775808}', -(2**63)), (b'{"v": 9223372036854775807}', 2**63 - 1),
])
def test_bigint_accepts(line: bytes, value: int) -> None:
    (vals, valid, n, _, errs), _ = _one(line, jd.K_BIGINT)
    assert n == 1 and not errs and vals[0][0] == value


@pytest.mark.parametrize("kind", [jd.K_BIGINT, jd.K_FLOAT, jd.K_BOOLEAN, jd.K_STRING, jd.K_RAW])
def test_null_and_missing_are_invalid(kind: int) -> None:
    buf = b'{"v": null}\n{}\n{"w": 1}\n'
    d = jd.StringDict()
    vals, valid, n, end, errs = jd.decode_json_lines(
        buf, 0, len(buf), [b"v"], np.array([kind], K), [d if kind == jd.K_STRING else None], 10)
    assert n == 3 and not errs and not valid[0].any() and end == len(buf)


def test_errors_tell_the_rows_decoded_before_them() -> None:
    buf = b'{"v": 1}\n\n  \n{"v": "x"}\n{"v": 2}\nnope\n{"v": 3}\n{"v": true}\n'
    kinds = np.array([jd.K_BIGINT], K)
    for mod in (jd, ref):
        _, _, n, _, errs = mod.decode_json_lines(buf, 0, len(buf), [b"v"], kinds, [None], 100)
        assert n == 3
        assert [(e[1], e[3]) for e in errs] == [(3, 1), (5, 2), (7, 3)]
        assert [buf[e[0]:buf.index(b"\n", e[0])] for e in errs] == [b'{"v": "x"}', b"nope",
                                                                      b'{"v": true}']
    payloads = [b'{"v": 1}', b"[]", b'{"v": 2}', b'{"v": 2.5}']
    for mod in (jd, ref):
        _, _, n, _, errs = mod.decode_json_objects(payloads, [b"v"], kinds, [None])
        assert n == 2 and [(e[1], e[3]) for e in errs] == [(1, 1), (3, 2)]


def test_wrong_types_name_field_and_expected_kind() -> None:
    buf = b'{"s": 5}\n{"s": "ok", "f": "x"}\n{"s": "ok", "b": 0}\n{"s": "fine", "f": 1}\n'
    d = jd.StringDict()
    kinds = np.array([jd.K_STRING, jd.K_FLOAT, jd.K_BOOLEAN], K)
    vals, valid, n, end, errs = jd.decode_json_lines(buf, 0, len(buf), [b"s", b"f", b"b"], kinds,
                                                     [d, None, None], 10)
    assert n == 1
    assert [e[2] for e in errs] == ['field "s": expected string, got number',
                                    'field "f": expected float, got string',
                                    'field "b": expected boolean, got number']
    assert [e[1] for e in errs] == [0, 1, 2]
    assert d.strings()[vals[0][0]] == "fine"


def test_partial_last_line_is_left_for_the_next_read() -> None:
    buf = b'{"v": 1}\n{"v": 2}\n{"v": 3'
    kinds = np.array([jd.K_BIGINT], K)
    vals, valid, n, end, errs = jd.decode_json_lines(buf, 0, len(buf), [b"v"], kinds, [None], 10,
                                                     final=False)
    assert n == 2 and end == buf.index(b"{\"v\": 3") and not errs
    vals, valid, n, end, errs = jd.decode_json_lines(buf, 0, len(buf), [b"v"], kinds, [None], 10)
    assert n == 2 and end == len(buf) and len(errs) == 1


def test_empty_and_blank_input() -> None:
    kinds = np.array([jd.K_FLOAT], K)
    for buf in (b"", b"\n\n  \n\r\n", b"   "):
        vals, valid, n, end, errs = jd.decode_json_lines(buf, 0, len(buf), [b"v"], kinds, [None], 5)
        assert n == 0 and end == len(buf) and not errs and vals[0].shape == (0,)


def test_deep_nesting_and_whitespace() -> None:
    deep = b'{"x": ' + b"[" * 600 + b"]" * 600 + b', "v": 1}'
    ok = b' \t{ "x" : [ 1 , { "a" : [ ] } ] , "v" :\t2 }\r'
    buf = deep + b"\n" + ok
    vals, valid, n, end, errs = jd.decode_json_lines(buf, 0, len(buf), [b"v"],
                                                     np.array([jd.K_BIGINT], K), [None], 10)
    assert n == 1 and vals[0][0] == 2 and "nesting too deep" in errs[0][2]


def test_objects_match_reference() -> None:
    rng = random.Random(11)
    payloads = []
    for _ in range(800):
        line = _rand_line(rng)
        if rng.random() < 0.2:
            line = line.replace(",", ",\n  ")  # pretty-printed payloads
        payloads.append(line.encode())
    kd, rd = _dicts(KINDS, jd.StringDict), _dicts(KINDS, ref.StringDict)
    k = jd.decode_json_objects(payloads, NAMES, KINDS, kd)
    r = ref.decode_json_objects(payloads, NAMES, KINDS, rd)
    _same(k, r, None, KINDS, kd, rd)
    raw = k[0][4][k[1][4]]
    for pi, off, ln in raw[:50].tolist():
        orjson.loads(payloads[pi][off:off + ln])
    k = jd.decode_json_objects(payloads, NAMES, KINDS, kd, 10)
    assert k[2] == 10


def test_string_dict_api() -> None:
    d = jd.StringDict()
    assert len(d) == 0 and d.code_of("x") == -1
    assert d.intern(b"abc") == 0 and d.intern("déjà") == 1 and d.intern(b"abc") == 0
    s1 = d.strings()
    assert list(s1) == ["abc", "déjà"] and d.strings() is s1
    assert d.code_of("déjà") == 1 and d.code_of(b"abc") == 0
    codes = [d.intern(f"k{i}".encode()) for i in range(5000)]
    assert codes == list(range(2, 5002)) and len(d) == 5002
    assert d.strings() is not s1 and d.strings()[4001] == "k3999"
    with pytest.raises(ValueError):
        d.intern(b"\xff\xfe")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet='[]{}"\\ ab,:1', max_size=60).map(str.encode), max_size=8),
       st.integers(1, 6))
def test_too_deep_matches_reference(docs: list[bytes], depth: int) -> None:
    assert jd.too_deep(docs, depth) == ref.too_deep(docs, depth)


@pytest.mark.parametrize("depth", [1, 2, 3, 8])
def test_max_depth_matches_reference(depth: int) -> None:
    docs = [b'{"v": 1}', b'{"v": 2, "x": [1]}', b'{"x": {"a": [[1]]}, "v": 3}',
            b'{"s": "[[[[[", "v": 4}', b'{"r": ' + b"[" * 9 + b"]" * 9 + b', "v": 5}']
    kinds = np.array([jd.K_BIGINT, jd.K_RAW], K)
    k = jd.decode_json_objects(docs, [b"v", b"r"], kinds, [None, None], max_depth=depth)
    r = ref.decode_json_objects(docs, [b"v", b"r"], kinds, [None, None], max_depth=depth)
    assert k[2] == r[2] and [e[1] for e in k[4]] == [e[1] for e in r[4]]
    assert all("nesting too deep" in e[2] for e in k[4])
    buf = b"\n".join(docs)
    k = jd.decode_json_lines(buf, 0, len(buf), [b"v"], kinds[:1], [None], -1, max_depth=depth)
    assert k[2] == r[2]
