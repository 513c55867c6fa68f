"""Stream ⋈ lookup table: the table is queried by key, once per batch, never per row.

For each batch (a run of stream rows, or the rows of closed windows) the distinct key tuples
of the ON equi-keys are looked up in one call: `lookup_batch(ctx, fields, keys, values_list)`
when the connector offers it, else one `lookup(ctx, fields, keys, values)` per distinct key.
Either may be a coroutine (the operator node awaits it). The rows returned for a key belong to
that key (a Redis value need not hold its key field), the rest of ON filters the pairs, and
INNER or LEFT decides what unmatched stream rows give. Optional cache (the source conf's
`lookup: {cache, cacheTtl (s), cacheMissingKey}`).
"""
from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from kuiper._core import hashagg
from kuiper._core import join as jk
from kuiper.api.batch import Batch
from kuiper.catalog.defs import StreamDef
from kuiper.expr.nodes import EvalContext
from kuiper.operators.aggregate import emission_ids, factorize
from kuiper.operators.base import Operator
from kuiper.operators.join import JoinInput
from kuiper.operators.join_core import Joined, JoinStep, bounds_of, finish_pairs, gather, qualify

Key = tuple[Any, ...]


class LookupCache:
    """Rows by key tuple with a time to live; misses are cached when `cache_missing`."""

    def __init__(self, enabled: bool = False, ttl_s: float = 600.0, cache_missing: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.ttl_s = ttl_s
        self.cache_missing = cache_missing
        self.clock = clock
        self._rows: dict[Key, tuple[float, list[dict[str, Any]]]] = {}
        self.hits_total = 0

    def get(self, key: Key) -> list[dict[str, Any]] | None:
        if not self.enabled:
            return None
        hit = self._rows.get(key)
        if hit is None:
            return None
        if hit[0] < self.clock():
            del self._rows[key]
            return None
        self.hits_total += 1
        return hit[1]

    def put(self, key: Key, rows: list[dict[str, Any]]) -> None:
        if self.enabled and (rows or self.cache_missing):
            self._rows[key] = (self.clock() + self.ttl_s, rows)


def cache_from_conf(conf: dict[str, Any]) -> LookupCache:
    raw = conf.get("lookup") or {}
    if not isinstance(raw, dict):
        raw = {}
    return LookupCache(bool(raw.get("cache", False)), float(raw.get("cacheTtl", 600)),
                       bool(raw.get("cacheMissingKey", True)))


class LookupJoinOp(Operator):
    """`stream [INNER|LEFT] JOIN lookupTable ON stream.k = table.k [AND ...]`."""

    def __init__(self, name: str, step: JoinStep, table: StreamDef,
                 inputs: list[JoinInput] | None = None) -> None:
        self.name = name
        self.step = step
        self.lookup_table = table  # the runtime binds the connector (`bind`)
        self.inputs = inputs
        self.source: Any = None
        self.cache = LookupCache()
        self.ctx: Any = None
        self.lookup_calls_total = 0
        self.lookup_keys_total = 0

    # --- connector lifecycle (driven by the runtime) ------------------------------------
    def bind(self, source: Any, conf: dict[str, Any]) -> None:
        self.source = source
        self.cache = cache_from_conf(conf)

    def open(self, ctx: Any) -> Any:
        self.ctx = ctx
        opener = getattr(self.source, "open", None)
        return opener(ctx) if opener is not None else None

    def close(self, ctx: Any) -> Any:
        closer = getattr(self.source, "close", None)
        return closer(ctx) if closer is not None else None

    def metrics(self) -> dict[str, int]:
        return {"lookup_calls_total": self.lookup_calls_total,
                "lookup_keys_total": self.lookup_keys_total,
                "lookup_cache_hits_total": self.cache.hits_total}

    # --- joining ------------------------------------------------------------------------
    def process(self, batch: Batch, input_index: int = 0) -> Any:
        if self.inputs is not None:
            batch = qualify(batch, self.inputs[input_index].ref, input_index)
        if batch.n == 0:
            return None
        key_of_row, keys = self._distinct_keys(batch)
        found: dict[int, list[dict[str, Any]]] = {}
        missing: list[int] = []
        for d, key in enumerate(keys):
            rows = self.cache.get(key)
            if rows is None:
                missing.append(d)
            else:
                found[d] = rows
        if not missing:
            return self._join(batch, key_of_row, keys, found)
        answer = self._query([keys[d] for d in missing])
        if inspect.isawaitable(answer):
            return self._join_later(answer, batch, key_of_row, keys, found, missing)
        return self._join(batch, key_of_row, keys, self._store(found, keys, missing, answer))

    async def _join_later(self, answer: Any, batch: Batch, key_of_row: np.ndarray,
                          keys: list[Key], found: dict[int, list[dict[str, Any]]],
                          missing: list[int]) -> Batch | None:
        rows = await answer
        return self._join(batch, key_of_row, keys, self._store(found, keys, missing, rows))

    def _store(self, found: dict[int, list[dict[str, Any]]], keys: list[Key], missing: list[int],
               answer: list[list[dict[str, Any]]]) -> dict[int, list[dict[str, Any]]]:
        for d, rows in zip(missing, answer, strict=True):
            rows = [r for r in rows if isinstance(r, dict)]
            self.cache.put(keys[d], rows)
            found[d] = rows
        return found

    def _query(self, values: list[Key]) -> Any:
        """One call for all the keys (lookup_batch), or one lookup per key."""
        src, fields, names = self.source, [], self.step.right_key_fields
        if src is None:
            raise RuntimeError(f"lookup table {self.lookup_table.name} has no connector bound")
        self.lookup_calls_total += 1
        self.lookup_keys_total += len(values)
        batch_fn = getattr(src, "lookup_batch", None)
        if batch_fn is not None:
            return batch_fn(self.ctx, fields, names, [list(v) for v in values])
        answers = [src.lookup(self.ctx, fields, names, list(v)) for v in values]
        if any(inspect.isawaitable(a) for a in answers):
            return _gather(answers)
        return answers

    def _distinct_keys(self, batch: Batch) -> tuple[np.ndarray, list[Key]]:
        """Per row: the index of its key tuple among the distinct ones (-1: a null key)."""
        ec = EvalContext(batch)
        cols = [k.eval(ec) for k in self.step.left_keys]
        ids = None
        groups = 1
        valid = np.ones(batch.n, dtype=bool)
        for col in cols:
            kid, kn = factorize(col)
            if ids is None:
                ids, groups = kid.astype(np.int64, copy=False), kn
            else:
                ids, groups, _ = hashagg.combine_group_ids(ids, groups, kid, kn)
            valid &= col.validity()
        assert ids is not None
        uniq, first = np.unique(np.where(valid, ids, -1), return_index=True)
        keep = uniq >= 0
        uniq, first = uniq[keep], first[keep]
        lut = np.full(groups + 1, -1, dtype=np.int64)
        lut[uniq] = np.arange(len(uniq))
        key_of_row = np.where(valid, lut[ids], -1)
        values = [c.to_pylist() for c in cols]
        keys = [tuple(v[i] for v in values) for i in first.tolist()]
        return key_of_row, keys

    def _join(self, batch: Batch, key_of_row: np.ndarray, keys: list[Key],
              found: dict[int, list[dict[str, Any]]]) -> Batch | None:
        owners: list[int] = []
        rows: list[dict[str, Any]] = []
        for d in range(len(keys)):
            for r in found.get(d, ()):
                owners.append(d)
                rows.append(r)
        ref = self.step.ref
        right = qualify(Batch.from_rows(rows), ref, None)
        owner = np.array(owners, dtype=np.int64)
        emit, _ = emission_ids(batch)
        acc = Joined({"": np.arange(batch.n, dtype=np.int64)}, emit)
        if len(owner) and batch.n:
            li, ri = jk.hash_join_int64(key_of_row, owner, key_of_row >= 0, None)
        else:
            li = ri = np.zeros(0, dtype=np.int64)
        sources = {"": batch, ref: right}
        out = finish_pairs(acc, self.step, sources, np.arange(right.n, dtype=np.int64), None,
                           li, ri)
        if out.n == 0:
            return None
        result = gather(out, sources)
        result.emission_bounds = bounds_of(out.emission)
        return result


async def _gather(answers: list[Any]) -> list[Any]:
    out = []
    for a in answers:
        out.append(await a if inspect.isawaitable(a) else a)
    return out
