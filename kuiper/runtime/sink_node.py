"""A sink node: turns result batches into messages (common sink properties) and delivers them.

Common properties handled here, as in eKuiper: sendSingle (one message per row instead of
one list per emission), omitIfEmpty, dataField, fields, format (the encoder for sinks that
take bytes), bufferLength (this sink's queue, in rows). With the rule option sendMetaToSink
the rows' meta of the emission being delivered is in `ctx.current_meta`.
"""
from __future__ import annotations

import inspect
import logging
import time
from dataclasses import dataclass
from typing import Any

from kuiper.api.batch import Batch
from kuiper.api.contract import Sink
from kuiper.errors import ConfigError
from kuiper.runtime.channel import Channel, EndOfInput, ErrorMessage
from kuiper.runtime.context import NodeContext, maybe_await
from kuiper.runtime.metrics import NodeMetrics
from kuiper.runtime.options import RuleOptions

log = logging.getLogger(__name__)

_COMMON = {"sendSingle", "omitIfEmpty", "dataField", "tableDataField", "fields", "format",
           "bufferLength", "dataTemplate", "concurrency", "excludeFields"}


@dataclass(frozen=True, slots=True)
class SinkProps:
    """The common sink properties of one action."""

    send_single: bool = False
    omit_if_empty: bool = False
    data_field: str = ""
    fields: tuple[str, ...] = ()
    exclude_fields: tuple[str, ...] = ()
    format: str = "json"
    buffer_length: int | None = None

    @classmethod
    def parse(cls, sink_type: str, props: dict[str, Any]) -> SinkProps:
        def flag(name: str) -> bool:
            v = props.get(name, False)
            if not isinstance(v, bool):
                raise ConfigError(f"sink {sink_type}: property '{name}' must be true or false")
            return v

        def names(name: str) -> tuple[str, ...]:
            v = props.get(name) or []
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(f"sink {sink_type}: property '{name}' must be a list of names")
            return tuple(v)

        if props.get("dataTemplate"):
            log.warning("sink %s: dataTemplate is not supported yet and is ignored", sink_type)
        buf = props.get("bufferLength")
        if buf is not None and (isinstance(buf, bool) or not isinstance(buf, int) or buf < 1):
            raise ConfigError(f"sink {sink_type}: property 'bufferLength' must be a positive integer")
        return cls(
            send_single=flag("sendSingle"),
            omit_if_empty=flag("omitIfEmpty"),
            data_field=str(props.get("dataField") or props.get("tableDataField") or ""),
            fields=names("fields"),
            exclude_fields=names("excludeFields"),
            format=str(props.get("format") or "json").lower(),
            buffer_length=buf,
        )


def _select(row: Any, fields: tuple[str, ...], exclude: tuple[str, ...]) -> Any:
    if not isinstance(row, dict):
        return row
    if fields:
        row = {k: row[k] for k in fields if k in row}
    if exclude:
        row = {k: v for k, v in row.items() if k not in exclude}
    return row


