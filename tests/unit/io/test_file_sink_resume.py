"""The file sink at checkpoints: a restart truncates the file to the checkpoint's size when the
input is replayed, keeps it whole (and reopens a closed JSON array) when it is not."""
from __future__ import annotations

import json
from pathlib import Path

from kuiper.io.sinks.file import FileSink
from kuiper.runtime.context import NodeContext


def _sink(path: Path, file_type: str = "lines") -> tuple[FileSink, NodeContext]:
    sink = FileSink()
    sink.configure({"path": str(path), "fileType": file_type})
    return sink, NodeContext("r", "file_0", 0, str(path.parent))


def test_replayed_input_truncates_to_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "out.lines"
    sink, ctx = _sink(path)
    sink.open(ctx)
    sink.collect(ctx, b'{"a":1}')
    state = sink.snapshot_state()
    assert state is not None and state["size"] == len(b'{"a":1}\n')
    sink.collect(ctx, b'{"a":2}')  # after the checkpoint: produced again by the replay
    sink.close(ctx)
    again, ctx = _sink(path)
    again.restore_state(state)
    again.open(ctx)
    again.collect(ctx, b'{"a":2}')
    again.close(ctx)
    assert path.read_text() == '{"a":1}\n{"a":2}\n'


def test_input_not_replayed_keeps_the_file_and_reopens_the_json_array(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    sink, ctx = _sink(path, "json")
    sink.open(ctx)
    sink.collect(ctx, b'{"a":1}')
    state = sink.snapshot_state()
    assert state is not None
    sink.collect(ctx, b'{"a":2}')
    sink.close(ctx)
    again, ctx = _sink(path, "json")
    again.restore_state({**state, "keep_tail": True})
    again.open(ctx)
    again.collect(ctx, b'{"a":3}')
    again.close(ctx)
    assert json.loads(path.read_text()) == [{"a": 1}, {"a": 2}, {"a": 3}]
