"""`kuiper plugin build`: compile a .pyx/.py plugin with Cython and write its installable zip.

The zip holds `{name}.cpython-…so` (or `{name}.py` with `compile=False`), `{name}.json` (a
`{name}.json` beside the source is the starting point; version, about, properties and
functions given here override it), `{name}.yaml` when one sits beside the source, and the
runtime files of `etc_dir` (default: `etc/{name}/` beside the source) under `etc/`.
The compile runs in a subprocess in a temporary folder (cythonize + setuptools build_ext,
with numpy's include path); its output is shown only when it fails.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from kuiper.errors import PluginError
from kuiper.plugins.manifest import describe, read_description
from kuiper.plugins.naming import check_name, extension_suffix, plugin_type

log = logging.getLogger(__name__)

_COMPILE = r"""
import sys
import numpy
from Cython.Build import cythonize
from setuptools import Distribution, Extension

name, source, out = sys.argv[1:4]
ext = Extension(name, [source], include_dirs=[numpy.get_include()])
dist = Distribution({"name": name, "ext_modules": cythonize(
    [ext], quiet=True, compiler_directives={"language_level": 3})})
dist.script_name = "setup.py"
cmd = dist.get_command_obj("build_ext")
cmd.build_lib = out
cmd.build_temp = "build-temp"
dist.run_command("build_ext")
"""


def compile_module(src: Path, name: str, workdir: Path) -> Path:
    """Compile `src` as module `name` into `workdir`; the built extension's path."""
    source = workdir / f"{name}{src.suffix}"
    shutil.copy2(src, source)
    out = workdir / "out"
    env = dict(os.environ)
    env.setdefault("CFLAGS", "-O2")
    proc = subprocess.run(
        [sys.executable, "-c", _COMPILE, name, source.name, str(out)],
        cwd=workdir, capture_output=True, text=True, env=env, check=False,
    )
    built = sorted(out.glob(f"{name}.*")) if out.is_dir() else []
    if proc.returncode != 0 or not built:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise PluginError(f"compiling plugin {src} failed:\n{tail}",
                          hint="fix the Cython errors above (or build with compile=False / --no-compile)")
    return built[0]


def _description(src: Path, name: str, ptype: str, version: str | None,
                 about: dict[str, Any] | None, properties: Any,
                 functions: list[Any] | None) -> dict[str, Any]:
    beside = src.with_name(f"{name}.json")
    base = read_description(beside.read_bytes(), str(beside)) if beside.is_file() else {}
    doc = describe(name, ptype, version=version or str(base.get("version") or ""),
                   about=about or base.get("about"),
                   properties=properties if properties is not None else base.get("properties"),
                   functions=functions or base.get("functions"))
    for key, value in base.items():
        doc.setdefault(key, value)
    return doc


def build_plugin(src: str | Path, type: str, name: str, version: str | None = None,  # noqa: A002
                 etc_dir: str | Path | None = None, out: str | Path | None = None, *,
                 compile: bool = True, about: dict[str, Any] | None = None,  # noqa: A002
                 properties: Any = None, functions: list[Any] | None = None) -> Path:
    """Build the installable zip of one plugin; returns the zip's path.

    `src` is a .pyx or .py file; `type` sources|sinks|functions (or singular); `name` the
    camelCase plugin name (the module is compiled under it, so its symbol is `Name`).
    """
    src = Path(src)
    ptype = plugin_type(type)
    check_name(name)
    if not src.is_file():
        raise PluginError(f"plugin source {src} does not exist")
    if src.suffix not in (".pyx", ".py"):
        raise PluginError(f"plugin source {src} must be a .pyx or .py file")
    if not compile and src.suffix != ".py":
        raise PluginError(f"{src} is Cython source: it must be compiled",
                          hint="build without --no-compile, or start from a .py file")
    zpath = Path(out) if out is not None else Path.cwd() / f"{name}.zip"
    etc = Path(etc_dir) if etc_dir is not None else src.parent / "etc" / name
    if etc_dir is not None and not etc.is_dir():
        raise PluginError(f"etc folder {etc} does not exist")
    doc = _description(src, name, ptype, version, about, properties, functions)
    with tempfile.TemporaryDirectory(prefix=f"kuiper-build-{name}-") as work:
        if compile:
            module = compile_module(src, name, Path(work))
            member = f"{name}{extension_suffix()}"
        else:
            module, member = src, f"{name}.py"
        zpath.parent.mkdir(parents=True, exist_ok=True)
        tmp = zpath.with_name(f".{zpath.name}.tmp-{os.getpid()}")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.write(module, member)
            zf.writestr(f"{name}.json", json.dumps(doc, indent=2))
            conf = src.with_name(f"{name}.yaml")
            if conf.is_file():
                zf.write(conf, conf.name)
            if etc.is_dir():
                for path in sorted(etc.rglob("*")):
                    if path.is_file() and not path.is_symlink():
                        zf.write(path, "etc/" + path.relative_to(etc).as_posix())
        os.replace(tmp, zpath)
    log.info("built %s plugin %s -> %s", ptype[:-1], name, zpath)
    return zpath
