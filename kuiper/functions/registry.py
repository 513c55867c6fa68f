"""The function registry: FunctionDef, name lookup (built-in -> plugin -> external), reserved names.

A function is a `FunctionDef` whose `exec_batch(args, n, ctx)` computes a whole batch: it gets
one `Column` per argument and returns a `Column` of `n` rows. An argument column holds either
`n` rows or 1 row (a constant the caller did not expand; see `kuiper.functions.vector`).

Plan-time validation (`FunctionDef.check` / `validate`) receives one entry per argument: the
Python value for a literal argument (str, int, float, bool, None, list, dict) and, for anything
else, whatever the planner passes (an expression node, or an `ArgRef`); use `is_literal` and
`arg_kind` (reads a `.kind` attribute) rather than inspecting those objects.

Built-in names are case-insensitive; names from added resolvers (plugins, external services)
are looked up as written, after the built-ins. `RESERVED` names are handled by the planner
(aggregates, analytic functions, window functions, meta ...) and can't be taken by a plugin.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from kuiper.api.batch import Column, kind_of
from kuiper.errors import EvalError

#: argument modes for `FunctionDef.arg_modes`
VALUE = "value"  # any expression
LITERAL = "literal"  # must be a literal constant (a type name, a function name, ...)


@runtime_checkable
class FunctionContext(Protocol):
    """What a function sees of the running rule: identity and (keyed) state."""

    def get_rule_id(self) -> str: ...

    def get_op_id(self) -> str: ...

    def get_func_id(self) -> int: ...

    def get_state(self, key: str) -> Any: ...

    def put_state(self, key: str, value: Any) -> None: ...

    def delete_state(self, key: str) -> None: ...


ExecBatch = Callable[[list[Column], int, "FunctionContext | None"], Column]
Validator = Callable[[list[Any]], "str | None"]
Resolver = Callable[[str], "FunctionDef | None"]


@dataclass(frozen=True)
class ArgRef:
    """A non-literal argument at plan time, with its static kind when known."""

    kind: str | None = None


_LITERAL_TYPES = (str, int, float, bool, bytes, list, dict, type(None))


def is_literal(arg: Any) -> bool:
    """True when a plan-time argument is a literal's Python value."""
    return isinstance(arg, _LITERAL_TYPES)


def arg_kind(arg: Any) -> str | None:
    """The static kind of a plan-time argument, None when unknown (or a null literal)."""
    if is_literal(arg):
        return None if arg is None else kind_of(arg)
    kind = getattr(arg, "kind", None)
    return kind if isinstance(kind, str) else None


@dataclass(frozen=True)
class FunctionDef:
    """A SQL function: arity, batch implementation and plan-time facts."""

    name: str
    min_args: int
    max_args: int | None  # None = variadic
    exec_batch: ExecBatch
    is_aggregate: bool = False
    return_kind: str | None = None  # static result kind when known
    validate: Validator | None = None  # plan-time check beyond arity; returns an error message
    arg_modes: tuple[str, ...] = ()  # per argument VALUE | LITERAL (missing = VALUE)

    def arity_error(self, count: int) -> str | None:
        """eKuiper's message when `count` arguments don't fit, else None."""
        lo, hi = self.min_args, self.max_args
        if count >= lo and (hi is None or count <= hi):
            return None
        if hi == lo:
            return f"Expect {lo} arguments but found {count}."
        if hi is None:
            return f"Expect at least {lo} arguments but found {count}."
        return f"Expect {lo} to {hi} arguments but found {count}."

    def check(self, args: list[Any]) -> str | None:
        """Arity, literal-only arguments and `validate`, in that order: the first error or None."""
        msg = self.arity_error(len(args))
        if msg:
            return msg
        for i, mode in enumerate(self.arg_modes[: len(args)]):
            if mode == LITERAL and not is_literal(args[i]):
                return f"Expect a literal for parameter {i + 1}"
        return self.validate(args) if self.validate is not None else None


