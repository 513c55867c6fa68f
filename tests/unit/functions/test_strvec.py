"""The kernel paths of the string functions give what their row-wise forms give."""
from __future__ import annotations

import random

import pytest
from fnhelpers import dict_col, same

from kuiper.api.batch import Column
from kuiper.functions.registry import lookup

_ALPHABET = ["a", "B", " ", "\t", "é", "ß", "x", "ab", "日本", "\n"]


def _strings(n: int, seed: int) -> list[str | None]:
    rng = random.Random(seed)
    return [None if rng.random() < 0.1 else "".join(rng.choices(_ALPHABET, k=rng.randint(0, 6)))
            for _ in range(n)]


CALLS = [("lower", ()), ("upper", ()), ("trim", ()), ("ltrim", ()), ("rtrim", ()), ("numbytes", ()),
         ("length", ()), ("startswith", ("a",)), ("endswith", ("B",)), ("indexof", ("x",)),
         ("startswith", ("",)), ("indexof", ("日本",))]


@pytest.mark.parametrize("name,extra", CALLS, ids=[f"{c[0]}{c[1]}" for c in CALLS])
@pytest.mark.parametrize("encoding", ["object", "dictionary"])
def test_kernel_matches_the_row_form(name: str, extra: tuple[str, ...], encoding: str) -> None:
    values = _strings(500, hash(name) & 0xFFFF)
    col = Column.from_values(values) if encoding == "object" else dict_col(values)
    args = [col] + [Column.constant(x, 500) for x in extra]
    fdef = lookup(name)
    got = fdef.exec_batch(args, 500, None)
    want = fdef.exec_batch.__wrapped__.fallback(args, 500, None)
    assert got.kind == want.kind
    assert same(got.to_pylist(), want.to_pylist())


def test_a_null_constant_argument_gives_the_null_result() -> None:
    col = Column.from_values(["ab", None])
    assert lookup("startswith").exec_batch([col, Column.constant(None, 2)], 2, None).to_pylist() \
        == [False, False]
    assert lookup("indexof").exec_batch([col, Column.constant(None, 2)], 2, None).to_pylist() \
        == [-1, -1]


@pytest.mark.parametrize("encoding", ["object", "dictionary"])
def test_concat_of_strings_matches_the_row_form(encoding: str) -> None:
    from kuiper.functions.builtin.strings import _concat_strings
    from kuiper.functions.vector import apply_rows

    values = _strings(300, 5)
    col = Column.from_values(values) if encoding == "object" else dict_col(values)
    args = [col, Column.constant("|", 300), Column.from_values(list(reversed(values)))]
    got = lookup("concat").exec_batch(args, 300, None)
    want = apply_rows(_concat_strings, args, 300, "string", pass_nulls=True)
    assert got.kind == "string" and got.to_pylist() == want.to_pylist()
