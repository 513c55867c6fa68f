"""The file source's offsets: the next unread byte/line after each emit, and `rewind` to it."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kuiper.io.sources import file as file_source
from kuiper.io.sources.file import FileSource


class Ctx:
    """Records each emit and, like the engine at qos >= 1, the offset right after it."""

    def __init__(self, src: FileSource, root: Path) -> None:
        self.src, self.root = src, root
        self.emits: list[tuple[list[bytes], dict[str, Any]]] = []

    def get_root_path(self) -> str:
        return str(self.root)

    def emit_lines(self, chunk: bytes, meta: Any = None) -> None:
        self.emits.append(([ln for ln in chunk.split(b"\n") if ln.strip()],
                           self.src.get_offset()))

    def emit_bytes(self, payload: bytes, meta: Any = None) -> None:
        self.emits.append(([payload], self.src.get_offset()))

    def emit_rows(self, rows: list[Any], metas: Any = None) -> None:
        self.emits.append((rows, self.src.get_offset()))

    def emit(self, row: Any, meta: Any = None) -> None:
        self.emit_rows([row])

    def emit_error(self, exc: Any) -> None:
        raise AssertionError(exc)

    def emit_eof(self) -> None:
        pass

    async def drain(self) -> None:
        pass


def _read(root: Path, conf: dict[str, Any], offset: Any = None,
          datasource: str = "in.jsonl") -> Ctx:
    src = FileSource()
    src.configure(datasource, {"path": ".", **conf})
    if offset is not None:
        src.rewind(offset)
    ctx = Ctx(src, root)
    asyncio.run(src.open(ctx))
    return ctx


def _lines(ctx: Ctx) -> list[int]:
    return [json.loads(x)["i"] for chunk, _ in ctx.emits for x in chunk]


def _write(path: Path, n: int, *, blank_every: int = 0, trailing_newline: bool = True) -> None:
    rows = []
    for i in range(n):
        if blank_every and i % blank_every == 0:
            rows.append("")
        rows.append(json.dumps({"i": i, "pad": "p" * (i % 5)}))
    path.write_text("\n".join(rows) + ("\n" if trailing_newline else ""))


@pytest.mark.parametrize("conf", [
    {"fileType": "lines"},                     # the fast path (small chunks here)
    {"fileType": "lines", "sendInterval": 1},  # one line per emit
    {"fileType": "json"},                      # a JSON-lines file read as lines
    {"fileType": "json", "sendInterval": 1},
], ids=["lines", "lines-send", "jsonl", "jsonl-send"])
@pytest.mark.parametrize("trailing", [True, False], ids=["nl", "no-nl"])
def test_rewind_to_every_offset_resumes_after_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 conf: dict[str, Any], trailing: bool) -> None:
    monkeypatch.setattr(file_source, "CHUNK_BYTES", 97)
    path = tmp_path / "in.jsonl"
    _write(path, 30, blank_every=7, trailing_newline=trailing)
    full = _read(tmp_path, conf)
    assert _lines(full) == list(range(30))
    assert len(full.emits) > 3 or conf == {"fileType": "json"}  # jsonl: one chunk
    text = path.read_bytes()
    seen = 0
    for chunk, offset in full.emits:
        seen += len(chunk)
        assert offset["file"] == str(path)
        # the offset is just past the rows emitted so far, at a line start
        assert offset["pos"] == len(text) or text[offset["pos"] - 1:offset["pos"]] == b"\n"
        assert text[:offset["pos"]].count(b'"i"') == seen
        if offset["line"] is not None:  # the file's line count up to there
            assert offset["line"] == len(text[:offset["pos"]].splitlines())
        resumed = _read(tmp_path, conf, offset)
        assert _lines(resumed) == list(range(seen, 30))
    assert full.emits[-1][1]["pos"] == len(text)


def test_fast_path_line_numbers_continue_after_a_rewind(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_source, "CHUNK_BYTES", 64)
    _write(tmp_path / "in.jsonl", 30)
    first = _read(tmp_path, {"fileType": "lines"})
    middle = first.emits[len(first.emits) // 2][1]
    src = FileSource()
    src.configure("in.jsonl", {"fileType": "lines", "path": "."})
    src.rewind(middle)
    assert src.lines_before == middle["line"] > 0
    again = _read(tmp_path, {"fileType": "lines"}, middle)
    assert again.emits[-1][1]["line"] == 30


def test_rewind_across_files_and_replaced_files(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    for k, name in enumerate(("a.jsonl", "b.jsonl", "c.jsonl")):
        (folder / name).write_text("".join(json.dumps({"i": k * 10 + j}) + "\n" for j in range(3)))
    conf = {"fileType": "lines", "sendInterval": 1}
    whole = _read(tmp_path, conf, datasource=str(folder))
    assert _lines(whole) == [0, 1, 2, 10, 11, 12, 20, 21, 22]
    at_b = whole.emits[4][1]  # after row 11, in b.jsonl
    assert at_b["file"].endswith("b.jsonl")
    assert _lines(_read(tmp_path, conf, at_b, datasource=str(folder))) == [12, 20, 21, 22]
    # b.jsonl is now shorter than the offset: a new file, read from its start
    (folder / "b.jsonl").write_text(json.dumps({"i": 99}) + "\n")
    assert _lines(_read(tmp_path, conf, at_b, datasource=str(folder))) == [99, 20, 21, 22]
    # the checkpointed file is gone: the files after it are read
    (folder / "b.jsonl").unlink()
    assert _lines(_read(tmp_path, conf, at_b, datasource=str(folder))) == [20, 21, 22]


def test_whole_file_types_are_all_or_nothing(tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text(json.dumps([{"i": 0}, {"i": 1}]))
    (tmp_path / "in.csv").write_text("i\n0\n1\n")
    for name, conf in (("in.json", {"fileType": "json"}),
                       ("in.json", {"fileType": "json", "sendInterval": 1}),
                       ("in.csv", {"fileType": "csv", "hasHeader": True})):
        whole = _read(tmp_path, conf, datasource=name)
        size = (tmp_path / name).stat().st_size
        assert whole.emits[-1][1]["pos"] == size
        assert all(off["pos"] == 0 for _, off in whole.emits[:-1])
        assert _read(tmp_path, conf, whole.emits[-1][1], datasource=name).emits == []
        assert len(_read(tmp_path, conf, {"file": "", "pos": 0}, datasource=name).emits) == \
            len(whole.emits)


def test_ignore_lines_apply_from_the_start_only(tmp_path: Path) -> None:
    _write(tmp_path / "in.jsonl", 10)
    conf = {"fileType": "lines", "sendInterval": 1, "ignoreStartLines": 2, "ignoreEndLines": 1}
    whole = _read(tmp_path, conf)
    assert _lines(whole) == list(range(2, 9))
    assert _lines(_read(tmp_path, conf, whole.emits[2][1])) == list(range(5, 9))


def test_bad_offsets_are_refused() -> None:
    src = FileSource()
    src.configure("x", {"fileType": "lines"})
    with pytest.raises(Exception, match="bad offset"):
        src.rewind({"file": "x"})
