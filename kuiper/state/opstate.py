"""Operator state in checkpoints: a columnar encoding of batches and the snapshot blob codec.

An operator that holds state between batches (windows, analytic functions, join tables)
offers `snapshot_state() -> dict` and `restore_state(dict)`. Buffered rows go in as
`encode_batch(batch)`: one numpy array per column (values, validity, string dictionary), the
row timestamps, meta columns and emission bounds, never row dicts. `dumps`/`loads` turn the
per-operator dicts of one checkpoint into one blob (pickle protocol 5: numeric arrays are
their raw buffers). The blob is only read back by this code from the rule's local KV store.
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np

from kuiper.api.batch import Batch, Column

#: version of the snapshot layout; a blob of another version is not restored
FORMAT = 1


def encode_column(col: Column) -> tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]:
    return (col.kind, col.values, col.valid, col.dictionary)


def decode_column(data: tuple[str, np.ndarray, np.ndarray | None, np.ndarray | None]) -> Column:
    kind, values, valid, dictionary = data
    return Column(kind, values, valid, dictionary)


def encode_batch(batch: Batch | None) -> dict[str, Any] | None:
    """A batch as arrays: columns, timestamps, meta and emission bounds (None stays None)."""
    if batch is None:
        return None
    return {
        "n": batch.n,
        "columns": {k: encode_column(c) for k, c in batch.columns.items()},
        "timestamps": batch.timestamps,
        "meta": {k: encode_column(c) for k, c in batch.meta.items()},
        "bounds": batch.emission_bounds,
    }


def decode_batch(data: dict[str, Any] | None) -> Batch | None:
    if data is None:
        return None
    return Batch({k: decode_column(c) for k, c in data["columns"].items()}, int(data["n"]),
                 np.asarray(data["timestamps"], dtype=np.int64),
                 {k: decode_column(c) for k, c in data["meta"].items()}, data["bounds"])


def dumps(states: dict[str, Any]) -> bytes:
    """The operator states of one checkpoint (node name -> state dict) as one blob."""
    return pickle.dumps({"format": FORMAT, "nodes": states}, protocol=5)


def loads(blob: bytes | None) -> dict[str, Any]:
    """Node name -> state dict; empty for no blob. Raises ValueError on a foreign layout."""
    if not blob:
        return {}
    data = pickle.loads(blob)  # noqa: S301 - our own blob from the rule's local store
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("operator state of an unknown layout")
    return dict(data.get("nodes") or {})


def snapshot_nodes(nodes: list[tuple[str, Any]]) -> dict[str, Any]:
    """Each stateful object's `snapshot_state()`, by name (objects without one are skipped)."""
    out: dict[str, Any] = {}
    for name, obj in nodes:
        snap = getattr(obj, "snapshot_state", None)
        if callable(snap):
            state = snap()
            if state is not None:
                out[name] = state
    return out


def restore_nodes(nodes: list[tuple[str, Any]], states: dict[str, Any]) -> int:
    """`restore_state` every object whose name has a state; how many were restored."""
    done = 0
    for name, obj in nodes:
        state = states.get(name)
        restore = getattr(obj, "restore_state", None)
        if state is not None and callable(restore):
            restore(state)
            done += 1
    return done
