"""The columnar join core shared by the join operators: row-index sets, one join step, gathering.

A joined result is held as row indices, not rows: for every input ("ref": the stream name or
alias that qualifies its columns) an int64 array of rows in that input's batch (-1 where the
ref has no row: the outer side of LEFT/RIGHT/FULL), plus the emission (window) of each result
row. Columns are copied once, when the result is gathered into a Batch.

Column naming inside a joined Batch: `ref.field` (e.g. `demo.temperature`); `__src` tells which
stream input a buffered row came from. Equi-conditions of ON run through the hash join kernel
(`kuiper._core.join`, hashing the smaller side) on joint integer codes of all key columns and
the emission id; whatever else ON says is evaluated on the matching pairs afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kuiper._core import hashagg
from kuiper._core import join as jk
from kuiper.api.batch import BIGINT, STRING, Batch, Column, concat_columns
from kuiper.expr.nodes import EvalContext, Node
from kuiper.expr.nulls import truth
from kuiper.operators.aggregate import factorize

SRC = "__src"
INNER, LEFT, RIGHT, FULL, CROSS = "inner", "left", "right", "full", "cross"


@dataclass
class JoinStep:
    """`<acc> <kind> JOIN ref ON ...`: equi-keys (left side over refs joined so far, right side
    over `ref`) and the rest of the condition."""

    kind: str
    ref: str
    left_keys: list[Node] = field(default_factory=list)
    right_keys: list[Node] = field(default_factory=list)
    residual: Node | None = None
    right_key_fields: list[str] = field(default_factory=list)  # lookup tables: the key names


@dataclass
class Joined:
    """A join result as row indices per ref (-1 = no row) and the emission of each row."""

    rows: dict[str, np.ndarray]
    emission: np.ndarray

    @property
    def n(self) -> int:
        return len(self.emission)


def qualify(batch: Batch, ref: str, src: int | None) -> Batch:
    """The batch with its columns renamed `ref.field` (and `__src` = src for stream rows)."""
    cols = {f"{ref}.{k}": c for k, c in batch.columns.items()}
    if src is not None:
        cols[SRC] = Column(BIGINT, np.full(batch.n, src, dtype=np.int64))
    return Batch(cols, batch.n, batch.timestamps, batch.meta, batch.emission_bounds)


def take_or_null(col: Column, idx: np.ndarray) -> Column:
    """col[idx] with -1 giving null."""
    missing = idx < 0
    if len(col) == 0:
        return Column.nulls(len(idx), col.kind)
    if not missing.any():
        return col.take(idx)
    out = col.take(np.where(missing, 0, idx))
    out.valid = out.validity() & ~missing
    return out


def ref_columns(batch: Batch, ref: str) -> list[str]:
    """The columns of input `ref` in a batch ("" = every column: rows joined earlier)."""
    if not ref:
        return list(batch.columns)
    prefix = ref + "."
    return [k for k in batch.columns if k.startswith(prefix)]


def gather(joined: Joined, sources: dict[str, Batch]) -> Batch:
    """The joined rows as a Batch of `ref.field` columns (meta and times of the first ref)."""
    cols: dict[str, Column] = {}
    for ref, idx in joined.rows.items():
        src = sources[ref]
        for k in ref_columns(src, ref):
            cols[k] = take_or_null(src.columns[k], idx)
    n = joined.n
    ts = np.zeros(n, dtype=np.int64)
    meta: dict[str, Column] = {}
    filled = np.zeros(n, dtype=bool)
    for ref, idx in joined.rows.items():
        here = (idx >= 0) & ~filled
        if not here.any():
            continue
        src = sources[ref]
        if src.n:
            ts[here] = src.timestamps[idx[here]]
            for k, c in src.meta.items():
                part = take_or_null(c, np.where(here, idx, -1))
                meta[k] = part if k not in meta else _fill(meta[k], part)
        filled |= here
    return Batch(cols, n, ts, meta)


def _fill(base: Column, more: Column) -> Column:
    """base with its nulls filled from more."""
    hole = ~base.validity() & more.validity()
    if not hole.any():
        return base
    merged = concat_columns([base, more])
    idx = np.arange(len(base), dtype=np.int64)
    idx[hole] += len(base)
    return merged.take(idx)


def _codes(left: list[Column], right: list[Column]) -> tuple[np.ndarray, np.ndarray]:
    """Joint int64 codes of (left keys, right keys) and the validity of every row's key."""
    ids = None
    groups = 1
    valid = None
    for lc, rc in zip(left, right, strict=True):
        both = _joint_strings(lc, rc) or concat_columns([lc, rc])
        kid, kn = factorize(both)
        if ids is None:
            ids, groups = kid.astype(np.int64, copy=False), kn
        else:
            ids, groups, _ = hashagg.combine_group_ids(ids, groups, kid, kn)
        v = both.validity()
        valid = v if valid is None else valid & v
    assert ids is not None and valid is not None
    return ids, valid


