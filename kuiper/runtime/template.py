"""Go text/template, the subset eKuiper users write in `dataTemplate` and dynamic sink props.

Supported: `{{.a.b}}`, `{{.}}`, `{{$}}`, variables (`$x := …`, `$x = …`), pipes, parenthesized
pipelines, `if`/`else if`/`else`, `range` (one or two variables, `else`, break/continue),
`with`, comments, trim markers `{{-`/`-}}`; Go's functions (and or not eq ne lt le gt ge len
index slice print printf println html js urlquery), eKuiper's `json`/`base64` and a sprig subset
(toJson b64enc b64dec add add1 sub mul div mod max min addf subf mulf divf floor ceil round
upper lower title trim trimPrefix trimSuffix replace contains hasPrefix hasSuffix quote squote
default empty coalesce ternary toString int int64 float64 atoi join splitList list dict).
Values print as Go's fmt does (27.0 -> "27", 1e6 -> "1e+06", maps as `map[k:v]`, a missing
field as `<no value>`). Comparisons accept int against float (Go refuses them).
A template is compiled once (`compile_template`, cached) and executed per message.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson

from kuiper.errors import ConfigError, EvalError
from kuiper.runtime.template_funcs import FUNCS, go_str, truth, type_name

_MISSING = object()
_WS = " \t\r\n"


# --- lexer ---------------------------------------------------------------------------------
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.]))
  | (?P<field>\.[A-Za-z_]\w*)
  | (?P<var>\$\w*)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<op>:=|=|\||\(|\)|,)
""", re.VERBOSE)


def _split(text: str) -> list[tuple[str, Any]]:
    """Text and action items; trim markers applied; an action is its list of tokens."""
    items: list[tuple[str, Any]] = []
    pos = 0
    trim_next = False
    while True:
        start = text.find("{{", pos)
        chunk = text[pos:] if start < 0 else text[pos:start]
        if trim_next:
            chunk = chunk.lstrip(_WS)
        if start < 0:
            if chunk:
                items.append(("text", chunk))
            return items
        i = start + 2
        if text.startswith("-", i) and i + 1 < len(text) and text[i + 1] in _WS:
            chunk = chunk.rstrip(_WS)
            i += 2
        if chunk:
            items.append(("text", chunk))
        tokens, pos, trim_next = _lex_action(text, i)
        if tokens:
            items.append(("action", tokens))


def _lex_action(text: str, i: int) -> tuple[list[tuple[str, str, bool]], int, bool]:
    """Tokens (kind, text, preceded-by-space) of the action starting at `i`; the end position
    after `}}` and whether it ended with a trim marker."""
    tokens: list[tuple[str, str, bool]] = []
    space = True
    j = i
    while j < len(text) and text[j] in _WS:
        j += 1
    if text.startswith("/*", j):
        end = text.find("*/", j + 2)
        if end < 0:
            raise ConfigError(f"template: unclosed comment at offset {j}")
        i = end + 2
    while True:
        if i >= len(text):
            raise ConfigError("template: unclosed action (missing '}}')")
        if text.startswith("}}", i):
            return tokens, i + 2, False
        if space and text.startswith("-}}", i):
            return tokens, i + 3, True
        m = _TOKEN.match(text, i)
        if m is None:
            raise ConfigError(f"template: unexpected {text[i]!r} at offset {i}",
                              hint="dataTemplate uses Go template syntax, e.g. {{.field}}")
        kind = m.lastgroup or ""
        if kind == "ws":
            space = True
        else:
            tokens.append((kind, m.group(), space))
            space = False
        i = m.end()


# --- parser --------------------------------------------------------------------------------
class Break(Exception):
    pass


class Continue(Exception):
    pass


