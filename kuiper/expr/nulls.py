"""eKuiper's nil rules on validity masks, in one place.

- arithmetic with nil is nil: the result is valid where every operand is valid;
- a comparison with nil is false (never nil);
- in a boolean context (WHERE, AND, OR, NOT, CASE WHEN) nil counts as false.
"""
from __future__ import annotations

import numpy as np

from kuiper.api.batch import BOOLEAN, Column


def both_valid(a: Column, b: Column) -> np.ndarray | None:
    """Validity of a result that needs both operands (None = all valid)."""
    if a.valid is None:
        return b.valid
    if b.valid is None:
        return a.valid
    return a.valid & b.valid


def all_valid(cols: list[Column]) -> np.ndarray | None:
    out: np.ndarray | None = None
    for c in cols:
        if c.valid is not None:
            out = c.valid if out is None else out & c.valid
    return out


def truth(col: Column) -> np.ndarray:
    """A boolean column read in a boolean context: nil and non-boolean values are false."""
    if col.kind == BOOLEAN:
        vals = col.values
        return vals if col.valid is None else vals & col.valid
    if col.values.dtype == object:
        vals = col.decoded()
        out = np.fromiter((v is True for v in vals), dtype=np.bool_, count=len(vals))
        return out if col.valid is None else out & col.valid
    return np.zeros(len(col.values), dtype=np.bool_)


def bool_column(values: np.ndarray) -> Column:
    """A never-nil boolean column (comparison and logic results)."""
    return Column(BOOLEAN, values)
