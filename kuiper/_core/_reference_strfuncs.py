"""Pure-Python twins of kuiper/_core/strfuncs.pyx (tests compare the kernels with these)."""
from __future__ import annotations

import numpy as np


def _rows(values: np.ndarray, valid: np.ndarray | None) -> list[tuple[bool, object]]:
    ok = [True] * len(values) if valid is None else valid.tolist()
    return list(zip(ok, values.tolist(), strict=True))


def str_len(values, valid, null=0):
    return np.array([len(s) if ok else null for ok, s in _rows(values, valid)], dtype=np.int64)


def utf8_len(values, valid, null=0):
    return np.array([len(s.encode()) if ok else null for ok, s in _rows(values, valid)],
                    dtype=np.int64)


def starts_with(values, valid, prefix, null=False):
    return np.array([s.startswith(prefix) if ok else null for ok, s in _rows(values, valid)],
                    dtype=np.bool_)


def ends_with(values, valid, suffix, null=False):
    return np.array([s.endswith(suffix) if ok else null for ok, s in _rows(values, valid)],
                    dtype=np.bool_)


def _byte_find(s: str, sub: str) -> int:
    at = s.find(sub)
    return at if at <= 0 else len(s[:at].encode())


def find(values, valid, sub, null=-1):
    return np.array([_byte_find(s, sub) if ok else null for ok, s in _rows(values, valid)],
                    dtype=np.int64)


def _objects(items: list[object]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def lower(values, valid):
    return _objects([s.lower() if ok else None for ok, s in _rows(values, valid)])


def upper(values, valid):
    return _objects([s.upper() if ok else None for ok, s in _rows(values, valid)])


def strip(values, valid, side=0):
    op = {0: str.strip, 1: str.lstrip, 2: str.rstrip}[side]
    return _objects([op(s) if ok else None for ok, s in _rows(values, valid)])


def concat(parts, n):
    rows = []
    for i in range(n):
        pieces = []
        for part in parts:
            if isinstance(part, str):
                pieces.append(part)
            else:
                values, valid = part
                pieces.append(values[i] if valid is None or valid[i] else "")
        rows.append("".join(pieces))
    return _objects(rows)
