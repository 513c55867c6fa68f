"""Function plugins as registry FunctionDefs, and the resolver that finds them by name.

`exec_batch(args, n, ctx)` calls the plugin's vectorized `exec_batch(columns, ctx)` when it
has one (a returned Column, numpy array or list is accepted), else `exec(args, ctx)` row by
row. An aggregate plugin gets the rows of one group and returns that group's single value,
its `exec` receiving one list of values per argument. A plugin raising `EvalError` fails
that row (the message is kept); any other exception becomes a `PluginError` naming the
plugin, which fails (or restarts) the rule, never the process.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kuiper.api.batch import BIGINT, BOOLEAN, FLOAT, Column
from kuiper.api.contract import Context
from kuiper.errors import EvalError, KuiperError, NotFoundError, PluginError
from kuiper.functions.registry import FunctionDef, FunctionRegistry
from kuiper.plugins.loader import (
    LoadedPlugin,
    PluginLoader,
    manifest_function_names,
    read_manifest,
)
from kuiper.plugins.naming import NAME_RE, best_file, scan_files
from kuiper.state.extension_state import ExtensionState

log = logging.getLogger(__name__)

_DTYPE_KINDS = {"i": BIGINT, "u": BIGINT, "f": FLOAT, "b": BOOLEAN}


class FunctionContextAdapter(Context):
    """Gives a plugin the full Context over whatever the engine passed (or nothing at all)."""

    def __init__(self, inner: Any, fallback: ExtensionState, root: str) -> None:
        self._inner = inner
        self._fallback = fallback
        self._root = root

    def _call(self, method: str, *args: Any) -> Any:
        fn = getattr(self._inner, method, None) if self._inner is not None else None
        if fn is None:
            return getattr(self._fallback, method)(*args)
        return fn(*args)

    def get_logger(self) -> logging.Logger:
        fn = getattr(self._inner, "get_logger", None)
        return fn() if fn is not None else log

    def get_rule_id(self) -> str:
        fn = getattr(self._inner, "get_rule_id", None)
        return fn() if fn is not None else ""

    def get_op_id(self) -> str:
        fn = getattr(self._inner, "get_op_id", None)
        return fn() if fn is not None else ""

    def get_instance_id(self) -> int:
        fn = getattr(self._inner, "get_instance_id", None)
        return fn() if fn is not None else 0

    def get_func_id(self) -> int:
        fn = getattr(self._inner, "get_func_id", None)
        return fn() if fn is not None else 0

    def get_root_path(self) -> str:
        fn = getattr(self._inner, "get_root_path", None)
        return fn() if fn is not None else self._root

    def put_state(self, key: str, value: Any) -> None:
        self._call("put_state", key, value)

    def get_state(self, key: str) -> Any:
        return self._call("get_state", key)

    def delete_state(self, key: str) -> None:
        self._call("delete_state", key)

    def incr_counter(self, key: str, amount: int = 1) -> None:
        if self._inner is not None and hasattr(self._inner, "incr_counter"):
            self._inner.incr_counter(key, amount)
        elif self._inner is not None and hasattr(self._inner, "get_state"):
            self._inner.put_state(key, int(self._inner.get_state(key) or 0) + int(amount))
        else:
            self._fallback.incr_counter(key, amount)

    def get_counter(self, key: str) -> int:
        if self._inner is not None and hasattr(self._inner, "get_counter"):
            return int(self._inner.get_counter(key))
        if self._inner is not None and hasattr(self._inner, "get_state"):
            return int(self._inner.get_state(key) or 0)
        return self._fallback.get_counter(key)


def _to_column(result: Any, n: int, where: str) -> Column:
    if isinstance(result, Column):
        col = result
    elif isinstance(result, np.ndarray):
        kind = _DTYPE_KINDS.get(result.dtype.kind)
        if kind is not None and result.ndim == 1:
            dtype = {BIGINT: np.int64, FLOAT: np.float64, BOOLEAN: np.bool_}[kind]
            col = Column(kind, result.astype(dtype, copy=False))
        else:
            col = Column.from_values(result.tolist())
    elif isinstance(result, list | tuple):
        col = Column.from_values(list(result))
    else:
        raise PluginError(f"{where}: exec_batch returned {type(result).__name__}",
                          hint="return a Column, a numpy array or a list with one value per row")
    if len(col) != n:
        raise PluginError(f"{where}: exec_batch returned {len(col)} values for {n} rows",
                          hint="return exactly one value per row")
    return col


def _broadcast(col: Column, n: int) -> Column:
    if len(col) == 1 and n != 1:
        return col.take(np.zeros(n, dtype=np.intp))
    return col


class PluginFunction:
    """The engine side of one function exported by a plugin: one instance, one fallback state."""

    def __init__(self, name: str, factory: Callable[[], Any], where: str, root: str) -> None:
        self.name = name
        self.where = where
        self.root = root
        self.impl = factory()
        self.state = ExtensionState()
        self._ctxs: dict[int, FunctionContextAdapter] = {}
        self._lock = threading.Lock()
        self.is_aggregate = bool(self._guard(self.impl.is_aggregate))
        self.vectorized = callable(getattr(self.impl, "exec_batch", None))

    def _guard(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except EvalError as exc:
            if exc.message.startswith("call func "):
                raise
            raise EvalError(f"call func {self.name} error: {exc.message}") from None
        except KuiperError:
            raise
        except Exception as exc:  # noqa: BLE001 - everything a plugin raises is the plugin's
            raise PluginError(f"{self.where} failed: {type(exc).__name__}: {exc}",
                              hint="the plugin raised; fix it or catch the error") from exc

    def context(self, ctx: Any) -> Any:
        if isinstance(ctx, Context) and callable(getattr(ctx, "get_func_id", None)):
            return ctx  # the runtime's FunctionContext of this call site: complete already
        key = id(ctx)
        with self._lock:
            adapted = self._ctxs.get(key)
            if adapted is None or adapted._inner is not ctx:
                adapted = self._ctxs[key] = FunctionContextAdapter(ctx, self.state, self.root)
            return adapted

    def validate(self, args: list[Any]) -> str | None:
        try:
            msg = self.impl.validate(args)
        except Exception as exc:  # noqa: BLE001
            return f"validate failed: {type(exc).__name__}: {exc}"
        return str(msg) if msg else None

    def exec_batch(self, args: list[Column], n: int, ctx: Any) -> Column:
        fctx = self.context(ctx)
        if self.is_aggregate:
            values = [_broadcast(c, n).to_pylist() for c in args]
            return Column.from_values([self._guard(self.impl.exec, values, fctx)])
        if self.vectorized:
            cols = [_broadcast(c, n) for c in args]
            return _to_column(self._guard(self.impl.exec_batch, cols, fctx), n, self.where)
        lists = [_broadcast(c, n).to_pylist() for c in args]
        run = self.impl.exec
        if not lists:
            out = [self._guard(run, [], fctx) for _ in range(n)]
        else:
            out = [self._guard(run, list(row), fctx) for row in zip(*lists)]
        return Column.from_values(out)

    def definition(self) -> FunctionDef:
        return FunctionDef(self.name, 0, None, self.exec_batch, is_aggregate=self.is_aggregate,
                           validate=self.validate)


def function_def(loaded: LoadedPlugin, function: str | None = None,
                 root: str | Path | None = None) -> FunctionDef:
    """A fresh FunctionDef (with its own plugin instance) for one function of a loaded plugin.

    `root` is what `ctx.get_root_path()` answers when the engine passes no context.
    """
    name = function or loaded.name
    if root is None:
        root = loaded.file.path.parent.parent.parent  # {root}/plugins/functions/{file}
    fn = PluginFunction(name, loaded.factory(name), loaded.where(name), str(root))
    return fn.definition()


class PluginFunctionResolver:
    """`FunctionRegistry.add_resolver` hook: function name (case-sensitive) -> FunctionDef."""

    def __init__(self, root: str | Path, loader: PluginLoader | None = None,
                 registry: FunctionRegistry | None = None) -> None:
        self.root = Path(root)
        self.loader = loader or PluginLoader(root)
        self.registry = registry
        self._index: dict[str, str] = {}
        self._signature: tuple[Any, ...] | None = None
        self._lock = threading.Lock()

    def _folder(self) -> Path:
        return self.loader.folder("functions")

    def _folder_signature(self) -> tuple[Any, ...]:
        folder = self._folder()
        etc = self.root / "etc" / "functions"
        sig: list[Any] = []
        for d in (folder, etc):
            if d.is_dir():
                sig.extend((p.name, p.stat().st_mtime_ns) for p in sorted(d.iterdir()) if p.is_file())
        return tuple(sig)

    def index(self) -> dict[str, str]:
        """Function name -> plugin name, for every installed function plugin."""
        sig = self._folder_signature()
        with self._lock:
            if sig == self._signature:
                return dict(self._index)
            index: dict[str, str] = {}
            for plugin in sorted({f.name for f in scan_files(self._folder())}):
                for fname in self._exported(plugin):
                    if fname in index and index[fname] != plugin:
                        log.warning("function %s exported by plugins %s and %s; using %s",
                                    fname, index[fname], plugin, index[fname])
                        continue
                    index[fname] = plugin
            self._index, self._signature = index, sig
            return dict(index)

    def _exported(self, plugin: str) -> list[str]:
        listed = manifest_function_names(read_manifest(self.root, "functions", plugin))
        if listed:
            return listed
        try:
            return self.loader.load("functions", plugin).function_names()
        except KuiperError as exc:
            log.warning("skipping function plugin %s: %s", plugin, exc)
            return []

    def __call__(self, name: str) -> FunctionDef | None:
        if not NAME_RE.match(name or ""):
            return None
        plugin = None
        if best_file(self._folder(), name) is not None and (name[:1].islower() or not name[:1].isalpha()):
            plugin = name
        if plugin is None:
            plugin = self.index().get(name)
        if plugin is None:
            return None
        if self.registry is not None and self.registry.is_builtin(name):
            log.warning("function plugin %s is shadowed by the built-in of the same name", name)
            return None
        try:
            loaded = self.loader.load("functions", plugin)
        except NotFoundError:
            return None
        if loaded.exports and name not in loaded.exports:
            return None
        return function_def(loaded, name, self.root)


def check_function_names(names: list[str], registry: FunctionRegistry | None,
                         taken: dict[str, str] | None = None, plugin: str = "") -> None:
    """Refuse names a built-in (or another plugin) already has: ConflictError-like PluginError."""
    for fname in names:
        if registry is not None and registry.is_builtin(fname):
            raise PluginError(f"function plugin {plugin}: '{fname}' is the name of a built-in function",
                              hint="rename the function; built-in names can't be replaced")
        other = (taken or {}).get(fname)
        if other is not None and other != plugin:
            raise PluginError(f"function plugin {plugin}: '{fname}' is already exported by plugin {other}",
                              hint="function names must be unique across plugins")


def install_resolver(registry: FunctionRegistry, root: str | Path,
                     loader: PluginLoader | None = None) -> PluginFunctionResolver:
    """Make `registry.lookup` find installed function plugins of `root`."""
    resolver = PluginFunctionResolver(root, loader, registry)
    registry.add_resolver(resolver)
    return resolver