#: names the planner handles itself; no plugin may register them
RESERVED: frozenset[str] = frozenset(
    # aggregates
    "avg count max min sum collect last_value merge_agg deduplicate median stddev stddevs var "
    "vars percentile percentile_cont percentile_disc last_agg_hit_count last_agg_hit_time "
    # analytic and multi-column
    "lag latest changed_col had_changed acc_sum acc_min acc_max acc_count acc_avg changed_cols "
    "change_capture change_to consecutive_count consecutive_start "
    # multi-row, window and windowing
    "unnest extract row_number tumblingwindow hoppingwindow slidingwindow sessionwindow "
    "countwindow statewindow window_start window_end "
    # per-rule / per-message values
    "event_time rule_id rule_start mqtt meta last_hit_count last_hit_time "
    # eKuiper internals
    "inc_avg inc_collect inc_count inc_last_value inc_max inc_merge_agg inc_min inc_sum bypass "
    "window_trigger props dedup_trigger".split()
)


class FunctionRegistry:
    """Built-in functions by lower-case name, then resolvers (plugins, external services)."""

    def __init__(self, loader: Callable[[], None] | None = None) -> None:
        self._builtins: dict[str, FunctionDef] = {}
        self._resolvers: list[Resolver] = []
        self._loader = loader

    def _load(self) -> None:
        if self._loader is not None:
            loader, self._loader = self._loader, None
            loader()

    def register(self, defn: FunctionDef, *, replace: bool = False) -> None:
        """Add a built-in. Names are case-insensitive; a second definition needs `replace`."""
        key = defn.name.lower()
        if key in RESERVED and not defn.is_aggregate:
            raise ValueError(f"function name {defn.name} is reserved")
        if key in self._builtins and not replace:
            raise ValueError(f"function {defn.name} is already registered")
        self._builtins[key] = defn

    def add_resolver(self, resolver: Resolver) -> None:
        """Search `resolver(name)` after the built-ins (and after earlier resolvers)."""
        self._resolvers.append(resolver)

    def remove_resolver(self, resolver: Resolver) -> None:
        if resolver in self._resolvers:
            self._resolvers.remove(resolver)

    def lookup(self, name: str) -> FunctionDef | None:
        """The definition for `name`: built-in (any case), else the first resolver's answer."""
        self._load()
        found = self._builtins.get(name.lower())
        if found is not None:
            return found
        for resolver in self._resolvers:
            found = resolver(name)
            if found is not None:
                return found
        return None

    def is_builtin(self, name: str) -> bool:
        """True if `name` is taken by a built-in or reserved (a plugin must not use it)."""
        self._load()
        key = name.lower()
        return key in self._builtins or key in RESERVED

    def names(self) -> list[str]:
        """Registered built-in names, sorted."""
        self._load()
        return sorted(self._builtins)


def _load_builtins() -> None:
    import kuiper.functions.builtin  # noqa: F401  (families register on import)


default_registry = FunctionRegistry(loader=_load_builtins)


def lookup(name: str) -> FunctionDef | None:
    """`default_registry.lookup(name)`."""
    return default_registry.lookup(name)


def _with_name(name: str, fn: ExecBatch) -> ExecBatch:
    """Errors raised by `fn` come out as EvalError naming the function, as eKuiper words it."""

    def exec_batch(args: list[Column], n: int, ctx: FunctionContext | None) -> Column:
        try:
            return fn(args, n, ctx)
        except EvalError as exc:
            if exc.message.startswith("call func "):
                raise
            raise EvalError(f"call func {name} error: {exc.message}") from None

    exec_batch.__wrapped__ = fn  # type: ignore[attr-defined]
    exec_batch.__name__ = f"{name}_batch"
    return exec_batch


def builtin(
    name: str,
    min_args: int,
    max_args: int | None | str = "same",
    *,
    aliases: tuple[str, ...] = (),
    return_kind: str | None = None,
    validate: Validator | None = None,
    arg_modes: tuple[str, ...] = (),
    registry: FunctionRegistry | None = None,
) -> Callable[[ExecBatch], ExecBatch]:
    """Register the decorated `exec_batch` as built-in `name` (and `aliases`).

    `max_args` defaults to `min_args`; None means variadic.
    """
    hi: int | None = min_args if max_args == "same" else max_args  # type: ignore[assignment]
    reg = registry if registry is not None else default_registry

    def decorate(fn: ExecBatch) -> ExecBatch:
        for fname in (name, *aliases):
            reg.register(
                FunctionDef(
                    fname,
                    min_args,
                    hi,
                    _with_name(fname, fn),
                    return_kind=return_kind,
                    validate=validate,
                    arg_modes=arg_modes,
                )
            )
        return fn

    return decorate
