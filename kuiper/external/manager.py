"""The service layer for external services: load at start, install, update, delete, describe.

Descriptors live in `{root}/etc/services/{name}.json` and schemas in
`{root}/etc/services/schemas/`. `load_all()` registers every descriptor found there (a bad one
is logged, kept in `load_errors` and skipped: it never stops the others); `create` installs a
zip (`{name}.json` + `schemas/…`, nothing else is extracted and nothing outside those folders
is written), a descriptor file or a descriptor object, validating everything before a file
is written. The manager adds itself to the function registry as a resolver; a function name
already taken by a built-in, a plugin or another service is refused with a ConflictError.
The REST routes (`/services`, `/services/functions`) and the CLI verbs call these methods.
"""
from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from kuiper import zipsafe
from kuiper.errors import ConfigError, ConflictError, NotFoundError
from kuiper.external.functions import CALL_LOOP, CallLoop, ExternalFunction, InterfaceRuntime
from kuiper.external.service import ServiceDef, load_service_file, parse_service
from kuiper.functions.registry import FunctionDef, FunctionRegistry, default_registry

log = logging.getLogger(__name__)


@dataclass
class _Installed:
    definition: ServiceDef
    runtimes: dict[str, InterfaceRuntime]
    functions: dict[str, ExternalFunction]


class ServiceManager:
    """External services of one kuiper root, resolvable as SQL functions."""

    def __init__(self, root: str | Path, registry: FunctionRegistry | None = None,
                 call_loop: CallLoop = CALL_LOOP) -> None:
        self.root = Path(root)
        self.services_dir = self.root / "etc" / "services"
        self.schemas_dir = self.services_dir / "schemas"
        self.registry = registry if registry is not None else default_registry
        self.call_loop = call_loop
        self.load_errors: dict[str, str] = {}
        self._services: dict[str, _Installed] = {}
        self._functions: dict[str, ExternalFunction] = {}
        self._defs: dict[str, FunctionDef] = {}
        self._folded: dict[str, str] = {}  # lower-case name -> name, for case-insensitive calls
        self._lock = threading.RLock()
        self.registry.add_resolver(self.resolve)

    # --- registry -----------------------------------------------------------------------
    def resolve(self, name: str) -> FunctionDef | None:
        """The FunctionDef of an external function (exact name first, then any case)."""
        found = self._defs.get(name)
        if found is None:
            exact = self._folded.get(name.lower())
            found = self._defs.get(exact) if exact else None
        return found

    def _check_names(self, sdef: ServiceDef, replacing: str | None = None) -> None:
        for spec in sdef.functions():
            if self.registry.is_builtin(spec.name):
                raise ConflictError(f"service {sdef.name}: function {spec.name} clashes with the "
                                    f"built-in function {spec.name}",
                                    hint="rename it with interfaces.*.functions "
                                         "[{\"name\": …, \"serviceName\": …}]")
            owner = self._functions.get(spec.name)
            if owner is not None and owner.spec.service != replacing:
                raise ConflictError(f"service {sdef.name}: function {spec.name} is already "
                                    f"defined by service {owner.spec.service}")
            if owner is None and self.registry.lookup(spec.name) is not None:
                raise ConflictError(f"service {sdef.name}: function {spec.name} clashes with an "
                                    f"installed plugin function")

    def _register(self, sdef: ServiceDef) -> None:
        runtimes = {name: InterfaceRuntime(iface, self.call_loop)
                    for name, iface in sdef.interfaces.items()}
        funcs = {spec.name: ExternalFunction(spec, runtimes[spec.interface])
                 for spec in sdef.functions()}
        self._services[sdef.name] = _Installed(sdef, runtimes, funcs)
        for name, fn in funcs.items():
            self._functions[name] = fn
            self._defs[name] = fn.definition()
            self._folded[name.lower()] = name
        log.info("external service %s: functions %s", sdef.name, ", ".join(funcs) or "none")

    def _unregister(self, name: str) -> None:
        installed = self._services.pop(name, None)
        if installed is None:
            return
        for fname in installed.functions:
            self._functions.pop(fname, None)
            self._defs.pop(fname, None)
            if self._folded.get(fname.lower()) == fname:
                del self._folded[fname.lower()]
        for runtime in installed.runtimes.values():
            runtime.close()

    # --- loading ------------------------------------------------------------------------
    def load_all(self) -> list[str]:
        """Register every `etc/services/*.json`; returns the names registered."""
        loaded: list[str] = []
        if not self.services_dir.is_dir():
            return loaded
        for path in sorted(self.services_dir.glob("*.json")):
            try:
                sdef = load_service_file(path, self.schemas_dir)
                with self._lock:
                    self._check_names(sdef, replacing=sdef.name)
                    self._unregister(sdef.name)
                    self._register(sdef)
            except (ConfigError, ConflictError) as exc:
                self.load_errors[path.stem] = str(exc)
                log.error("external service %s not loaded: %s", path.stem, exc)
                continue
            self.load_errors.pop(path.stem, None)
            loaded.append(sdef.name)
        return loaded

    # --- install / update / delete ------------------------------------------------------
    def create(self, name: str, *, file: str | Path | None = None,
               descriptor: dict[str, Any] | None = None) -> ServiceDef:
        """Install service `name` from a zip or .json `file` (path or file:// URL) or a
        descriptor object. Refused if it exists; nothing is written unless it validates."""
        with self._lock:
            if name in self._services or (self.services_dir / f"{name}.json").exists():
                raise ConflictError(f"service {name} already exists",
                                    hint="update it, or delete it first")
            return self._install(name, file, descriptor, replacing=None)

    def update(self, name: str, *, file: str | Path | None = None,
               descriptor: dict[str, Any] | None = None) -> ServiceDef:
        """Replace service `name`; the old one stays in place if the new one is invalid."""
        with self._lock:
            if name not in self._services:
                raise NotFoundError(f"service {name} not found")
            return self._install(name, file, descriptor, replacing=name)

    def delete(self, name: str) -> None:
        """Unregister service `name` and remove its descriptor (schemas are kept: they may be
        shared)."""
        with self._lock:
            known = name in self._services
            path = self.services_dir / f"{name}.json"
            if not known and not path.is_file():
                raise NotFoundError(f"service {name} not found")
            self._unregister(name)
            self.load_errors.pop(name, None)
            path.unlink(missing_ok=True)

    def _install(self, name: str, file: str | Path | None, descriptor: dict[str, Any] | None,
                 replacing: str | None) -> ServiceDef:
        if (file is None) == (descriptor is None):
            raise ConfigError("give a service file (zip or json) or a descriptor, not both")
        with tempfile.TemporaryDirectory(prefix="kuiper-service-") as tmp:
            staged_schemas = Path(tmp) / "schemas"
            if self.schemas_dir.is_dir():
                shutil.copytree(self.schemas_dir, staged_schemas)
            else:
                staged_schemas.mkdir()
            new_schemas: dict[str, bytes] = {}
            if descriptor is None:
                descriptor, new_schemas = _read_package(name, _local_path(file))
            for rel, data in new_schemas.items():
                target = staged_schemas / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            sdef = parse_service(name, descriptor, staged_schemas)  # validates and compiles
            self._check_names(sdef, replacing)
        self.schemas_dir.mkdir(parents=True, exist_ok=True)
        for rel, data in new_schemas.items():
            target = self.schemas_dir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        path = self.services_dir / f"{name}.json"
        path.write_text(json.dumps(descriptor, indent=2, ensure_ascii=False), encoding="utf-8")
        sdef = load_service_file(path, self.schemas_dir)
        if replacing is not None:
            self._unregister(replacing)
        self._register(sdef)
        return sdef

    # --- describe -----------------------------------------------------------------------
    def list(self) -> list[str]:
        """Names of the registered services."""
        return sorted(self._services)

    def get(self, name: str) -> dict[str, Any]:
        """A service as eKuiper's GET /services/{name} shows it."""
        installed = self._services.get(name)
        if installed is None:
            raise NotFoundError(f"service {name} not found")
        sdef = installed.definition
        return {
            "About": sdef.about,
            "Interfaces": {
                iname: {
                    "Desc": iface.description,
                    "Addr": iface.address,
                    "Protocol": iface.protocol,
                    "Schema": {"SchemaType": "protobuf", "SchemaFile": iface.schema_file or "",
                               "Schemaless": iface.schemaless},
                    "Functions": [f.name for f in iface.functions],
                    "Options": sdef.raw["interfaces"][iname].get("options") or {},
                }
                for iname, iface in sdef.interfaces.items()
            },
        }

    def list_functions(self) -> list[dict[str, Any]]:
        """Every external function, as eKuiper's GET /services/functions lists them."""
        return [self.get_function(name) for name in sorted(self._functions)]

    def get_function(self, name: str) -> dict[str, Any]:
        fn = self._functions.get(name) or self._functions.get(self._folded.get(name.lower(), ""))
        if fn is None:
            raise NotFoundError(f"service function {name} not found")
        s = fn.stats
        return {"Name": fn.spec.name, "ServiceName": fn.spec.service,
                "InterfaceName": fn.spec.interface, "MethodName": fn.spec.method,
                "Addr": fn.runtime.iface.address,
                "Stats": {"calls_total": s.calls_total, "errors_total": s.errors_total,
                          "last_error": s.last_error}}

    def function(self, name: str) -> ExternalFunction | None:
        """The ExternalFunction behind a SQL name (exact name)."""
        return self._functions.get(name)

    def close(self) -> None:
        """Unregister everything and close every connection (server shutdown)."""
        with self._lock:
            for name in list(self._services):
                self._unregister(name)
        self.registry.remove_resolver(self.resolve)


