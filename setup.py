"""Build the Cython kernels in kuiper/_core (and the example plugins) as C extensions."""
from __future__ import annotations

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


setup(
    ext_modules=cythonize(
        core_extensions(),
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
        quiet=True,
    ),
)
