"""The example plugins of the repository (plugins/), shared by the unit and the integration
plugin tests (tests/conftest.py puts this folder on sys.path)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kuiper.plugins.build import build_plugin

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "plugins"

#: (source file, type, name) of every example plugin
EXAMPLE_PLUGINS = [
    ("sources/random.pyx", "sources", "random"),
    ("sinks/csvFile.py", "sinks", "csvFile"),
    ("functions/echo.pyx", "functions", "echo"),
    ("functions/accumulateWordCount.pyx", "functions", "accumulateWordCount"),
    ("functions/countPlusOne.pyx", "functions", "countPlusOne"),
    ("functions/dictLookup.py", "functions", "dictLookup"),
]


def build_examples(out: Path, workers: int) -> dict[str, Path]:
    """Every example plugin built from source (the .pyx compiled) into `out`: name -> zip."""

    def build(item: tuple[str, str, str]) -> tuple[str, Path]:
        src, ptype, name = item
        return name, build_plugin(EXAMPLES / src, ptype, name, "1.0.0", None,
                                  out / f"{name}.zip", compile=src.endswith(".pyx"))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(pool.map(build, EXAMPLE_PLUGINS))
