"""Loads plugin modules under private names and hands out their symbols as checked factories.

A module is imported from its file with `ExtensionFileLoader` (compiled) or `SourceFileLoader`
(`.py`) under a name derived from the file's content hash, so a plugin called `random` or
`json` never shadows the stdlib, and a changed file is a new module: rules started after an
update get the new code while running rules keep the objects they hold (hot reload).
Compiled files are copied to a private path before loading, because the dynamic linker
returns the already-loaded library for a path it has seen.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kuiper.api.contract import Function, LookupSource, Sink, Source
from kuiper.errors import KuiperError, NotFoundError, PluginError
from kuiper.plugins import ekuiper_compat
from kuiper.plugins.naming import (
    PluginFile,
    best_file,
    check_name,
    installed_names,
    plugin_dir,
    plugin_name,
    plugin_type,
    symbol_name,
)

log = logging.getLogger(__name__)

Factory = Callable[[], Any]

_BASES: dict[str, tuple[type, ...]] = {
    "sources": (Source, LookupSource, ekuiper_compat.Source),
    "sinks": (Sink, ekuiper_compat.Sink),
    "functions": (Function, ekuiper_compat.Function),
}
_BASE_NAMES = {
    "sources": "kuiper.api.Source (or LookupSource, or ekuiper.Source)",
    "sinks": "kuiper.api.Sink (or ekuiper.Sink)",
    "functions": "kuiper.api.Function (or ekuiper.Function)",
}
_import_lock = threading.RLock()


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / f"kuiper-plugin-cache-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _exec_module(modname: str, path: Path, loader: Any, *, as_main: bool = False) -> ModuleType:
    spec = importlib.util.spec_from_file_location(modname, str(path), loader=loader)
    if spec is None:  # pragma: no cover - only for unknown suffixes
        raise PluginError(f"cannot load plugin file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        if as_main:
            code = loader.get_code(modname)
            module.__dict__["__name__"] = "__main__"
            try:
                exec(code, module.__dict__)  # noqa: S102 - running the plugin is the point
            finally:
                module.__dict__["__name__"] = modname
        else:
            loader.exec_module(module)
    except BaseException:
        sys.modules.pop(modname, None)
        raise
    return module


def import_plugin_file(pfile: PluginFile, ptype: str) -> ModuleType:
    """Import one plugin file under a private module name (PluginError on any failure)."""
    path = pfile.path
    digest = _digest(path)
    with _import_lock:
        try:
            if pfile.compiled:
                return _import_extension(pfile, ptype, digest)
            source = path.read_text(encoding="utf-8", errors="replace")
            modname = f"kuiper_plugin_{ptype}_{pfile.stem}_{digest}"
            if modname in sys.modules:
                return sys.modules[modname]
            loader = importlib.machinery.SourceFileLoader(modname, str(path))
            # an eKuiper portable main script starts its plugin under `if __name__ == "__main__"`
            as_main = "plugin.start(" in source
            with ekuiper_compat.installed(), _sibling_imports(path.parent, as_main):
                return _exec_module(modname, path, loader, as_main=as_main)
        except PluginError:
            raise
        except Exception as exc:  # noqa: BLE001 - any import failure is the plugin's
            raise PluginError(
                f"plugin file {path} failed to import: {type(exc).__name__}: {exc}",
                hint="fix the module (or install what it imports) and install it again",
            ) from exc


class _sibling_imports:
    """For a portable main script: its folder on sys.path while it imports its own modules."""

    def __init__(self, folder: Path, active: bool) -> None:
        self.folder = str(folder)
        self.active = active
        self.before: set[str] = set()

    def __enter__(self) -> None:
        if self.active:
            self.before = set(sys.modules)
            sys.path.insert(0, self.folder)

    def __exit__(self, *exc: object) -> None:
        if not self.active:
            return
        if self.folder in sys.path:
            sys.path.remove(self.folder)
        # sibling modules stay referenced by the plugin but leave the global namespace
        for name in set(sys.modules) - self.before:
            mod = sys.modules.get(name)
            mfile = getattr(mod, "__file__", None) or ""
            if mfile.startswith(self.folder + os.sep):
                del sys.modules[name]


def _import_extension(pfile: PluginFile, ptype: str, digest: str) -> ModuleType:
    # The init function is PyInit_<last part of the module name>, the name it was compiled with.
    package = f"_kuiper_plugin_{ptype}_{digest}"
    for stem in dict.fromkeys((pfile.stem, pfile.name, symbol_name(pfile.name))):
        modname = f"{package}.{stem}"
        if modname in sys.modules:
            return sys.modules[modname]
    private = _cache_dir() / digest
    private.mkdir(exist_ok=True)
    target = private / pfile.path.name
    if not target.exists():
        shutil.copy2(pfile.path, target)
    last: ImportError | None = None
    for stem in dict.fromkeys((pfile.stem, pfile.name, symbol_name(pfile.name))):
        modname = f"{package}.{stem}"
        loader = importlib.machinery.ExtensionFileLoader(modname, str(target))
        try:
            with ekuiper_compat.installed():
                return _exec_module(modname, target, loader)
        except ImportError as exc:
            if "PyInit_" not in str(exc):
                raise
            last = exc
    raise PluginError(
        f"plugin file {pfile.path} is not a module named {pfile.stem}: {last}",
        hint=f"compile it as module '{pfile.name}' (kuiper plugin build --name {pfile.name})",
    )


def _is_base(obj: Any, ptype: str) -> bool:
    bases = _BASES[ptype]
    return issubclass(obj, bases) if isinstance(obj, type) else isinstance(obj, bases)


def check_symbol(obj: Any, ptype: str, where: str) -> None:
    """PluginError unless `obj` (class or instance) is a `ptype` extension."""
    if not _is_base(obj, ptype):
        what = obj.__name__ if isinstance(obj, type) else type(obj).__name__
        raise PluginError(f"{where}: {what} is not a {ptype[:-1]} plugin",
                          hint=f"make it subclass {_BASE_NAMES[ptype]}")


def make_factory(symbol: Any, ptype: str, where: str) -> Factory:
    """A callable building the extension object the runtime uses.

    A class is instantiated per call (one instance per rule), an instance is shared (a
    singleton), another callable is a constructor; eKuiper SDK objects come wrapped in adapters.
    """
    if isinstance(symbol, type) or _is_base(symbol, ptype):
        check_symbol(symbol, ptype, where)
    elif not callable(symbol):
        check_symbol(symbol, ptype, where)

    def build() -> Any:
        if isinstance(symbol, type) or not _is_base(symbol, ptype):
            try:
                obj = symbol()
            except KuiperError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise PluginError(f"{where}: constructor failed: {type(exc).__name__}: {exc}",
                                  hint="fix the plugin's __init__") from exc
        else:
            obj = symbol
        check_symbol(obj, ptype, where)
        return ekuiper_compat.adapt(obj, ptype)

    build.__name__ = f"make_{where}"
    return build


@dataclass
class LoadedPlugin:
    """A plugin module and its exported symbols."""

    plugin_type: str
    name: str
    file: PluginFile
    module: ModuleType
    manifest: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)  # function/source/sink name -> symbol

    @property
    def version(self) -> str:
        return self.file.version or str(self.manifest.get("version") or "").lstrip("vV")

    def where(self, export: str | None = None) -> str:
        sym = symbol_name(export or self.name)
        return f"{self.plugin_type[:-1]} plugin '{export or self.name}' ({self.file.path.name}, symbol {sym})"

    def symbol(self, export: str | None = None) -> Any:
        """The exported object for `export` (default: the plugin itself)."""
        export = export or self.name
        if export in self.exports:
            return self.exports[export]
        sym = symbol_name(export)
        if hasattr(self.module, sym):
            return getattr(self.module, sym)
        public = sorted(k for k in vars(self.module) if k[:1].isupper())
        raise PluginError(
            f"plugin file {self.file.path} does not export the symbol '{sym}'",
            hint=f"a plugin named {export} must define {sym} (a class or an instance); "
                 f"upper-case names found: {', '.join(public) or 'none'}",
        )

    def factory(self, export: str | None = None) -> Factory:
        return make_factory(self.symbol(export), self.plugin_type, self.where(export))

    def function_names(self) -> list[str]:
        """The SQL functions this plugin exports (functions plugins)."""
        return sorted(self.exports) if self.exports else [self.name]


def read_manifest(root: str | Path, ptype: str, name: str) -> dict[str, Any]:
    """The installed `{root}/etc/{type}/{name}.json`, {} when absent or unreadable."""
    path = Path(root) / "etc" / ptype / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable plugin description %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def manifest_function_names(manifest: dict[str, Any]) -> list[str]:
    """Names listed under "functions" (strings, or objects with a "name")."""
    names = []
    for item in manifest.get("functions") or []:
        fname = item.get("name") if isinstance(item, dict) else item
        if isinstance(fname, str) and fname:
            names.append(fname)
    return names


def _collect_exports(module: ModuleType, ptype: str, name: str,
                     manifest: dict[str, Any]) -> dict[str, Any]:
    recorded = ekuiper_compat.recorded_config(module)
    if recorded is not None:
        table = {"sources": recorded.sources, "sinks": recorded.sinks,
                 "functions": recorded.functions}[ptype]
        return dict(table or {})
    if ptype != "functions":
        return {}
    listed = manifest_function_names(manifest)
    if listed:
        out = {}
        for fname in listed:
            for sym in (symbol_name(fname), fname):
                if hasattr(module, sym):
                    out[fname] = getattr(module, sym)
                    break
            else:
                raise PluginError(
                    f"function plugin {name}: {name}.json lists '{fname}' but the module does "
                    f"not export '{symbol_name(fname)}'",
                    hint="export one symbol per listed function (name with an upper-case first letter)")
        return out
    exported = getattr(module, "__all__", None)
    if exported:
        return {plugin_name(sym): getattr(module, sym) for sym in exported
                if hasattr(module, sym) and _is_base(getattr(module, sym), ptype)}
    return {}


class PluginLoader:
    """Finds, imports and caches the plugins of one kuiper root."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._cache: dict[tuple[str, str], tuple[tuple[Any, ...], LoadedPlugin]] = {}
        self._lock = threading.RLock()

    def folder(self, ptype: str) -> Path:
        return plugin_dir(self.root, ptype)

    def names(self, ptype: str) -> list[str]:
        """Installed plugin names of a type."""
        return installed_names(self.folder(ptype))

    def find(self, ptype: str, name: str) -> PluginFile | None:
        return best_file(self.folder(ptype), name)

    def load(self, ptype: str, name: str) -> LoadedPlugin:
        """The current version of a plugin, imported once per file content."""
        ptype = plugin_type(ptype)
        check_name(name)
        pfile = self.find(ptype, name)
        if pfile is None:
            raise NotFoundError(f"{ptype[:-1]} plugin '{name}' is not installed",
                                hint=f"no {name}.so or {name}.py in {self.folder(ptype)}")
        return self.load_file(ptype, pfile)

    def load_file(self, ptype: str, pfile: PluginFile) -> LoadedPlugin:
        ptype = plugin_type(ptype)
        name = pfile.name
        manifest_path = self.root / "etc" / ptype / f"{name}.json"
        st = pfile.path.stat()
        mst = manifest_path.stat().st_mtime_ns if manifest_path.exists() else 0
        signature = (str(pfile.path), st.st_mtime_ns, st.st_size, mst)
        with self._lock:
            cached = self._cache.get((ptype, name))
            if cached is not None and cached[0] == signature:
                return cached[1]
            module = import_plugin_file(pfile, ptype)
            manifest = read_manifest(self.root, ptype, name)
            exports = _collect_exports(module, ptype, name, manifest)
            loaded = LoadedPlugin(ptype, name, pfile, module, manifest, exports)
            self._cache[(ptype, name)] = (signature, loaded)
            log.info("loaded %s plugin %s from %s (module %s)", ptype[:-1], name,
                     pfile.path.name, module.__name__)
            return loaded

    def invalidate(self, ptype: str, name: str | None = None) -> None:
        """Forget cached modules (all of a type when `name` is None)."""
        ptype = plugin_type(ptype)
        with self._lock:
            for key in [k for k in self._cache if k[0] == ptype and name in (None, k[1])]:
                del self._cache[key]

    # --- what the runtime asks for -----------------------------------------------------
    def source_factory(self, name: str) -> Factory:
        """Builds a new source instance (or the singleton) of plugin `name`."""
        return self.load("sources", name).factory()

    def lookup_source_factory(self, name: str) -> Factory:
        """The lookup source of plugin `name`: symbol `{Name}Lookup`, as eKuiper names it."""
        loaded = self.load("sources", name)
        return loaded.factory(f"{name}Lookup")

    def sink_factory(self, name: str) -> Factory:
        return self.load("sinks", name).factory()

    def function_factory(self, plugin: str, function: str | None = None) -> Factory:
        return self.load("functions", plugin).factory(function)
