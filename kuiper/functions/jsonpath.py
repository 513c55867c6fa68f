"""A small JsonPath evaluator: $ @ .key ['key'] [i] [a:b] [*] .. unions and [?(filters)].

`compile_path(text)` gives a `JsonPath` whose `query(data)` returns the one value of a definite
path (only keys and indexes; a missing key or index raises JsonPathError) or the list of
matches of an indefinite one (wildcards, `..`, unions, slices, filters), as the Go jsonpath
library eKuiper uses does. Filters: comparisons == != < <= > >=, && || !, + - * /, `=~` with
a regex literal or string, literals (numbers, 'str', "str", true, false, null), `@...`/`$...`.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class JsonPathError(ValueError):
    """A path that does not parse, or a definite path that finds nothing."""


Step = Callable[[list[Any], Any], list[Any]]


@dataclass
class JsonPath:
    text: str
    steps: list[Step]
    definite: bool

    def query(self, data: Any) -> Any:
        nodes = [data]
        for step in self.steps:
            nodes = step(nodes, data)
        if self.definite:
            return nodes[0] if nodes else None
        return nodes


def _children(v: Any) -> list[Any]:
    if isinstance(v, dict):
        return list(v.values())
    if isinstance(v, list):
        return list(v)
    return []


def _descendants(v: Any) -> list[Any]:
    out = [v]
    for c in _children(v):
        out.extend(_descendants(c))
    return out


def _key_step(key: str, strict: bool) -> Step:
    def step(nodes: list[Any], root: Any) -> list[Any]:
        out = []
        for v in nodes:
            if isinstance(v, dict) and key in v:
                out.append(v[key])
            elif strict:
                raise JsonPathError(f"unknown key {key}")
        return out

    return step


def _index_step(index: int, strict: bool) -> Step:
    def step(nodes: list[Any], root: Any) -> list[Any]:
        out = []
        for v in nodes:
            if isinstance(v, list) and -len(v) <= index < len(v):
                out.append(v[index])
            elif strict:
                raise JsonPathError(f"index {index} out of bounds")
        return out

    return step


def _union_step(items: list[str | int]) -> Step:
    def step(nodes: list[Any], root: Any) -> list[Any]:
        out = []
        for v in nodes:
            for it in items:
                if isinstance(it, str) and isinstance(v, dict) and it in v:
                    out.append(v[it])
                elif isinstance(it, int) and isinstance(v, list) and -len(v) <= it < len(v):
                    out.append(v[it])
        return out

    return step


def _slice_step(start: int | None, stop: int | None, stride: int | None) -> Step:
    def step(nodes: list[Any], root: Any) -> list[Any]:
        out: list[Any] = []
        for v in nodes:
            if isinstance(v, list):
                out.extend(v[slice(start, stop, stride)])
        return out

    return step


def _wildcard(nodes: list[Any], root: Any) -> list[Any]:
    out: list[Any] = []
    for v in nodes:
        out.extend(_children(v))
    return out


def _recursive(nodes: list[Any], root: Any) -> list[Any]:
    out: list[Any] = []
    for v in nodes:
        out.extend(_descendants(v))
    return out


def _filter_step(pred: Callable[[Any, Any], Any]) -> Step:
    def step(nodes: list[Any], root: Any) -> list[Any]:
        out = []
        for v in nodes:
            for c in _children(v):
                try:
                    if _truthy(pred(c, root)):
                        out.append(c)
                except JsonPathError:
                    continue
        return out

    return step


def _truthy(v: Any) -> bool:
    return v is not None and v is not False and v != 0 and v != "" and v != [] and v != {}


_NAME = re.compile(r"[A-Za-z_$\u00c0-\uffff][\w$\u00c0-\uffff-]*")
_INT = re.compile(r"-?\d+")


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def peek(self, k: int = 1) -> str:
        return self.s[self.i : self.i + k]

    def eat(self, tok: str) -> bool:
        if self.s.startswith(tok, self.i):
            self.i += len(tok)
            return True
        return False

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def expect(self, tok: str) -> None:
        self.ws()
        if not self.eat(tok):
            raise JsonPathError(f"expected {tok!r} at {self.i} in {self.s!r}")

    def match(self, rx: re.Pattern[str]) -> str | None:
        m = rx.match(self.s, self.i)
        if not m:
            return None
        self.i = m.end()
        return m.group(0)

    def string(self) -> str:
        q = self.s[self.i]
        j = self.i + 1
        buf = []
        while j < len(self.s) and self.s[j] != q:
            if self.s[j] == "\\" and j + 1 < len(self.s):
                j += 1
            buf.append(self.s[j])
            j += 1
        if j >= len(self.s):
            raise JsonPathError(f"unterminated string in {self.s!r}")
        self.i = j + 1
        return "".join(buf)


def _parse_steps(r: _Reader, in_filter: bool) -> tuple[list[Step], bool]:
    """Steps after a `$`/`@`; stops at the first character that can't continue a path."""
    steps: list[Any] = []
    definite = True
    while r.i < len(r.s):
        if r.eat(".."):
            steps.append(_recursive)
            definite = False
            if r.peek() == "[":
                continue
            if r.eat("*"):
                steps.append(_wildcard)
                continue
            name = r.match(_NAME)
            if name is None:
                raise JsonPathError(f"expected a key after '..' in {r.s!r}")
            steps.append(_key_step(name, False))
        elif r.eat("."):
            if r.eat("*"):
                steps.append(_wildcard)
                definite = False
                continue
            name = r.match(_NAME)
            if name is None:
                raise JsonPathError(f"expected a key after '.' in {r.s!r}")
            steps.append(functools.partial(_key_step, name))
        elif r.peek() == "[":
            r.eat("[")
            r.ws()
            step, is_definite = _parse_bracket(r)
            steps.append(step)
            definite = definite and is_definite
        else:
            break
    # key and index steps are built last: a definite path fails on what it can't find,
    # an indefinite one skips it
    built = [s(definite) if isinstance(s, functools.partial) else s for s in steps]
    return built, definite