_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue",
             "define", "template", "block"}


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return orjson.loads(text) if "\\" in text else text[1:-1]
    if kind == "raw":
        return text[1:-1]
    if kind == "char":
        return ord(orjson.loads('"' + text[1:-1] + '"'))
    t = text.replace("_", "")
    if t.lower().lstrip("+-").startswith("0x"):
        return int(t, 16)
    if any(c in t for c in ".eE"):
        return float(t)
    return int(t)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, bool]]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> tuple[str, str, bool] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def pipeline(self, allow_decl: bool = True, two_vars: bool = False) -> tuple:
        decls: list[str] = []
        assign = False
        t = self.toks
        if allow_decl and self.peek() and self.peek()[0] == "var":  # type: ignore[index]
            k = self.i
            names = [t[k][1]]
            if two_vars and k + 2 < len(t) and t[k + 1][1] == "," and t[k + 2][0] == "var":
                names.append(t[k + 2][1])
                k += 2
            if k + 1 < len(t) and t[k + 1][1] in (":=", "="):
                decls, assign = names, t[k + 1][1] == "="
                self.i = k + 2
        cmds = [self.command()]
        while self.peek() and self.peek()[1] == "|":  # type: ignore[index]
            self.i += 1
            cmds.append(self.command())
        return (decls, assign, cmds)

    def command(self) -> list[tuple]:
        args: list[tuple] = []
        while (tok := self.peek()) is not None and tok[1] not in ("|", ")"):
            args.append(self.operand())
        if not args:
            raise ConfigError("template: missing value in pipeline")
        return args

    def operand(self) -> tuple:
        kind, text, _ = self.toks[self.i]
        self.i += 1
        if kind in ("str", "raw", "char", "num"):
            node: tuple = ("lit", _literal(kind, text))
        elif kind == "field":
            node = ("field", None, [text[1:]])
        elif kind == "dot":
            node = ("dot",)
        elif kind == "var":
            node = ("var", text, [])
        elif kind == "ident":
            if text in ("true", "false"):
                node = ("lit", text == "true")
            elif text == "nil":
                node = ("lit", None)
            elif text in FUNCS or text in ("and", "or"):
                node = ("func", text)
            else:
                raise ConfigError(f"template: function {text!r} not defined")
        elif text == "(":
            pipe = self.pipeline()
            if self.peek() is None or self.peek()[1] != ")":  # type: ignore[index]
                raise ConfigError("template: unclosed '('")
            self.i += 1
            node = ("sub", pipe, [])
        else:
            raise ConfigError(f"template: unexpected {text!r} in action")
        while (tok := self.peek()) is not None and tok[0] == "field" and not tok[2]:
            self.i += 1  # a chained field: .a.b, $x.a, (pipe).a
            if node[0] == "field":
                node[2].append(tok[1][1:])
            elif node[0] in ("var", "sub"):
                node[2].append(tok[1][1:])
            else:
                raise ConfigError(f"template: unexpected {tok[1]!r}")
        return node


def _parse(text: str) -> list[tuple]:
    items = _split(text)
    pos = 0

    def block(stops: tuple[str, ...]) -> tuple[list[tuple], str, list[tuple[str, str, bool]]]:
        nonlocal pos
        nodes: list[tuple] = []
        while pos < len(items):
            kind, val = items[pos]
            pos += 1
            if kind == "text":
                nodes.append(("text", val))
                continue
            head = val[0][1] if val[0][0] == "ident" else ""
            if head in stops:
                return nodes, head, val
            if head in ("end", "else"):
                raise ConfigError(f"template: unexpected {{{{{head}}}}}")
            if head in ("if", "with", "range"):
                nodes.append(control(head, val[1:]))
            elif head in ("break", "continue"):
                nodes.append((head,))
            elif head in ("define", "template", "block"):
                raise ConfigError(f"template: {{{{{head}}}}} is not supported")
            else:
                nodes.append(("action", _full(val, allow_decl=True)))
        if stops:
            raise ConfigError(f"template: missing {{{{end}}}} (expected one of {', '.join(stops)})")
        return nodes, "", []

    def control(head: str, toks: list[tuple[str, str, bool]]) -> tuple:
        if not toks:
            raise ConfigError(f"template: missing pipeline in {{{{{head}}}}}")
        pipe = _full(toks, allow_decl=True, two_vars=head == "range")
        body, stop, stop_toks = block(("else", "end"))
        other: list[tuple] = []
        if stop == "else":
            rest = stop_toks[1:]
            if rest and rest[0][1] == "if" and head == "if":
                other = [control("if", rest[1:])]  # the nested if consumes the shared {{end}}
            else:
                other, stop, _ = block(("end",))
        return (head, pipe, body, other)

    nodes, _, _ = block(())
    return nodes


def _full(toks: list[tuple[str, str, bool]], allow_decl: bool, two_vars: bool = False) -> tuple:
    p = _Parser(toks)
    pipe = p.pipeline(allow_decl, two_vars)
    if p.peek() is not None:
        raise ConfigError(f"template: unexpected {p.peek()[1]!r} in action")  # type: ignore[index]
    return pipe


# --- execution -----------------------------------------------------------------------------
def _field(value: Any, names: list[str]) -> Any:
    for name in names:
        if value is None:
            return None
        if isinstance(value, Mapping):
            value = value.get(name)
        else:
            raise EvalError(f"template: can't evaluate field {name} in type "
                            f"{type_name(value)}")
    return value


