"""pytest-benchmark cases for the kernels: the JSON decoder (1M lines) and compare/arith.

Run: pytest benchmarks/bench_kernels.py --benchmark-enable  (generates /tmp/events-1m.jsonl
with /work/shared/bench/gen_data.py when missing).
"""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from kuiper._core import arith, compare
from kuiper._core.jsondecode import K_FLOAT, K_STRING, StringDict, decode_json_lines

DATA = "/tmp/events-1m.jsonl"
GEN = "/work/shared/bench/gen_data.py"
CHUNK = 8192


@pytest.fixture(scope="module")
def events() -> bytes:
    if not os.path.exists(DATA):
        subprocess.run([sys.executable, GEN, "-n", "1000000", "-o", DATA], check=True)
    with open(DATA, "rb") as f:
        return f.read()


def decode_all(buf: bytes) -> int:
    d = StringDict()
    kinds = np.array([K_STRING, K_FLOAT], np.int8)
    names, dicts = [b"deviceId", b"temperature"], [d, None]
    pos, total, n = 0, 0, len(buf)
    while pos < n:
        _, _, rows, pos, _ = decode_json_lines(buf, pos, n, names, kinds, dicts, CHUNK)
        total += rows
    return total


def test_decode_1m_lines(benchmark, events: bytes) -> None:
    rows = benchmark.pedantic(decode_all, args=(events,), rounds=5, iterations=1)
    assert rows == 1_000_000


@pytest.fixture(scope="module")
def temps() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    return rng.uniform(0, 40, CHUNK).round(1), rng.random(CHUNK) > 0.01


def test_gt_scalar(benchmark, temps) -> None:
    t, valid = temps
    benchmark(compare.gt_scalar, t, valid, 30.0)


def test_gt_arrays(benchmark, temps) -> None:
    t, valid = temps
    benchmark(compare.gt, t, valid, t[::-1].copy(), None)


def test_mul_add_scalar(benchmark, temps) -> None:
    t, valid = temps

    def tf() -> tuple[np.ndarray, np.ndarray | None]:
        v, ok = arith.mul_scalar(t, valid, 1.8)
        return arith.add_scalar(v, ok, 32.0)

    benchmark(tf)
