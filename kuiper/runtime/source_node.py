"""A source node: runs the connector, decodes what it emits and hands batches downstream.

Adaptive batching: the connector's emits land in a pending list; the hand-off loop takes
everything pending (up to `maxBatchSize` rows), decodes it with the stream's FORMAT into one
batch and puts it downstream. At a low rate each event is handed off alone as soon as it
arrives; while downstream is busy, emits accumulate and the next hand-off is a large batch.

Offsets (rule qos >= 1, `track_offsets`): each emit records the connector's `get_offset()` right
after it, and `offset` is the offset after the last item handed downstream. A checkpoint
`pause()`s the hand-off loop (the connector keeps emitting into the pending list), waits until
the rule has drained, saves `offset` with the state and `resume()`s; see `kuiper.state.checkpoint`.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kuiper.api.batch import Batch, Column, concat_batches, concat_columns
from kuiper.planner.physical import SourceSpec
from kuiper.runtime.channel import Channel, EndOfInput, ErrorMessage
from kuiper.runtime.clock import Clock
from kuiper.runtime.context import NodeContext, maybe_await
from kuiper.runtime.limits import blank_long_lines, oversized, size_error
from kuiper.runtime.metrics import NodeMetrics
from kuiper.runtime.node import Input, InputEnd
from kuiper.runtime.options import RuleOptions
from kuiper.runtime.schema import TYPE_MISMATCH, apply_defaults, column_defaults, rows_to_batch

log = logging.getLogger(__name__)

ROWS, PAYLOADS, LINES, BATCH, ERROR, EOF = "rows", "payloads", "lines", "batch", "error", "eof"
_MAX_LOGGED_ERRORS = 5  # per hand-off; the rest are counted
Deferred = list[tuple[int, str]]  # (row position in a decoded batch, error text for the sinks)


class SourceContext(NodeContext):
    """The Context a source connector emits through; every emit is non-blocking."""

    def __init__(self, node: SourceNode, rule_id: str, op_id: str, root: str) -> None:
        super().__init__(rule_id, op_id, 0, root)
        self._node = node

    def emit(self, message: Mapping[str, Any], meta: Mapping[str, Any] | None = None) -> None:
        self._node.push((ROWS, [message], [meta] if meta else None, 1))

    def emit_rows(
        self,
        messages: Sequence[Mapping[str, Any]],
        metas: Sequence[Mapping[str, Any] | None] | None = None,
    ) -> None:
        if messages:
            self._node.push((ROWS, list(messages), list(metas) if metas else None, len(messages)))

    def emit_bytes(self, payload: bytes, meta: Mapping[str, Any] | None = None) -> None:
        self._node.push((PAYLOADS, [payload], [meta] if meta else None, 1))

    def emit_payloads(
        self,
        payloads: Sequence[bytes],
        meta: Mapping[str, Column | Sequence[Any]] | None = None,
    ) -> None:
        if payloads:  # meta column-wise: a dict (row-wise metas are lists)
            cols = {k: v if isinstance(v, Column) else Column.from_values(v)
                    for k, v in meta.items()} if meta else None
            self._node.push((PAYLOADS, list(payloads), cols, len(payloads)))

    def emit_lines(self, chunk: bytes, meta: Mapping[str, Any] | None = None) -> None:
        if chunk:
            self._node.push((LINES, chunk, dict(meta) if meta else None,
                             chunk.count(b"\n") + (chunk[-1:] != b"\n")))

    def emit_batch(self, batch: Batch | Mapping[str, Column | Sequence[Any]]) -> None:
        if not isinstance(batch, Batch):
            cols = {
                k: v if isinstance(v, Column) else Column.from_values(list(v))
                for k, v in batch.items()
            }
            batch = Batch(cols, len(next(iter(cols.values()))) if cols else 0)
        if batch.n:
            self._node.push((BATCH, batch, None, batch.n))

    def emit_error(self, error: BaseException | str) -> None:
        self._node.push((ERROR, error, None, 0))

    def emit_eof(self, message: str = "") -> None:
        self._node.push((EOF, message, None, 0))

    def emit_threadsafe(
        self, message: Mapping[str, Any], meta: Mapping[str, Any] | None = None
    ) -> None:
        self.emit(message, meta)  # push() detects the calling thread

    async def drain(self) -> None:
        await self._node.wait_for_room()

    def has_room(self) -> bool:
        """Whether `drain()` would return at once (the engine takes more emits now)."""
        return self._node.has_room()


class SourceNode:
    """One stream's connector plus its decoder and the hand-off loop."""

    def __init__(
        self,
        spec: SourceSpec,
        source: Any,
        decoder: Any,
        *,
        rule_id: str,
        root: str,
        options: RuleOptions,
        clock: Clock,
        outputs: list[Channel],
        input_index: int | None = None,
    ) -> None:
        self.spec = spec
        # several inputs feed the first operator: batches go tagged with this input's index
        self.input_index = input_index
        self.is_table = spec.stream.is_table
        # a scan table's bounded source is read before the streams start (`loaded`), so the
        # first stream rows already see the table; tables never end a rule (`until`: the
        # operator the table feeds has finished)
        self.loaded = asyncio.Event()
        self.wait_for: list[asyncio.Event] = []
        self.until: asyncio.Event | None = None
        self.source = source
        self.decoder = decoder
        if hasattr(decoder, "max_depth"):  # JSON: the rule's maxJsonDepth
            decoder.max_depth = options.max_json_depth
        # qos >= 1: a source that acknowledges its input (MQTT) does so once it is taken
        self._handed_off = None
        if options.qos >= 1 and hasattr(source, "manual_ack"):
            source.manual_ack = True
            self._handed_off = source.handed_off
        self.options = options
        self.clock = clock
        self.outputs = outputs
        # who gets the batches: this node itself (its outputs, input_index and options), or
        # the rules subscribed to a shared source (`shared_source.SourceTap`s)
        self.taps: tuple[Any, ...] = (self,)
        self.closed = False
        self.metrics = NodeMetrics("source", spec.name, track_drops=options.drops_oldest)
        self.ctx = SourceContext(self, rule_id, spec.name, root)
        self._pending: deque[tuple[str, Any, Any, int]] = deque()
        self._pending_rows = 0
        self._high_water = max(options.max_batch_size, 1)
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._thread_room = threading.Event()
        self._thread_room.set()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._eof_seen = False
        self._stopping = False
        self._line_base = 0
        self._message_base = 0
        self.metrics.buffer_length_fn = lambda: self._pending_rows
        self._lenient = bool(getattr(source, "text_values", False))
        self._defaults = column_defaults(spec.stream, spec.fields)
        self._deferred: Deferred = []  # decode errors of the run being decoded (sendError)
        self.track_offsets = False  # set by the rule (qos >= 1) before the connector starts
        self.offset: Any = None  # the source offset after the last batch handed downstream
        self._gate = asyncio.Event()  # cleared while a checkpoint holds the hand-off loop
        self._gate.set()
        self._idle = asyncio.Event()  # set while no hand-off is in progress
        self._idle.set()

    # --- offsets (rewindable sources, qos >= 1) -----------------------------------------
    def rewind(self, offset: Any) -> None:
        """Rewind the connector (before it opens) to a checkpointed offset."""
        self.source.rewind(offset)
        self.offset = offset
        self._line_base = int(getattr(self.source, "lines_before", 0) or 0)

    def commit(self, offset: Any) -> None:
        """A checkpoint holding `offset` is saved: a source that acknowledges its input (MQTT
        with a persistent session) may now acknowledge what came up to it."""
        commit = getattr(self.source, "commit", None)
        if callable(commit):
            try:
                commit(offset)
            except Exception as exc:  # noqa: BLE001 - acknowledged at the next checkpoint
                self.report(f"source {self.spec.name} cannot acknowledge its input: {exc}")

    async def pause(self) -> None:
        """Hold the hand-off loop; returns once no hand-off is in progress."""
        self._gate.clear()
        await self._idle.wait()

    def resume(self) -> None:
        self._gate.set()

    # --- emission (called from the connector) -------------------------------------------
    def push(self, item: tuple[str, Any, Any, int]) -> None:
        if self.track_offsets:  # the offset right after this emit, from the emitting thread
            item = (*item, self.source.get_offset())  # type: ignore[assignment]
        if threading.get_ident() != self._loop_thread:
            self._loop.call_soon_threadsafe(self._push, item)
            while self._pending_rows >= 4 * self._high_water and not self._stopping:
                self._thread_room.clear()
                self._thread_room.wait(0.05)
            return
        self._push(item)

    def _push(self, item: tuple[str, Any, Any, int]) -> None:
        if self._eof_seen or self._stopping:
            return
        if item[0] == EOF:
            self._eof_seen = True
        self._pending.append(item)
        self._pending_rows += item[3]
        if self._pending_rows >= self._high_water:
            self._room.clear()
        self._wake.set()

    def has_room(self) -> bool:
        return self._pending_rows < self._high_water or self._stopping

    async def wait_for_room(self) -> None:
        while self._pending_rows >= self._high_water and not self._stopping:
            self._room.clear()
            await self._room.wait()

    def _took(self, rows: int) -> None:
        self._pending_rows -= rows
        if self._pending_rows < self._high_water:
            self._room.set()
            self._thread_room.set()

    # --- the connector ------------------------------------------------------------------
    async def run_connector(self) -> None:
        """open() the source; pull() it every `interval` seconds if it is a pull source.

        An `async def open` runs on the loop; a plain `open` of a push source blocks, so it
        runs in a thread; a pull source's plain `open` only connects and is called directly."""
        src, ctx = self.source, self.ctx
        interval = getattr(src, "interval", None)
        if not getattr(src, "bounded", False):
            self.loaded.set()
        for event in self.wait_for:
            await event.wait()
        try:
            if inspect.iscoroutinefunction(src.open) or interval:
                await maybe_await(src.open(ctx))
            else:
                await asyncio.to_thread(src.open, ctx)
            while interval and not self._eof_seen and not self._stopping:
                await maybe_await(src.pull(ctx))
                await self.ctx.drain()
                if not self._eof_seen:
                    await self.clock.sleep(float(interval))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failing connector is counted; the rule goes on
            self.loaded.set()
            self.report(f"source {self.spec.name} failed: {exc}")

    async def close(self) -> None:
        self._stopping = True
        self._thread_room.set()
        self._room.set()
        try:
            await maybe_await(self.source.close(self.ctx))
        except Exception as exc:
            self.report(f"source {self.spec.name} close failed: {exc}")

    # --- the hand-off loop --------------------------------------------------------------
    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self._idle.set()

    async def _run(self) -> None:
        max_rows = self.options.max_batch_size
        while True:
            while not self._pending:
                self._wake.clear()
                if self.until is None:
                    await self._wake.wait()
                    continue
                await _first_of(self._wake, self.until)
                if self.until.is_set() and not self._pending:
                    return
            if not self._gate.is_set():  # a checkpoint holds the source
                await self._gate.wait()
            self._idle.clear()
            taken: list[tuple[str, Any, Any, int]] = []
            rows = 0
            while self._pending and (rows < max_rows or not taken):
                item = self._pending.popleft()
                taken.append(item)
                rows += item[3]
                if item[0] in (ERROR, EOF):
                    break
            self._took(rows)
            if self.track_offsets and len(taken[-1]) > 4:
                self.offset = taken[-1][4]  # type: ignore[misc]
            self.metrics.invoked()
            for whole, deferred in self._decode(taken):
                for batch, error in _interleave(whole, deferred):
                    if error is not None:
                        self._forward_error(error)
                        continue
                    for start in range(0, batch.n, max_rows):
                        part = batch if batch.n <= max_rows else batch.slice(start, start + max_rows)
                        self.metrics.records_out_total += part.n
                        for tap in self.taps:
                            if not tap.closed:
                                await tap.deliver(part)
            if self._handed_off is not None:
                emits = sum(1 for it in taken if it[0] == PAYLOADS)
                if emits:
                    self._handed_off(emits)
            last = taken[-1]
            if last[0] == ERROR:
                self._error_item(last[1])
            elif last[0] == EOF:
                self.loaded.set()
                if self.is_table:
                    return  # a table's end ends nothing: the streams decide when a rule is done
                for tap in self.taps:
                    if not tap.closed:
                        await tap.end(str(last[1] or ""))
                return
            self._idle.set()

    # --- what this node's own rule gets (a shared source has `SourceTap`s instead) --------
    async def deliver(self, part: Batch) -> None:
        item: Any = part if self.input_index is None else Input(part, self.input_index)
        for ch in self.outputs:
            await ch.put(item)

    async def end(self, message: str) -> None:
        end = (EndOfInput(message) if self.input_index is None
               else InputEnd(message, self.input_index))
        for ch in self.outputs:
            ch.put_control(end)

    def forward_error(self, text: str) -> None:
        if self.options.send_error:
            for ch in self.outputs:
                ch.put_control(ErrorMessage(text))

    def _decode(self, items: list[tuple[str, Any, Any, int]]) -> list[tuple[Batch, Deferred]]:
        """Decode runs of same-kind items; one batch per hand-off where possible, each with the
        error messages (sendError) to send before its row at a position."""
        parts: list[Batch] = []
        deferred: Deferred = []
        i = 0
        while i < len(items):
            kind = items[i][0]
            j = i
            while j < len(items) and items[j][0] == kind and (
                    kind != LINES or items[j][2] == items[i][2]):  # lines of one origin
                j += 1
            run = items[i:j]
            i = j
            if kind in (ERROR, EOF):
                continue
            t0 = _now_ns()
            self._deferred = []
            batch = self._decode_run(kind, run)
            offset = sum(b.n for b in parts)
            deferred += [(offset + min(pos, batch.n if batch is not None else 0), text)
                         for pos, text in self._deferred]
            if batch is not None and batch.n:
                if self._defaults:
                    batch = apply_defaults(batch, self._defaults)
                batch.timestamps = np.full(batch.n, self.clock.now_ms(), dtype=np.int64)
                parts.append(batch)
            self.metrics.process_latency_us = (_now_ns() - t0) // 1000
        if len(parts) > 1:
            return [(concat_batches(parts), deferred)]
        if not parts:
            return [(Batch.empty(), deferred)] if deferred else []
        return [(parts[0], deferred)]

    def _decode_run(self, kind: str, run: list[tuple[str, Any, Any, int]]) -> Batch | None:
        try:
            if kind == BATCH:
                batch = concat_batches([it[1] for it in run])
                self.metrics.records_in_total += batch.n
                return batch
            if kind == ROWS:
                rows = [r for it in run for r in it[1]]
                metas = _merge_metas(run)
                batch, errors = rows_to_batch(
                    rows, self.spec.stream, self.spec.fields, metas=metas, lenient=self._lenient
                )
                base, what = self._message_base, "message"
                self._message_base += len(rows)
            elif kind == PAYLOADS:
                payloads = [p for it in run for p in it[1]]
                meta = _payload_meta(run)
                big = oversized(payloads, self.options.max_message_size)
                if big:
                    limit = self.options.max_message_size
                    too_big = [(i + 1, size_error(len(payloads[i]), limit)) for i in big]
                    payloads, meta, numbers = _without(payloads, meta, big)
                batch, errors = self.decoder.decode_payloads(payloads)
                if meta and batch.n != len(payloads):
                    # rows of the payloads that decoded, when each payload is one row or an error
                    failed = {num - 1 for num, _ in errors}
                    if batch.n + len(failed) == len(payloads):
                        keep = np.ones(len(payloads), dtype=np.bool_)
                        keep[[i for i in failed if 0 <= i < len(payloads)]] = False
                        meta = {k: c.filter(keep) for k, c in meta.items()}
                if meta and batch.n == len(next(iter(meta.values()))):
                    batch.meta = meta
                elif meta and len(payloads) == 1 and batch.n:  # one payload of many rows
                    only = {k: c.to_pylist()[0] for k, c in meta.items()}
                    batch.meta = {k: Column.constant(v, batch.n) for k, v in only.items()}
                if big:  # numbers in the run as it arrived, the oversized ones included
                    errors = sorted([(numbers[num - 1] if 0 < num <= len(numbers) else num, msg)
                                     for num, msg in errors] + too_big, key=lambda e: e[0])
                base, what = self._message_base, "message"
                self._message_base += len(payloads) + len(big)
            else:
                chunk, long = _blank_long_lines(run, self.options.max_message_size)
                batch, errors = self.decoder.decode_lines(chunk)
                if long:
                    limit = self.options.max_message_size
                    errors = sorted(errors + [(i + 1, size_error(n, limit)) for i, n in long],
                                    key=lambda e: e[0])
                if run[0][2] and batch.n:  # the rows' common metadata (the file source's file)
                    batch.meta = {k: Column.constant(v, batch.n) for k, v in run[0][2].items()}
                base, what = self._line_base, "line"
                self._line_base += sum(it[3] for it in run)
        except Exception as exc:
            self.report(f"cannot decode input of stream {self.spec.name}: {exc}")
            return None
        self.metrics.records_in_total += batch.n + len(errors)
        for k, (num, msg) in enumerate(errors):
            # sent before the row that followed the bad one (one row a line or message:
            # the good rows before it are the earlier numbers without an error)
            self._decode_error(f"{what} {base + num}: {msg}", logged=k < _MAX_LOGGED_ERRORS,
                               sent=f"error in preprocessor: {msg}" if TYPE_MISMATCH in msg
                               else None, position=max(0, num - 1 - k))
        if len(errors) > _MAX_LOGGED_ERRORS:
            log.warning("rule %s, stream %s: %d more decode errors not shown",
                        self.ctx.get_rule_id(), self.spec.name, len(errors) - _MAX_LOGGED_ERRORS)
        return batch

    def _decode_error(self, where_what: str, *, logged: bool, sent: str | None = None,
                      position: int | None = None) -> None:
        """Count and log a bad input; with sendError the sinks get `sent` (eKuiper's text, as
        "error in preprocessor: field x type mismatch: ...") or the logged text."""
        ds = self.spec.stream.datasource
        origin = f"stream {self.spec.name}" + (f" ({ds})" if ds else "")
        text = f"{origin}, {where_what}"
        self.metrics.exception(text)
        if logged:
            log.warning("rule %s: skipped bad input: %s; fix the data or the stream's "
                        "declared types (CREATE STREAM ...)", self.ctx.get_rule_id(), text)
        if position is not None and any(t.options.send_error for t in self.taps):
            self._deferred.append((position, sent or text))
        else:
            self._forward_error(sent or text)

    def _error_item(self, error: BaseException | str) -> None:
        self.report(str(error))

    def report(self, text: str) -> None:
        """Count, log and (with sendError) forward a recoverable source error."""
        self.metrics.exception(text)
        log.error("rule %s: %s", self.ctx.get_rule_id(), text)
        self._forward_error(text)

    def _forward_error(self, text: str) -> None:
        for tap in self.taps:
            if not tap.closed:
                tap.forward_error(text)


