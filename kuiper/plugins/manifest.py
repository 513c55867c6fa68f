"""The plugin package: the `{name}.json` description and the checked layout of a plugin zip.

A zip holds, at its root, the module file (`{name}.so`, `{Name}@v1.0.0.cpython-….so`,
`{name}.py`), `{name}.json` (about, version, properties with help for UIs; for functions the
list of exported functions), optionally `{name}.yaml` (a source's configuration) and an `etc/`
folder of runtime files. Member names that leave the package (`../`, absolute paths, drive
letters) and symlinks refuse the whole zip (zip slip).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from kuiper import zipsafe
from kuiper.errors import PluginError
from kuiper.plugins.naming import parse_file_name, symbol_name


def describe(name: str, ptype: str, *, version: str = "", about: dict[str, Any] | None = None,
             properties: Any = None, functions: list[Any] | None = None) -> dict[str, Any]:
    """A `{name}.json` document (eKuiper's keys: about, properties; plus version, functions)."""
    doc: dict[str, Any] = {
        "name": name,
        "version": version,
        "about": about or {
            "trial": False,
            "author": {"name": "", "email": "", "company": "", "website": ""},
            "helpUrl": {"en_US": ""},
            "description": {"en_US": f"{name} {ptype[:-1]} plugin"},
        },
        "properties": properties if properties is not None else [],
    }
    if ptype == "functions" and functions:
        doc["functions"] = list(functions)
    return doc


def read_description(data: bytes, source: str) -> dict[str, Any]:
    """Parse a `{name}.json`; PluginError naming `source` when it is not a JSON object."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PluginError(f"{source} is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise PluginError(f"{source} must hold a JSON object")
    return doc


def safe_member(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or PluginError if it would land outside the package."""
    try:
        return zipsafe.safe_member(info, "plugin folder")
    except zipsafe.UnsafeMember as exc:
        raise PluginError(f"refusing plugin zip: {exc}",
                          hint="put every file at the zip root or under etc/, no '..', no links") from None


@dataclass
class PackageLayout:
    """What a checked plugin zip holds, by member name."""

    name: str
    module: zipfile.ZipInfo
    module_version: str
    description: dict[str, Any] = field(default_factory=dict)
    conf_yaml: zipfile.ZipInfo | None = None
    etc: list[tuple[zipfile.ZipInfo, PurePosixPath]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def version(self) -> str:
        return self.module_version or str(self.description.get("version") or "").lstrip("vV")


def inspect_zip(zf: zipfile.ZipFile, ptype: str, name: str) -> PackageLayout:
    """Check every member of a plugin zip and sort them into module, description, conf, etc."""
    modules: list[tuple[zipfile.ZipInfo, str]] = []
    others: list[str] = []
    description: dict[str, Any] = {}
    conf_yaml = None
    etc: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    stems = {name, symbol_name(name)}
    for info in zf.infolist():
        path = safe_member(info)
        if info.is_dir():
            continue
        if len(path.parts) > 1:
            if path.parts[0] == "etc":
                etc.append((info, PurePosixPath(*path.parts[1:])))
            else:
                others.append(info.filename)
            continue
        fname = path.name
        parsed = parse_file_name(fname)
        if parsed is not None and parsed[0] in stems:
            modules.append((info, parsed[1]))
        elif fname == f"{name}.json":
            description = read_description(zf.read(info), f"{fname} in the plugin zip")
        elif fname in (f"{name}.yaml", f"{name}.yml"):
            conf_yaml = info
        else:
            others.append(info.filename)
    if not modules:
        found = ", ".join(sorted(others)) or "nothing"
        raise PluginError(
            f"the plugin zip holds no module for {ptype[:-1]} plugin '{name}' (found: {found})",
            hint=f"the zip root needs {name}.so (or {symbol_name(name)}.so, {name}@v1.0.0.so, "
                 f"{name}.py) built for this Python")
    if len(modules) > 1:
        listed = ", ".join(m.filename for m, _ in modules)
        raise PluginError(f"the plugin zip holds several modules for '{name}': {listed}",
                          hint="package one module file per plugin")
    module, version = modules[0]
    return PackageLayout(name, module, version, description, conf_yaml, etc, others)