class SinkNode:
    """One action of a rule: `{type}_{index}` in metrics (`sink_log_0_0_records_in_total`)."""

    def __init__(
        self,
        index: int,
        sink_type: str,
        sink: Sink,
        props: SinkProps,
        inbox: Channel,
        *,
        upstreams: int,
        rule_id: str,
        root: str,
        options: RuleOptions,
        encoder: Any = None,
    ) -> None:
        self.name = f"{sink_type}_{index}"
        self.sink = sink
        self.props = props
        self.inbox = inbox
        self.upstreams = max(1, upstreams)
        self.rule_id = rule_id
        self.options = options
        self.encoder = encoder
        self.ctx = NodeContext(rule_id, self.name, 0, root)
        self.metrics = NodeMetrics("sink", self.name, track_drops=options.drops_oldest)
        self.metrics.buffer_length_fn = lambda: inbox.rows
        self._batch_path = type(sink).collect_batch is not Sink.collect_batch
        self._collect_async = inspect.iscoroutinefunction(sink.collect)
        self._bytes = bool(getattr(sink, "accepts_bytes", False))
        p = props
        self._transforms = bool(p.send_single or p.omit_if_empty or p.data_field or p.fields
                                or p.exclude_fields)

    async def open(self) -> None:
        try:
            await maybe_await(self.sink.open(self.ctx))
        except Exception as exc:
            self._failed(f"sink {self.name} cannot open: {exc}", exc)

    async def run(self) -> None:
        ended = 0
        while True:
            item = await self.inbox.get()
            if isinstance(item, Batch):
                await self.deliver(item)
            elif isinstance(item, ErrorMessage):
                self.metrics.records_in_total += 1
                await self._send({"error": item.error})
            elif isinstance(item, EndOfInput):
                ended += 1
                if ended >= self.upstreams:
                    return

    async def close(self) -> None:
        try:
            await maybe_await(self.sink.close(self.ctx))
        except Exception as exc:
            self._failed(f"sink {self.name} close failed: {exc}", exc)

    def _failed(self, text: str, exc: BaseException) -> None:
        self.metrics.exception(exc)
        log.error("rule %s: %s", self.rule_id, text)

    async def deliver(self, batch: Batch) -> None:
        emissions = batch.n if batch.emission_bounds is None else len(batch.emission_bounds) - 1
        self.metrics.records_in_total += emissions
        self.metrics.invoked()
        t0 = time.perf_counter_ns()
        if self._batch_path and not self.props.data_field:
            if self.props.fields:
                batch = batch.with_columns(
                    {k: batch.columns[k] for k in self.props.fields if k in batch.columns}
                )
            try:
                done = await maybe_await(self.sink.collect_batch(self.ctx, batch))
            except Exception as exc:
                self._failed(f"sink {self.name} failed: {exc}", exc)
                return
            if done is not NotImplemented:
                self.metrics.records_out_total += emissions
                self._latency(t0)
                return
        if self._bytes and self.encoder is not None:
            batch = self.encoder.prepare(batch)
        rows = batch.to_rows(send_nil_field=self.options.send_nil_field)
        if self.options.send_meta_to_sink:
            metas = batch.meta_rows()
            for start, stop in batch.emissions():
                self.ctx.current_meta = metas[start:stop]
                await self._send(rows[start:stop])
        elif batch.emission_bounds is None and not self._transforms:
            await self._deliver([[r] for r in rows])
        else:
            messages: list[Any] = []
            for start, stop in batch.emissions():
                messages += self._transform(rows[start:stop])
            await self._deliver(messages)
        self._latency(t0)

    def _encode(self, messages: list[Any]) -> list[bytes]:
        many = getattr(self.encoder, "encode_many", None)
        if many is not None:
            try:
                return many(messages)
            except Exception:  # noqa: S110 - find and count the bad message(s) below
                pass
        out = []
        for message in messages:
            try:
                out.append(self.encoder.encode(message))
            except Exception as exc:
                self._failed(f"sink {self.name} cannot encode a result: {exc}", exc)
        return out

    def _latency(self, t0: int) -> None:
        self.metrics.process_latency_us = (time.perf_counter_ns() - t0) // 1000

    def _transform(self, rows: list[dict[str, Any]]) -> list[Any]:
        """The messages of one emission after dataField/fields/sendSingle."""
        p = self.props
        data: Any = rows
        if p.data_field:
            data = rows[0].get(p.data_field) if rows else None
            if data is None:
                return []
        if p.fields or p.exclude_fields:
            if isinstance(data, list):
                data = [_select(r, p.fields, p.exclude_fields) for r in data]
            else:
                data = _select(data, p.fields, p.exclude_fields)
        if p.send_single and isinstance(data, list):
            return [r for r in data if not (p.omit_if_empty and not r)]
        if p.omit_if_empty and not data:
            return []
        return [data]

    async def _send(self, rows: list[dict[str, Any]] | dict[str, Any]) -> None:
        await self._deliver([rows] if isinstance(rows, dict) else self._transform(rows))

    async def _deliver(self, messages: list[Any]) -> None:
        """Encode (bytes sinks: `encode_many` when the encoder has it) and collect each message;
        a message that fails is counted and the others go on."""
        if self._bytes and self.encoder is not None:
            messages = self._encode(messages)
        collect, ctx = self.sink.collect, self.ctx
        delivered = 0
        for message in messages:
            try:
                result = collect(ctx, message)
                if result is not None and (self._collect_async or inspect.isawaitable(result)):
                    await result
            except Exception as exc:
                self._failed(f"sink {self.name} failed to deliver: {exc}", exc)
                continue
            delivered += 1
        self.metrics.records_out_total += delivered