def _parse_bracket(r: _Reader) -> tuple[Step, bool]:
    if r.eat("*"):
        r.expect("]")
        return _wildcard, False
    if r.eat("?"):
        r.ws()
        pred = _parse_expr(r)
        r.expect("]")
        return _filter_step(pred), False
    items: list[str | int] = []
    if r.peek() == ":" or re.match(r"-?\d*\s*:", r.s[r.i :]):
        parts: list[int | None] = []
        for _ in range(3):
            r.ws()
            num = r.match(_INT)
            parts.append(int(num) if num is not None else None)
            r.ws()
            if not r.eat(":"):
                break
        r.expect("]")
        parts += [None] * (3 - len(parts))
        return _slice_step(parts[0], parts[1], parts[2]), False
    while True:
        r.ws()
        if r.peek() in ("'", '"'):
            items.append(r.string())
        else:
            num = r.match(_INT)
            if num is None:
                raise JsonPathError(f"unexpected {r.peek()!r} in brackets of {r.s!r}")
            items.append(int(num))
        r.ws()
        if r.eat("]"):
            break
        r.expect(",")
    if len(items) == 1:
        it = items[0]
        factory = _key_step if isinstance(it, str) else _index_step
        return functools.partial(factory, it), True  # type: ignore[return-value]
    return _union_step(items), False


# --- filter expressions: precedence climbing over closures (current, root) -> value --------
Expr = Callable[[Any, Any], Any]
_BINARY = [("||",), ("&&",), ("==", "!=", "=~"), ("<=", ">=", "<", ">"), ("+", "-"), ("*", "/", "%")]
_NUMBER = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _parse_expr(r: _Reader, level: int = 0) -> Expr:
    if level == len(_BINARY):
        return _parse_unary(r)
    left = _parse_expr(r, level + 1)
    while True:
        r.ws()
        op = next((o for o in _BINARY[level] if r.s.startswith(o, r.i)), None)
        if op is None:
            return left
        r.i += len(op)
        right = _parse_expr(r, level + 1)
        left = _binary(op, left, right)


def _parse_unary(r: _Reader) -> Expr:
    r.ws()
    if r.eat("!"):
        inner = _parse_unary(r)
        return lambda c, root: not _truthy(inner(c, root))
    if r.eat("("):
        inner = _parse_expr(r)
        r.expect(")")
        return inner
    ch = r.peek()
    if ch in ("@", "$"):
        r.i += 1
        steps, _ = _parse_steps(r, True)
        start_root = ch == "$"

        def ref(c: Any, root: Any) -> Any:
            nodes = [root if start_root else c]
            for s in steps:
                nodes = s(nodes, root)
            return nodes[0] if nodes else None

        return ref
    if ch in ("'", '"'):
        value: Any = r.string()
        return lambda c, root: value
    if ch == "/":
        end = r.s.find("/", r.i + 1)
        if end < 0:
            raise JsonPathError(f"unterminated regex in {r.s!r}")
        value = r.s[r.i + 1 : end]
        r.i = end + 1
        return lambda c, root: value
    num = r.match(_NUMBER)
    if num is not None:
        value = float(num) if any(x in num for x in ".eE") else int(num)
        return lambda c, root: value
    for word, value in (("true", True), ("false", False), ("null", None), ("nil", None)):
        if r.eat(word):
            return lambda c, root, v=value: v
    raise JsonPathError(f"unexpected {r.peek()!r} at {r.i} in filter {r.s!r}")


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _compare(op: str, a: Any, b: Any) -> bool:
    if op == "==":
        return a == b and (_num(a) == _num(b))
    if op == "!=":
        return not _compare("==", a, b)
    if not ((_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str))):
        return False
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if not (_num(a) and _num(b)):
        return None
    if op in ("/", "%") and b == 0:
        return None
    return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "%": a % b}[op]


def _binary(op: str, left: Expr, right: Expr) -> Expr:
    if op == "&&":
        return lambda c, root: _truthy(left(c, root)) and _truthy(right(c, root))
    if op == "||":
        return lambda c, root: _truthy(left(c, root)) or _truthy(right(c, root))
    if op == "=~":
        def regex(c: Any, root: Any) -> bool:
            a, pattern = left(c, root), right(c, root)
            return isinstance(a, str) and isinstance(pattern, str) and re.search(pattern, a) is not None

        return regex
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return lambda c, root: _compare(op, left(c, root), right(c, root))
    return lambda c, root: _arith(op, left(c, root), right(c, root))


@functools.lru_cache(maxsize=512)
def compile_path(text: str) -> JsonPath:
    """Parse a JsonPath starting with `$` (a bare `key.sub` is read as `$.key.sub`)."""
    src = text.strip()
    if not src.startswith("$"):
        src = "$." + src if src and src[0] not in ".[" else "$" + src
    r = _Reader(src)
    r.eat("$")
    steps, definite = _parse_steps(r, False)
    r.ws()
    if r.i != len(r.s):
        raise JsonPathError(f"unexpected {r.s[r.i:]!r} in path {text!r}")
    return JsonPath(text, steps, definite)