def _local_path(file: str | Path | None) -> Path:
    text = str(file)
    if text.startswith("file:"):
        text = unquote(urlsplit(text).path)
    elif "://" in text:
        raise ConfigError(f"cannot read {text}: download it first (only local files and file:// "
                          f"URLs are read here)")
    path = Path(text)
    if not path.is_file():
        raise ConfigError(f"service file {path} not found")
    return path


def _read_package(name: str, path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """(descriptor, {schema path relative to schemas/: bytes}) from a .json or a .zip."""
    if path.suffix.lower() == ".json":
        return _parse_json(path.read_bytes(), path.name), {}
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"service file {path.name} is neither a zip nor a .json descriptor")
    descriptor: dict[str, Any] | None = None
    schemas: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            try:
                member = zipsafe.safe_member(info)
            except zipsafe.UnsafeMember as exc:
                raise ConfigError(f"service package {path.name}: unsafe path: {exc}") from None
            if len(member.parts) == 1 and member.name.lower() == f"{name}.json".lower():
                descriptor = _parse_json(zf.read(info), member.name)
            elif member.parts[0] == "schemas" and len(member.parts) > 1:
                schemas[str(PurePosixPath(*member.parts[1:]))] = zf.read(info)
            else:
                log.warning("service package %s: ignoring %s", path.name, info.filename)
    if descriptor is None:
        raise ConfigError(f"service package {path.name} has no descriptor {name}.json at its top")
    return descriptor, schemas


def _parse_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"service descriptor {what} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"service descriptor {what} must be a JSON object")
    return raw
