"""Plan-time argument checks for built-ins, worded as eKuiper's validators word them."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kuiper.api.batch import ARRAY, BIGINT, BOOLEAN, BYTEA, DATETIME, FLOAT, STRING, STRUCT
from kuiper.functions.registry import Validator, arg_kind, is_literal

_NUMBER = {BIGINT, FLOAT}
_OTHER_THAN_NUMBER = {STRING, BOOLEAN, DATETIME, BYTEA, ARRAY, STRUCT}


def err_info(index: int, expect: str) -> str:
    """eKuiper's ProduceErrInfo: 'Expect <type> type for parameter <n>'."""
    return f"Expect {expect} type for parameter {index + 1}"


def _kinds_check(indexes: Iterable[int], bad: set[str], expect: str) -> Validator:
    idx = tuple(indexes)

    def check(args: list[Any]) -> str | None:
        for i in idx:
            if i < len(args) and arg_kind(args[i]) in bad:
                return err_info(i, expect)
        return None

    return check


def number_args(*indexes: int) -> Validator:
    """The arguments at `indexes` must be numbers when their kind is known."""
    return _kinds_check(indexes, _OTHER_THAN_NUMBER, "number - float or int")


def int_args(*indexes: int) -> Validator:
    """The arguments at `indexes` must be integers when their kind is known."""
    return _kinds_check(indexes, _OTHER_THAN_NUMBER | {FLOAT}, "int")


def string_args(*indexes: int) -> Validator:
    """The arguments at `indexes` must be strings when their kind is known."""
    return _kinds_check(indexes, {BIGINT, FLOAT, BOOLEAN, DATETIME}, "string")


def datetime_args(*indexes: int) -> Validator:
    """The arguments at `indexes` must be datetimes (numbers, strings, booleans are refused)."""
    return _kinds_check(indexes, {BIGINT, FLOAT, STRING, BOOLEAN}, "datetime")


def literal_in(index: int, allowed: Iterable[str], message: str, *, fold: bool = False) -> Validator:
    """When argument `index` is a literal, it must be one of `allowed`."""
    options = {a.lower() if fold else a for a in allowed}

    def check(args: list[Any]) -> str | None:
        if index < len(args) and is_literal(args[index]) and args[index] is not None:
            v = args[index]
            key = v.lower() if fold and isinstance(v, str) else v
            if not isinstance(v, str) or key not in options:
                return message
        return None

    return check


def literal_check(index: int, test: Callable[[Any], str | None]) -> Validator:
    """Run `test(value)` when argument `index` is a non-null literal."""

    def check(args: list[Any]) -> str | None:
        if index < len(args) and is_literal(args[index]) and args[index] is not None:
            return test(args[index])
        return None

    return check


def all_of(*checks: Validator) -> Validator:
    """Every check in order; the first message wins."""

    def check(args: list[Any]) -> str | None:
        for c in checks:
            msg = c(args)
            if msg:
                return msg
        return None

    return check