class _Exec:
    __slots__ = ("out", "vars")

    def __init__(self, data: Any) -> None:
        self.out: list[str] = []
        self.vars: list[list[Any]] = [["$", data]]

    def lookup(self, name: str) -> Any:
        for k in range(len(self.vars) - 1, -1, -1):
            if self.vars[k][0] == name:
                return self.vars[k][1]
        raise EvalError(f"template: undefined variable {name}")

    def nodes(self, nodes: list[tuple], dot: Any) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                self.out.append(node[1])
            elif kind == "action":
                value = self.pipe(node[1], dot)
                if not node[1][0]:
                    self.out.append(go_str(value))
            elif kind == "if" or kind == "with":
                mark = len(self.vars)
                value = self.pipe(node[1], dot)
                if truth(value):
                    self.nodes(node[2], value if kind == "with" else dot)
                else:
                    self.nodes(node[3], dot)
                del self.vars[mark:]
            elif kind == "range":
                self.range(node, dot)
            elif kind == "break":
                raise Break
            elif kind == "continue":
                raise Continue

    def range(self, node: tuple, dot: Any) -> None:
        decls, _, cmds = node[1]
        mark = len(self.vars)
        value = self.pipe(([], False, cmds), dot)
        if isinstance(value, Mapping):
            pairs: Any = ((k, value[k]) for k in sorted(value))
        elif isinstance(value, list | tuple):
            pairs = enumerate(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = ((i, i) for i in range(value))
        elif value is None:
            pairs = ()
        else:
            raise EvalError(f"template: range can't iterate over {go_str(value)}")
        ran = False
        for key, elem in pairs:
            ran = True
            if len(decls) == 1:
                self.vars.append([decls[0], elem])
            elif len(decls) == 2:
                self.vars.append([decls[0], key])
                self.vars.append([decls[1], elem])
            try:
                self.nodes(node[2], elem)
            except Break:
                break
            except Continue:
                pass
            finally:
                del self.vars[mark:]
        if not ran:
            self.nodes(node[3], dot)

    def pipe(self, pipe: tuple, dot: Any) -> Any:
        decls, assign, cmds = pipe
        value: Any = _MISSING
        for cmd in cmds:
            value = self.command(cmd, dot, value)
        if decls:
            if assign:
                for entry in reversed(self.vars):
                    if entry[0] == decls[0]:
                        entry[1] = value
                        break
                else:
                    raise EvalError(f"template: undefined variable {decls[0]}")
            else:
                self.vars.append([decls[0], value])
        return value

    def command(self, cmd: list[tuple], dot: Any, final: Any) -> Any:
        head = cmd[0]
        if head[0] == "func":
            name = head[1]
            if name in ("and", "or"):
                args = [*cmd[1:]] + ([("lit", final)] if final is not _MISSING else [])
                value = None
                for a in args:
                    value = self.arg(a, dot)
                    if truth(value) != (name == "and"):
                        return value
                return value
            values = [self.arg(a, dot) for a in cmd[1:]]
            if final is not _MISSING:
                values.append(final)
            try:
                return FUNCS[name](*values)
            except EvalError:
                raise
            except Exception as exc:  # a function's own failure, with the template's name on it
                raise EvalError(f"template: error calling {name}: {exc}") from None
        if len(cmd) > 1 or final is not _MISSING:
            raise EvalError("template: can't give argument to non-function")
        return self.arg(head, dot)

    def arg(self, node: tuple, dot: Any) -> Any:
        kind = node[0]
        if kind == "field":
            return _field(dot, node[2])
        if kind == "dot":
            return dot
        if kind == "lit":
            return node[1]
        if kind == "var":
            return _field(self.lookup(node[1]), node[2])
        if kind == "sub":
            return _field(self.pipe(node[1], dot), node[2])
        return self.command([node], dot, _MISSING)  # a function name as an argument: called


class Template:
    """A compiled template: `execute(data) -> str` (raises EvalError)."""

    __slots__ = ("source", "_nodes", "constant")

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes = _parse(source)
        self.constant = all(n[0] == "text" for n in self._nodes)

    def execute(self, data: Any) -> str:
        ex = _Exec(data)
        try:
            ex.nodes(self._nodes, data)
        except (Break, Continue):
            raise EvalError("template: break/continue outside range") from None
        return "".join(ex.out)


@lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    """The compiled template for `source` (ConfigError if it does not parse)."""
    return Template(source)


def has_template(value: Any) -> bool:
    """Whether a property value holds a template action (a string with `{{`, or inside one)."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, Mapping):
        return any(has_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(v) for v in value)
    return False


def resolve_props(props: Any, row: Any) -> Any:
    """`props` with every templated string rendered against `row` (dicts and lists walked);
    values without `{{` are returned as they are."""
    if isinstance(props, str):
        return compile_template(props).execute(row) if "{{" in props else props
    if isinstance(props, Mapping):
        return {k: resolve_props(v, row) for k, v in props.items()}
    if isinstance(props, list | tuple):
        return [resolve_props(v, row) for v in props]
    return props
