"""Plugin naming: types, file names (`random.so`, `Random@v1.2.0.cpython-311-….so`), versions.

A plugin named `random` (camelCase, lower-case first letter) lives in
`{root}/plugins/{sources|sinks|functions}/` as a file whose stem is `random` or `Random`,
optionally followed by `@v{version}`, with an extension-module suffix of this interpreter
(`.cpython-311-x86_64-linux-gnu.so`, `.abi3.so`, `.so`) or `.py`. It exports the symbol
`Random`. When several files match, the highest version wins (unversioned is lowest), then a
compiled module over a `.py`, then the newest file.
"""
from __future__ import annotations

import importlib.machinery
import re
from dataclasses import dataclass
from pathlib import Path

from kuiper.errors import PluginError

PLUGIN_TYPES = ("sources", "sinks", "functions")
_TYPE_ALIASES = {
    "source": "sources", "sources": "sources",
    "sink": "sinks", "sinks": "sinks", "action": "sinks",
    "function": "functions", "functions": "functions", "func": "functions",
}
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# longest first, so ".cpython-311-x86_64-linux-gnu.so" is tried before ".so"
EXTENSION_SUFFIXES = tuple(sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True))
SOURCE_SUFFIX = ".py"


def plugin_type(value: str) -> str:
    """The canonical plugin type (`sources`, `sinks`, `functions`) for a type or its singular."""
    found = _TYPE_ALIASES.get((value or "").lower())
    if found is None:
        raise PluginError(f"unknown plugin type '{value}'",
                          hint="use sources, sinks or functions")
    return found


def check_name(name: str) -> str:
    """`name` if it is a valid plugin name, else PluginError."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise PluginError(f"invalid plugin name '{name}'",
                          hint="a camelCase identifier: letters, digits and _, e.g. wordCount")
    return name


def symbol_name(name: str) -> str:
    """The exported symbol of plugin `name`: its first letter upper-cased (`random` -> `Random`)."""
    return name[:1].upper() + name[1:]


def plugin_name(stem: str) -> str:
    """The plugin name a file stem stands for: its first letter lower-cased (`Random` -> `random`)."""
    return stem[:1].lower() + stem[1:]


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key comparing versions numerically part by part (`1.10.0` > `1.9.3`)."""
    parts = re.split(r"[.\-+_]", version.lstrip("vV")) if version else []
    key: list[tuple[int, int | str]] = []
    for p in parts:
        if p.isdigit():
            key.append((1, int(p)))
        elif p:
            key.append((0, p))  # a pre-release tag sorts below a number at the same place
    return tuple(key)


@dataclass(frozen=True)
class PluginFile:
    """One module file found in a plugin folder."""

    path: Path
    stem: str  # the name part as written in the file (`Random`)
    version: str  # "" when the file name carries none; without the leading "v"
    compiled: bool  # an extension module (.so) rather than a .py

    @property
    def name(self) -> str:
        return plugin_name(self.stem)

    def sort_key(self) -> tuple[object, ...]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            mtime = 0
        return (bool(self.version), version_key(self.version), self.compiled, mtime)


def parse_file_name(file_name: str) -> tuple[str, str, bool] | None:
    """(stem, version, compiled) for a loadable plugin file name, None for anything else."""
    for suffix in (*EXTENSION_SUFFIXES, SOURCE_SUFFIX):
        if file_name.endswith(suffix):
            base = file_name[: -len(suffix)]
            compiled = suffix != SOURCE_SUFFIX
            break
    else:
        return None
    stem, sep, version = base.partition("@")
    if not NAME_RE.match(stem) or (sep and not version):
        return None
    if sep and not re.match(r"^[vV]?[0-9A-Za-z][0-9A-Za-z.\-+_]*$", version):
        return None
    return stem, version.lstrip("vV"), compiled


def plugin_dir(root: str | Path, ptype: str) -> Path:
    """`{root}/plugins/{type}`."""
    return Path(root) / "plugins" / plugin_type(ptype)


def scan_files(folder: Path) -> list[PluginFile]:
    """Every loadable module file in a plugin folder."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        if not entry.is_file():
            continue
        parsed = parse_file_name(entry.name)
        if parsed is not None:
            found.append(PluginFile(entry, *parsed))
    return found


def files_for(folder: Path, name: str) -> list[PluginFile]:
    """The module files of plugin `name` (stem `name` or `Name`), best first."""
    stems = {name, symbol_name(name)}
    matches = [f for f in scan_files(folder) if f.stem in stems]
    return sorted(matches, key=PluginFile.sort_key, reverse=True)


def best_file(folder: Path, name: str) -> PluginFile | None:
    """The file to load for plugin `name`: highest version, compiled before .py, newest."""
    matches = files_for(folder, name)
    return matches[0] if matches else None


def installed_names(folder: Path) -> list[str]:
    """Plugin names present in a folder (one per name, whatever its versions)."""
    return sorted({f.name for f in scan_files(folder)})


def extension_suffix() -> str:
    """This interpreter's platform-tagged extension suffix (`.cpython-311-x86_64-linux-gnu.so`)."""
    return importlib.machinery.EXTENSION_SUFFIXES[0]
