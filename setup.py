"""Build the Cython kernels in kuiper/_core as C extensions.

`python setup.py build_ext --inplace` (a development build) also compiles the example plugins
in plugins/ next to their sources (`plugins/functions/echo.cpython-311-….so`), so a kuiper run
with the repository as its root (`--root .`) loads them compiled. Wheels, sdists and editable
installs never include them: the examples are packaged with `kuiper plugin build` instead.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent


def core_extensions() -> list[Extension]:
    exts = []
    for pyx in sorted((HERE / "kuiper" / "_core").glob("*.pyx")):
        exts.append(
            Extension(
                f"kuiper._core.{pyx.stem}",
                [str(pyx.relative_to(HERE))],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-O3"],
            )
        )
    return exts


def example_plugin_extensions() -> list[Extension]:
    """plugins/{sources,sinks,functions}/*.pyx, each compiled as module `{name}` in its folder."""
    if "--inplace" not in sys.argv[1:] or "build_ext" not in sys.argv[1:]:
        return []
    exts = []
    for pyx in sorted((HERE / "plugins").glob("*/*.pyx")):
        rel = pyx.relative_to(HERE)
        exts.append(
            Extension(
                ".".join(rel.with_suffix("").parts),  # plugins.functions.echo -> PyInit_echo
                [str(rel)],
                include_dirs=[numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            )
        )
    return exts


setup(
    ext_modules=cythonize(
        core_extensions(),
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
        quiet=True,
    )
    # plugins keep Python's bounds checks (docs/plugins.md): their own directives only
    + cythonize(example_plugin_extensions(), compiler_directives={"language_level": "3"},
                build_dir="build/cython", quiet=True),
)