def _joint_strings(lc: Column, rc: Column) -> Column | None:
    """Two dictionary-encoded string columns as one, codes of the right side mapped into the
    left side's dictionary (O(dictionary) work, rows stay integer codes)."""
    if not (lc.kind == rc.kind == STRING and lc.dictionary is not None
            and rc.dictionary is not None):
        return None
    index = {v: i for i, v in enumerate(lc.dictionary.tolist())}
    lut = np.array([index.setdefault(v, len(index)) for v in rc.dictionary.tolist()],
                   dtype=np.int32)
    right = lut[rc.values] if len(lut) else rc.values.astype(np.int32)
    values = np.concatenate([lc.values.astype(np.int32, copy=False), right])
    valid = None
    if lc.valid is not None or rc.valid is not None:
        valid = np.concatenate([lc.validity(), rc.validity()])
    return Column(STRING, values, valid, np.array(list(index), dtype=object))


def join_step(acc: Joined, step: JoinStep, sources: dict[str, Batch], right_rows: np.ndarray,
              right_emission: np.ndarray | None) -> Joined:
    """One join: the rows joined so far (`acc`) with the rows `right_rows` of `step.ref`.

    `right_emission` is the emission of each right row (stream rows of a window), or None when
    the right side is a table seen by every emission."""
    nl, nr = acc.n, len(right_rows)
    left_view = gather(acc, sources) if (step.left_keys or step.residual is not None) else None
    right_view = gather(Joined({step.ref: right_rows}, np.zeros(nr, dtype=np.int64)), sources)
    lk: list[Column] = []
    rk: list[Column] = []
    if step.kind != CROSS:
        lk = [k.eval(EvalContext(left_view)) for k in step.left_keys]  # type: ignore[arg-type]
        rk = [k.eval(EvalContext(right_view)) for k in step.right_keys]
    if right_emission is not None:
        lk.append(Column(BIGINT, acc.emission))
        rk.append(Column(BIGINT, right_emission))
    if not lk:
        lk, rk = [Column(BIGINT, np.zeros(nl, np.int64))], [Column(BIGINT, np.zeros(nr, np.int64))]
    if nl == 0 or nr == 0:
        li = ri = np.zeros(0, dtype=np.int64)
    else:
        ids, valid = _codes(lk, rk)
        li, ri = jk.hash_join_int64(ids[:nl], ids[nl:], valid[:nl], valid[nl:])
    return finish_pairs(acc, step, sources, right_rows, right_emission, li, ri)


def finish_pairs(acc: Joined, step: JoinStep, sources: dict[str, Batch], right_rows: np.ndarray,
                 right_emission: np.ndarray | None, li: np.ndarray, ri: np.ndarray) -> Joined:
    """Key-matching pairs (li, ri): the rest of ON filters them, outer rows are added."""
    if step.residual is not None and step.kind != CROSS and len(li):
        pairs = Joined({**{r: v[li] for r, v in acc.rows.items()}, step.ref: right_rows[ri]},
                       acc.emission[li])
        keep = truth(step.residual.eval(EvalContext(gather(pairs, sources))))
        li, ri = li[keep], ri[keep]
    return _assemble(acc, step, right_rows, right_emission, li, ri)


def _assemble(acc: Joined, step: JoinStep, right_rows: np.ndarray,
              right_emission: np.ndarray | None, li: np.ndarray, ri: np.ndarray) -> Joined:
    """Matched pairs plus the unmatched rows an outer join keeps, in eKuiper's order."""
    nl, nr = acc.n, len(right_rows)
    none = np.zeros(0, dtype=np.int64)
    lonly = rone = none
    kind = step.kind
    if kind in (LEFT, FULL):
        hit = np.zeros(nl, dtype=bool)
        hit[li] = True
        lonly = np.flatnonzero(~hit)
    if kind in (RIGHT, FULL):
        hit = np.zeros(nr, dtype=bool)
        hit[ri] = True
        rone = np.flatnonzero(~hit)
    l_all = np.concatenate([li, lonly, np.full(len(rone), -1, dtype=np.int64)])
    r_all = np.concatenate([ri, np.full(len(lonly), -1, dtype=np.int64), rone])
    emit = np.concatenate([acc.emission[li], acc.emission[lonly],
                           (right_emission[rone] if right_emission is not None
                            else np.zeros(len(rone), dtype=np.int64))])
    if kind == RIGHT:  # right rows lead: by right row, then left row
        order = np.lexsort((l_all, r_all, emit))
    else:  # left rows lead; FULL appends the unmatched right rows after them
        part = (l_all < 0).astype(np.int64)
        order = np.lexsort((r_all, np.where(l_all < 0, r_all, l_all), part, emit))
    l_all, r_all, emit = l_all[order], r_all[order], emit[order]
    rows = {r: np.where(l_all >= 0, v[np.maximum(l_all, 0)] if len(v) else -1, -1)
            for r, v in acc.rows.items()}
    rows[step.ref] = np.where(r_all >= 0, right_rows[np.maximum(r_all, 0)] if nr else -1, -1)
    return Joined(rows, emit.astype(np.int64))


def bounds_of(emission: np.ndarray) -> np.ndarray:
    """Emission bounds of rows sorted by emission (empty emissions vanish)."""
    if not len(emission):
        return np.zeros(1, dtype=np.int64)
    change = np.flatnonzero(np.diff(emission)) + 1
    return np.concatenate([[0], change, [len(emission)]]).astype(np.int64)
