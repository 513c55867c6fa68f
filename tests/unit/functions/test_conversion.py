"""Conversion, hashing and other functions: values, kinds, nulls, errors."""
from __future__ import annotations

import base64
import gzip
import re
import zlib

import pytest
from fnhelpers import call, check, dict_col

from kuiper.api.batch import BYTEA, Column
from kuiper.errors import EvalError


def _const(v: object) -> Column:
    return Column.from_values([v])


CASES = [
    ("cast", [[1.9, -2.5, None], _const("bigint")], [1, -2, None], "bigint"),
    ("cast", [["12", "0x1f", "-010", "+7"], _const("bigint")], [12, 31, -8, 7], "bigint"),
    ("cast", [[True, False], _const("bigint")], [1, 0], "bigint"),
    ("cast", [[3, None], _const("float")], [3.0, None], "float"),
    ("cast", [["1.5", "1e3"], _const("float")], [1.5, 1000.0], "float"),
    ("cast", [[1, 1.5, True, "x", None], _const("string")], ["1", "1.5", "true", "x", None], "string"),
    ("cast", [[1e21, 0.000001], _const("string")], ["1000000000000000000000", "0.000001"], "string"),
    ("cast", [["true", "F", "1"], _const("boolean")], [True, False, True], "boolean"),
    ("cast", [[0, 2.5], _const("boolean")], [False, True], "boolean"),
    ("cast", [["ab"], _const("bytea")], [b"ab"], BYTEA),
    ("cast", [[1700000000123, "2023-11-14T22:13:20.123Z"], _const("datetime")],
     [1700000000123, 1700000000123], "datetime"),
    ("cast", [dict_col(["1", "2", None, "1"]), _const("bigint")], [1, 2, None, 1], "bigint"),
    ("convert_tz", [[0], ["Asia/Shanghai"]], ["1970-01-01T08:00:00+08:00"], "string"),
    ("convert_tz", [["2023-01-01T00:00:00.5Z"], ["UTC"]], ["2023-01-01T00:00:00.5Z"], "string"),
    ("to_seconds", [[1700000000999, "1970-01-01T00:01:00Z", None]], [1700000000, 60, None], "bigint"),
    ("encode", [["hello", None], _const("base64")], ["aGVsbG8=", None], "string"),
    ("decode", [["aGVsbG8="], _const("base64")], [b"hello"], BYTEA),
    ("trunc", [[3.14159, 2.5, -2.5, 7], [2, 0, 0, 1]], [3.14, 3.0, -3.0, 7.0], "float"),
    ("chr", [[65, 97.0, "x", None]], ["A", "a", "x", None], "string"),
    ("hex2dec", [["0x1f", "ff", None]], [31, 255, None], "bigint"),
    ("dec2hex", [[255, -255, None]], ["0xff", "0x-ff", None], "string"),
    ("md5", [["The quick brown fox jumps over the lazy dog", None]],
     ["9e107d9d372bb6826bd81d3542a419d6", None], "string"),
    ("sha1", [["abc"]], ["a9993e364706816aba3e25717850c26c9cd0d89d"], "string"),
    ("sha256", [dict_col(["abc", "abc"])],
     ["ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"] * 2, "string"),
    ("sha384", [["abc"]], ["cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                          "8086072ba1e7cc2358baeca134c825a7"], "string"),
    ("sha512", [[""]], ["cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
                        "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"], "string"),
    ("crc32", [["The quick brown fox jumps over the lazy dog"]], ["414fa339"], "string"),
    ("md5", [[1]], ["c4ca4238a0b923820dcc509a6f75849b"], "string"),
    ("isnull", [[1, None, 0]], [False, True, False], "boolean"),
    ("isnull", [dict_col([None, "a"])], [True, False], "boolean"),
    ("coalesce", [[None, 2, None], [1, 5, None], [9, 9, None]], [1, 2, None], "bigint"),
    ("coalesce", [[None, "a"], [1.5, None]], [1.5, "a"], "any"),
    ("coalesce", [dict_col([None, "a"]), ["z", "y"]], ["z", "a"], "string"),
]


@pytest.mark.parametrize("name,args,want,kind", CASES, ids=[c[0] for c in CASES])
def test_conversion(name: str, args: list, want: list, kind: str | None) -> None:
    check(name, args, want, kind)


@pytest.mark.parametrize("method", ["zlib", "gzip", "flate"])
def test_compress_round_trip(method: str) -> None:
    packed = call("compress", ["hello hello hello", b"\x00\x01"], _const(method), n=2)
    assert packed.kind == BYTEA
    first = packed.to_pylist()[0]
    if method == "zlib":
        assert zlib.decompress(first) == b"hello hello hello"
    elif method == "gzip":
        assert gzip.decompress(first) == b"hello hello hello"
    back = call("decompress", packed, _const(method), n=2)
    assert back.to_pylist() == [b"hello hello hello", b"\x00\x01"]


def test_zstd_is_clear_when_unavailable() -> None:
    try:
        out = call("compress", ["abc"], _const("zstd"))
    except EvalError as err:
        assert "zstd is not available" in str(err)
    else:
        assert call("decompress", out, _const("zstd")).to_pylist() == [b"abc"]


def test_newuuid_and_tstamp() -> None:
    ids = call("newuuid", n=3).to_pylist()
    assert len(set(ids)) == 3 and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    ts = call("tstamp", n=2)
    assert ts.kind == "bigint" and ts.values[0] > 1_600_000_000_000


@pytest.mark.parametrize(
    "name,args,message",
    [
        ("cast", [["abc"], _const("bigint")], "cannot convert string(abc) to int"),
        ("cast", [["1.5"], _const("bigint")], "cannot convert string(1.5) to int"),
        ("cast", [["x"], _const("boolean")], "cannot convert string(x) to bool"),
        ("cast", [[[1]], _const("string")], "cannot convert []interface {}([1]) to string"),
        ("cast", [["2023-13-45"], _const("datetime")], "can't parse string as time: 2023-13-45"),
        ("cast", [[1], _const("int")], "Unknow type, only support bigint, float, string, boolean, "
                                      "datetime and bytea."),
        ("convert_tz", [[0], ["Mars/Base"]], "unknown time zone Mars/Base"),
        ("encode", [[1], _const("base64")], "Only string type can be encoded."),
        ("decode", [["%%%"], _const("base64")], "fail to decode base64 string"),
        ("decompress", [[b"junk"], _const("zlib")], "failed to decompress"),
        ("chr", [["ab"]], "Parameter length cannot larger than 1."),
        ("hex2dec", [["xyz"]], "invalid hexadecimal value: xyz"),
        ("hex2dec", [[12]], "invalid input type: 12 please input hex string"),
        ("dec2hex", [[1.5]], "cannot convert float64(1.5) to int"),
        ("trunc", [[1.5], [1.5]], "The 2nd parameter must be int value."),
    ],
)
def test_conversion_errors(name: str, args: list, message: str) -> None:
    with pytest.raises(EvalError) as err:
        call(name, *args)
    assert str(err.value).startswith(f"call func {name} error: {message}")


def test_base64_matches_stdlib() -> None:
    assert call("encode", [b"\xff\x00"], _const("base64")).to_pylist() == [
        base64.b64encode(b"\xff\x00").decode()
    ]


def test_trunc_column_path_matches_the_row_form() -> None:
    import numpy as np

    from kuiper.functions.builtin.conversion import _trunc

    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(-1e6, 1e6, 500), [0.5, -0.5, 2.675, -0.0, 1e300]])
    col = Column.from_values(values.tolist())
    for places in (0, 2, 5, -1):
        got = call("trunc", col, Column.constant(places, len(values))).to_pylist()
        want = _trunc([col, Column.constant(places, len(values))], len(values), None).to_pylist()
        assert got == want