def _without(payloads: list[bytes], meta: dict[str, Column] | None, drop: list[int]
             ) -> tuple[list[bytes], dict[str, Column] | None, list[int]]:
    """The payloads (and their meta rows) but those at `drop`, and the 1-based number of each
    kept payload in the original list."""
    keep = np.ones(len(payloads), dtype=np.bool_)
    keep[drop] = False
    if meta:
        meta = {k: c.filter(keep) for k, c in meta.items()}
    numbers = [i + 1 for i in np.flatnonzero(keep).tolist()]
    return [payloads[i - 1] for i in numbers], meta, numbers


def _interleave(batch: Batch, deferred: Deferred) -> list[tuple[Batch, str | None]]:
    """The batch cut at the deferred errors' positions: (rows, None) and (empty, error) items."""
    if not deferred:
        return [(batch, None)]
    out: list[tuple[Batch, str | None]] = []
    start = 0
    for pos, text in sorted(deferred, key=lambda d: d[0]):
        pos = min(max(pos, start), batch.n)
        if pos > start:
            out.append((batch.slice(start, pos), None))
        out.append((batch, text))
        start = pos
    if start < batch.n:
        out.append((batch.slice(start, batch.n), None))
    return out


async def _first_of(*events: asyncio.Event) -> None:
    """Wait until one of the events is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _merge_metas(run: list[tuple[str, Any, Any, int]]) -> list[Any] | None:
    if not any(it[2] for it in run):
        return None
    out: list[Any] = []
    for it in run:
        out.extend(it[2] if it[2] else [None] * it[3])
    return out


def _payload_meta(run: list[tuple[str, Any, Any, int]]) -> dict[str, Column] | None:
    """The meta columns of a run of payloads: emit_payloads gives columns (a dict),
    emit_bytes a one-row list."""
    if not any(it[2] for it in run):
        return None
    first = run[0][2]
    if isinstance(first, dict) and all(
            isinstance(it[2], dict) and it[2].keys() == first.keys() for it in run):
        return {k: concat_columns([it[2][k] for it in run]) for k in first}
    rows: list[Any] = []
    for it in run:
        if isinstance(it[2], dict):
            rows.extend(Batch({}, it[3], meta=it[2]).meta_rows())
        else:
            rows.extend(it[2] if it[2] else [None] * it[3])
    return Batch.from_rows([{}] * len(rows), metas=rows).meta


def _blank_long_lines(run: list[Any], limit: int) -> tuple[bytes, list[tuple[int, int]]]:
    """The run's line chunks joined, lines over `limit` bytes blanked (with their 0-based line
    and size). Checked chunk by chunk: a chunk no longer than the limit holds no long line, so
    the usual 4 MB reads cost nothing here."""
    long: list[tuple[int, int]] = []
    parts: list[bytes] = []
    first_line = 0
    for it in run:
        part, found = blank_long_lines(it[1], limit)
        parts.append(part)
        long += [(first_line + i, size) for i, size in found]
        first_line += it[3]
    return (parts[0] if len(parts) == 1 else _join_lines(parts)), long


def _join_lines(chunks: list[bytes]) -> bytes:
    return b"".join(c if c.endswith(b"\n") else c + b"\n" for c in chunks)


def _now_ns() -> int:
    return time.perf_counter_ns()
