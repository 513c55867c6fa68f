"""The plugin service layer the REST routes and CLI call: install, list, describe, remove.

Installed files are the registration: a restart scans `{root}/plugins/{type}/` and
`{root}/etc/{type}/{name}.json` again, so nothing else needs persisting. Installing refuses an
existing name unless `replace=True`, a function name a built-in already has, and a package
whose module does not load (the previous files are put back).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from kuiper.errors import ConflictError, KuiperError, NotFoundError, PluginError
from kuiper.functions.registry import FunctionRegistry
from kuiper.plugins.functions import (
    PluginFunctionResolver,
    check_function_names,
    install_resolver,
)
from kuiper.plugins.guard import guard
from kuiper.plugins.loader import PluginLoader, manifest_function_names, read_manifest
from kuiper.plugins.manifest import PackageLayout, inspect_zip
from kuiper.plugins.naming import check_name, files_for, plugin_type
from kuiper.runtime import registry as runtime_registry

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60.0
#: (type, lower-case name) of connectors registered by plugin managers, in the process-wide
#: runtime registry; any other registered name is a built-in connector
_PLUGIN_CONNECTORS: set[tuple[str, str]] = set()


def fetch(file: str, sha256: str | None = None, *, workdir: Path | None = None) -> Path:
    """A local path to the zip at `file` (a path, `file://`, `http(s)://`), checked by sha256."""
    parsed = urllib.parse.urlparse(file)
    if parsed.scheme in ("http", "https"):
        fd, tmp = tempfile.mkstemp(suffix=".zip", dir=workdir)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(file, timeout=DOWNLOAD_TIMEOUT) as resp:
                shutil.copyfileobj(resp, out)
        except Exception as exc:  # noqa: BLE001
            os.unlink(tmp)
            raise PluginError(f"cannot download plugin {file}: {exc}") from exc
        path = Path(tmp)
    elif parsed.scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
    elif parsed.scheme in ("", ) or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        path = Path(file)
    else:
        raise PluginError(f"unsupported plugin file URL '{file}'",
                          hint="use a path, file://, http:// or https://")
    if not path.is_file():
        raise PluginError(f"plugin file {path} does not exist")
    if sha256:
        h = hashlib.sha256(path.read_bytes()).hexdigest()
        if h.lower() != sha256.lower():
            raise PluginError(f"plugin file {file} has sha256 {h}, expected {sha256}",
                              hint="the download is corrupt or the checksum is wrong")
    return path


def _write_atomic(dest: Path, data: bytes, mode: int | None = None) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    if mode:
        tmp.chmod(mode)
    os.replace(tmp, dest)


class PluginManager:
    """Installed plugins of one root; also wires them into the function and connector registries."""

    def __init__(self, root: str | Path, *, loader: PluginLoader | None = None,
                 registry: FunctionRegistry | None = None, register: bool = True) -> None:
        self.root = Path(root)
        self.loader = loader or PluginLoader(self.root)
        self.registry = registry
        self.resolver: PluginFunctionResolver | None = None
        self._connectors: set[tuple[str, str]] = set()
        if register:
            self.register_all()

    # --- registration with the engine --------------------------------------------------
    def register_all(self) -> None:
        """Make every installed plugin usable: the function resolver and connector factories."""
        if self.registry is not None and self.resolver is None:
            self.resolver = install_resolver(self.registry, self.root, self.loader)
        for ptype in ("sources", "sinks"):
            for name in self.loader.names(ptype):
                self._register_connector(ptype, name)

    def _register_connector(self, ptype: str, name: str) -> None:
        if (ptype, name) in self._connectors:
            return
        loader = self.loader

        def make() -> Any:
            # resolved at each rule start, so rules started after an update get the new code;
            # guarded: an exception the plugin raises fails its rule, never the process
            loaded = loader.load(ptype, name)
            return guard(loaded.factory()(), ptype, loaded.where())

        make.__name__ = f"plugin_{ptype[:-1]}_{name}"
        register = runtime_registry.register_source if ptype == "sources" else runtime_registry.register_sink
        register(name)(make)
        self._connectors.add((ptype, name))
        _PLUGIN_CONNECTORS.add((ptype, name.lower()))

    def _builtin_connector(self, ptype: str, name: str) -> bool:
        if (ptype, name.lower()) in _PLUGIN_CONNECTORS or ptype == "functions":
            return False
        known = runtime_registry.source_types() if ptype == "sources" else runtime_registry.sink_types()
        return name.lower() in known

    # --- queries ------------------------------------------------------------------------
    def list(self, ptype: str) -> list[str]:
        """Installed plugin names of a type."""
        return self.loader.names(plugin_type(ptype))

    def get(self, ptype: str, name: str) -> dict[str, Any]:
        """Describe one plugin: file, version, about, properties (and functions)."""
        ptype = plugin_type(ptype)
        check_name(name)
        pfile = self.loader.find(ptype, name)
        if pfile is None:
            raise NotFoundError(f"{ptype[:-1]} plugin '{name}' is not installed")
        doc = read_manifest(self.root, ptype, name)
        out: dict[str, Any] = {
            "name": name,
            "type": ptype,
            "file": pfile.path.name,
            "version": pfile.version or str(doc.get("version") or "").lstrip("vV"),
            "compiled": pfile.compiled,
            "about": doc.get("about", {}),
            "properties": doc.get("properties", []),
        }
        if ptype == "functions":
            out["functions"] = self._functions_of(name, doc)
        return out

    def _functions_of(self, name: str, doc: dict[str, Any] | None = None) -> list[str]:
        listed = manifest_function_names(doc if doc is not None else read_manifest(self.root, "functions", name))
        if listed:
            return listed
        try:
            return self.loader.load("functions", name).function_names()
        except KuiperError:
            return [name]

    def udfs(self) -> dict[str, str]:
        """Every function exported by an installed plugin -> its plugin name."""
        resolver = self.resolver or PluginFunctionResolver(self.root, self.loader)
        return resolver.index()

    # --- install / remove ----------------------------------------------------------------
    def install(self, ptype: str, name: str, file: str, *, sha256: str | None = None,
                replace: bool = False, functions: list[str] | None = None) -> dict[str, Any]:
        """Install a plugin zip (path or URL); returns its description (as `get`)."""
        ptype = plugin_type(ptype)
        check_name(name)
        if name[:1].isupper():
            raise PluginError(f"invalid plugin name '{name}'",
                              hint="plugin names start with a lower-case letter (camelCase)")
        existing = files_for(self.loader.folder(ptype), name)
        if existing and not replace:
            raise ConflictError(f"{ptype[:-1]} plugin '{name}' is already installed",
                                hint="remove it first, or install with replace")
        if self._builtin_connector(ptype, name):
            raise ConflictError(f"'{name}' is a built-in {ptype[:-1]} type",
                                hint="choose another plugin name")
        with tempfile.TemporaryDirectory(prefix="kuiper-install-") as work:
            zpath = fetch(file, sha256, workdir=Path(work))
            try:
                zf = zipfile.ZipFile(zpath)
            except zipfile.BadZipFile as exc:
                raise PluginError(f"plugin file {file} is not a zip: {exc}") from exc
            with zf:
                layout = inspect_zip(zf, ptype, name)
                if functions:
                    layout.description["functions"] = list(functions)
                if ptype == "functions":
                    self._check_functions(name, layout)
                self._install_files(ptype, name, zf, layout, existing, Path(work))
        if ptype != "functions":
            self._register_connector(ptype, name)
        log.info("installed %s plugin %s (%s)", ptype[:-1], name, layout.module.filename)
        return self.get(ptype, name)

    def _check_functions(self, name: str, layout: PackageLayout) -> None:
        names = manifest_function_names(layout.description) or [name]
        taken = {f: p for f, p in self.udfs().items() if p != name}
        check_function_names(names, self.registry, taken, name)

    def _install_files(self, ptype: str, name: str, zf: zipfile.ZipFile, layout: PackageLayout,
                       existing: list[Any], work: Path) -> None:
        folder = self.loader.folder(ptype)
        etc_dir = self.root / "etc" / ptype / name
        desc_path = self.root / "etc" / ptype / f"{name}.json"
        backup = work / "backup"
        backup.mkdir()
        moved: list[tuple[Path, Path]] = []
        written: list[Path] = []

        def stash(path: Path) -> None:
            if path.exists():
                target = backup / str(len(moved))
                shutil.move(str(path), str(target))
                moved.append((target, path))

        try:
            for old in existing:
                stash(old.path)
            stash(desc_path)
            stash(etc_dir)
            module_dest = folder / layout.module.filename
            info = layout.module
            mode = (info.external_attr >> 16) & 0o755 or 0o644
            _write_atomic(module_dest, zf.read(info), mode)
            written.append(module_dest)
            if layout.description or ptype == "functions":
                _write_atomic(desc_path, json.dumps(layout.description or {}, indent=2).encode())
                written.append(desc_path)
            for member, rel in layout.etc:
                dest = etc_dir.joinpath(*rel.parts)
                _write_atomic(dest, zf.read(member))
            if layout.etc:
                written.append(etc_dir)
            if layout.conf_yaml is not None:
                conf = self.root / "etc" / ptype / f"{name}.yaml"
                if not conf.exists():
                    _write_atomic(conf, zf.read(layout.conf_yaml))
            for skipped in layout.skipped:
                log.warning("plugin %s: ignoring %s from the zip (not module, json, yaml or etc/)",
                            name, skipped)
            self.loader.invalidate(ptype, name)
            loaded = self.loader.load(ptype, name)
            if ptype == "functions":
                for fname in loaded.function_names():
                    loaded.factory(fname)  # the symbol exists and has the right base class
            else:
                loaded.factory()
        except BaseException:
            for path in written:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            for src, dest in moved:
                shutil.move(str(src), str(dest))
            self.loader.invalidate(ptype, name)
            raise

    def remove(self, ptype: str, name: str) -> None:
        """Delete a plugin's module files, description, conf and runtime files.

        Running rules keep the code they loaded; new rules can no longer use the plugin.
        """
        ptype = plugin_type(ptype)
        check_name(name)
        files = files_for(self.loader.folder(ptype), name)
        if not files:
            raise NotFoundError(f"{ptype[:-1]} plugin '{name}' is not installed")
        for f in files:
            f.path.unlink(missing_ok=True)
        etc = self.root / "etc" / ptype
        for extra in (etc / f"{name}.json", etc / f"{name}.yaml"):
            extra.unlink(missing_ok=True)
        shutil.rmtree(etc / name, ignore_errors=True)
        self.loader.invalidate(ptype, name)
        log.info("removed %s plugin %s", ptype[:-1], name)

    def register_functions(self, name: str, functions: list[str]) -> None:
        """Set the functions a multi-function plugin exports (eKuiper's `.../register`)."""
        check_name(name)
        if self.loader.find("functions", name) is None:
            raise NotFoundError(f"function plugin '{name}' is not installed")
        taken = {f: p for f, p in self.udfs().items() if p != name}
        check_function_names(list(functions), self.registry, taken, name)
        path = self.root / "etc" / "functions" / f"{name}.json"
        doc = read_manifest(self.root, "functions", name)
        doc["functions"] = list(functions)
        _write_atomic(path, json.dumps(doc, indent=2).encode())
        self.loader.invalidate("functions", name)

